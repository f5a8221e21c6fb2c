import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ParleyCore
import Tracing

extension Request {
    /// Reads and decodes a JSON body, naming the field at fault when it does not fit `type`.
    func decodeJSON<T: Decodable>(_ type: T.Type, context: ParleyRequestContext) async throws -> T {
        let buffer = try await body.collect(upTo: context.maxUploadSize)
        guard buffer.readableBytes > 0 else { throw HTTPProblem.malformed("a JSON request body is required") }
        let data = Data(buffer.readableBytesView)
        // No text Parley stores may hold U+0000: PostgreSQL refuses it and SQLite would cut the
        // text there (an audit detail so cut no longer matches its hash). Refused before anything.
        if Self.hasEscapedNUL(data) { throw Self.nulProblem(in: data) }
        do {
            return try JSONCoding.decoder.decode(T.self, from: data)
        } catch let error as DecodingError {
            throw Self.problem(for: error, in: data)
        }
    }

    /// Whether the JSON text has a `\u0000` escape (not an escaped backslash followed by "u0000").
    static func hasEscapedNUL(_ data: Data) -> Bool {
        let bytes = [UInt8](data)
        var index = 0
        while index + 5 < bytes.count {
            if bytes[index] == UInt8(ascii: "\\") {
                if bytes[index + 1] == UInt8(ascii: "u"), bytes[index + 2...index + 5].elementsEqual("0000".utf8) { return true }
                index += 2  // an escape: the next byte is never the start of another
                continue
            }
            index += 1
        }
        return false
    }

    /// The problem for a body with U+0000, naming the member that holds it when the body is JSON.
    static func nulProblem(in data: Data) -> HTTPProblem {
        func path(of value: JSONValue, _ prefix: String) -> String? {
            switch value {
            case .string(let text): return text.unicodeScalars.contains("\0") ? prefix : nil
            case .array(let items):
                for (index, item) in items.enumerated() {
                    if let found = path(of: item, prefix.isEmpty ? "\(index)" : "\(prefix).\(index)") { return found }
                }
                return nil
            case .object(let members):
                for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                    if key.unicodeScalars.contains("\0") { return prefix.isEmpty ? key : "\(prefix).\(key)" }
                    if let found = path(of: member, prefix.isEmpty ? key : "\(prefix).\(key)") { return found }
                }
                return nil
            default: return nil
            }
        }
        // A string at the top level has no member name: the body itself is at fault.
        let field = (try? JSONCoding.decoder.decode(JSONValue.self, from: data)).flatMap { path(of: $0, "") }.flatMap {
            $0.isEmpty ? nil : $0
        }
        return .malformed((field.map { "\($0) " } ?? "the request body ") + TaskService.noNUL, field: field)
    }

    static func problem(for error: DecodingError, in data: Data) -> HTTPProblem {
        func path(_ codingPath: [any CodingKey], _ last: (any CodingKey)? = nil) -> String {
            (codingPath + (last.map { [$0] } ?? [])).map { $0.intValue.map(String.init) ?? $0.stringValue }
                .joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath, key)
            return .malformed("\(field) is required", field: field)
        case .typeMismatch(let type, let context):
            let field = path(context.codingPath)
            if field.isEmpty { return .malformed("the request body must be \(describe(type))") }
            return .malformed("\(field) must be \(describe(type))", field: field)
        case .valueNotFound(let type, let context):
            let field = path(context.codingPath)
            if field.isEmpty { return .malformed("the request body must be \(describe(type)), not null") }
            return .malformed("\(field) must be \(describe(type)), not null", field: field)
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            if field.isEmpty {
                // Foundation reports a number that does not fit an integer member (1.5, 1e30) as
                // "not valid JSON" without a path: when the text is JSON, name the member ourselves.
                if let body = try? JSONCoding.decoder.decode(JSONValue.self, from: data) {
                    if let member = nonInteger(in: body) {
                        return .malformed("\(member) must be a whole number from -2^53 to 2^53", field: member)
                    }
                    return .malformed("the request body has a value of the wrong kind")
                }
                return .malformed("the request body is not valid JSON")
            }
            return .malformed("\(field) has an invalid value", field: field)
        @unknown default:
            return .malformed("the request body could not be read")
        }
    }

    /// The first member (dotted path) holding a number that is not a whole number an integer
    /// member can take exactly (Parley's request bodies have no fractional members).
    static func nonInteger(in value: JSONValue, _ prefix: String = "") -> String? {
        switch value {
        case .number(let number):
            return number.rounded() == number && abs(number) <= 9_007_199_254_740_992 ? nil : (prefix.isEmpty ? nil : prefix)
        case .array(let items):
            for (index, item) in items.enumerated() {
                if let found = nonInteger(in: item, prefix.isEmpty ? "\(index)" : "\(prefix).\(index)") { return found }
            }
            return nil
        case .object(let members):
            for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                if let found = nonInteger(in: member, prefix.isEmpty ? key : "\(prefix).\(key)") { return found }
            }
            return nil
        case .null, .bool, .string:
            return nil
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type: return "an integer"
        case is Bool.Type: return "true or false"
        case is Double.Type: return "a number"
        default:
            // The decoder names the container it expected (`Dictionary<String, Any>`): say it in JSON's words.
            let name = String(describing: type)
            return name.hasPrefix("Dictionary") ? "a JSON object" : name.hasPrefix("Array") ? "a JSON array" : "of another type"
        }
    }

    /// A query parameter as a positive integer within `range`, or nil when absent.
    func intQuery(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let raw = uri.queryParameters[name[...]].map(String.init), !raw.isEmpty else { return nil }
        guard let value = Int(raw), range.contains(value) else {
            throw HTTPProblem.malformed("\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)", field: name)
        }
        return value
    }
}

extension Parameters {
    /// A path id: a positive integer, or 404 (an id that cannot exist is not found, not malformed).
    func id(_ name: String, what: String) throws -> Int {
        guard let raw = get(name), let value = Int(raw), value > 0 else { throw ParleyError.notFound(what) }
        return value
    }
}

/// Encodes a value as a JSON response.
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
    let data = try JSONCoding.encoder.encode(value)
    return Response(
        status: status, headers: [.contentType: "application/json"],
        body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

/// A Server-Sent Events response whose frames `produce` yields. A client that goes away does not
/// stop `produce`: the turn it runs is finished and stored; only the writing stops.
func eventStream(_ produce: @escaping @Sendable (AsyncStream<ByteBuffer>.Continuation) async -> Void) -> Response {
    let (frames, output) = AsyncStream<ByteBuffer>.makeStream()
    // The body is written after the handler has returned, outside the request's span: the turn
    // runs in the request's trace context all the same.
    let trace = InstrumentationContext.current
    let body = ResponseBody { writer in
        // A comment first, so the response head goes out now rather than with the first event
        // (which may wait seconds for a model): clients and proxies see the stream has begun.
        var connected = (try? await writer.write(ByteBuffer(string: ": stream open\n\n"))) != nil
        async let finished: Void = {
            await InstrumentationContext.$current.withValue(trace) { await produce(output) }
            output.finish()
        }()
        for await frame in frames where connected {
            do { try await writer.write(frame) } catch { connected = false }
        }
        await finished
        if connected { try await writer.finish(nil) }
    }
    return Response(
        status: .ok,
        headers: [.contentType: "text/event-stream", .cacheControl: "no-store", HTTPField.Name("X-Accel-Buffering")!: "no"],
        body: body)
}
