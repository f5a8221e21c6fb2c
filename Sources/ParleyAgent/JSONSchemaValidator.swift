import Foundation
import ParleyCore

/// Checks arguments against the small subset of JSON Schema our tools use (object, string,
/// integer, boolean, enum, required, additionalProperties, length and minimum), so that a
/// malformed call is refused with a reason before any tool runs.
public enum JSONSchemaValidator {
    /// The first problem found, as "field: reason", or `nil` when the value is valid.
    public static func problem(with value: JSONValue, against schema: JSONValue, path: String = "") -> String? {
        let label = path.isEmpty ? "arguments" : path
        switch schema["type"]?.stringValue {
        case "object":
            guard let object = value.objectValue else { return "\(label): must be an object" }
            let properties = schema["properties"]?.objectValue ?? [:]
            for required in schema["required"]?.arrayValue ?? [] {
                if let name = required.stringValue, object[name] == nil || object[name] == .null {
                    return "\(join(path, name)): is required"
                }
            }
            if schema["additionalProperties"] == .bool(false) {
                if let unknown = object.keys.sorted().first(where: { properties[$0] == nil }) {
                    return "\(join(path, unknown)): is not a known argument"
                }
            }
            for (name, propertySchema) in properties.sorted(by: { $0.key < $1.key }) {
                guard let propertyValue = object[name], propertyValue != .null else { continue }
                if let problem = problem(with: propertyValue, against: propertySchema, path: join(path, name)) {
                    return problem
                }
            }
        case "string":
            guard let string = value.stringValue else { return "\(label): must be a string" }
            if let min = schema["minLength"]?.intValue, string.trimmingCharacters(in: .whitespacesAndNewlines).count < min {
                return "\(label): must not be empty"
            }
            if let max = schema["maxLength"]?.intValue, string.count > max {
                return "\(label): must be at most \(max) characters"
            }
        case "integer":
            guard case .number(let number) = value, number.rounded() == number else { return "\(label): must be an integer" }
            if let minimum = schema["minimum"]?.numberValue, number < minimum {
                return "\(label): must be at least \(Int(minimum))"
            }
        case "boolean":
            guard value.boolValue != nil else { return "\(label): must be true or false" }
        default:
            break
        }
        if let allowed = schema["enum"]?.arrayValue, !allowed.contains(value) {
            let names = allowed.compactMap(\.stringValue).joined(separator: ", ")
            return "\(label): must be one of \(names)"
        }
        return nil
    }

    private static func join(_ path: String, _ name: String) -> String {
        path.isEmpty ? name : "\(path).\(name)"
    }
}
