import Foundation
import MCP
import ParleyCore

// Parley's `JSONValue` <-> the MCP SDK's `Value` (MCP 0.12.1, Sources/MCP/Base/Value.swift):
//
//   public enum Value: Hashable, Sendable {
//       case null, bool(Bool), int(Int), double(Double), string(String)
//       case data(mimeType: String? = nil, Data)      // decoded from "data:...;base64," strings
//       case array([Value]), object([String: Value])
//   }
//
// Two differences matter: MCP keeps integers apart from doubles (so "task_id": 3 must become
// `.int(3)`, not `.double(3.0)`, or it is sent as `3.0`), and MCP decodes any string that looks
// like a data URL into `.data` (turned back into the same data-URL string here).
// This file must not import Hummingbird: `Value` is also a Hummingbird name.

extension JSONValue {
    /// The value as an MCP `Value`; whole numbers become `.int` (same rule as `JSONValue.encode`).
    public var mcpValue: MCP.Value {
        switch self {
        case .null: return .null
        case .bool(let value): return .bool(value)
        case .number(let value):
            if value.rounded() == value, abs(value) < 1e15 { return .int(Int(value)) }
            return .double(value)
        case .string(let value): return .string(value)
        case .array(let values): return .array(values.map(\.mcpValue))
        case .object(let members): return .object(members.mapValues(\.mcpValue))
        }
    }

    /// An MCP `Value` as a `JSONValue`.
    public init(mcpValue value: MCP.Value) {
        switch value {
        case .null: self = .null
        case .bool(let flag): self = .bool(flag)
        case .int(let number): self = .number(Double(number))
        case .double(let number): self = .number(number)
        case .string(let text): self = .string(text)
        case .data(let mimeType, let bytes):
            // `Data.dataURLEncoded(mimeType:)` is public in MCP (Extensions/Data+Extensions.swift).
            self = .string(bytes.dataURLEncoded(mimeType: mimeType))
        case .array(let values): self = .array(values.map(JSONValue.init(mcpValue:)))
        case .object(let members): self = .object(members.mapValues(JSONValue.init(mcpValue:)))
        }
    }

    /// Tool arguments in the shape `CallTool.Parameters.arguments` takes (`[String: Value]?`):
    /// an object's members, `nil` for anything else (MCP arguments are always an object).
    public var mcpArguments: [String: MCP.Value]? {
        objectValue?.mapValues(\.mcpValue)
    }

    /// Compact JSON text (sorted keys), as a tool result's text content carries it.
    public var jsonText: String {
        guard let data = try? mcpTextEncoder.encode(self) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Parses JSON text; `nil` when it is not JSON.
    public init?(jsonText: String) {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(jsonText.utf8)) else { return nil }
        self = value
    }
}

/// Made once: every tool result is encoded with it.
private let mcpTextEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return encoder
}()
