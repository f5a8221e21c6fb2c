import ParleyCore

/// The body of a chat-completions request, written byte by byte. It is sent on every model call
/// and holds the whole context (system prompt, twenty messages, the tools), and `JSONEncoder`
/// spent about a tenth of a turn's CPU on it through `Encodable`'s generic containers.
/// The tools' JSON is made once per distinct list by the client and spliced in as it is.
enum ChatCompletionsJSON {
    static func body(model: String, request: ChatRequest, stream: Bool, tools: [UInt8]?) -> [UInt8] {
        var out = JSONBytes(capacity: 1024 + (tools?.count ?? 0) + request.messages.reduce(0) { $0 + ($1.content?.utf8.count ?? 0) + 48 })
        out.raw("{\"model\":")
        out.string(model)
        out.raw(",\"stream\":")
        out.raw(stream ? "true" : "false")
        if stream { out.raw(",\"stream_options\":{\"include_usage\":true}") }
        if let maxTokens = request.maxTokens {
            out.raw(",\"max_tokens\":")
            out.raw(String(maxTokens))
        }
        if let temperature = request.temperature {
            out.raw(",\"temperature\":")
            out.value(.number(temperature))
        }
        out.raw(",\"messages\":[")
        for (index, message) in request.messages.enumerated() {
            if index > 0 { out.byte(UInt8(ascii: ",")) }
            out.message(message)
        }
        out.byte(UInt8(ascii: "]"))
        if let tools {
            if let choice = request.toolChoice {
                out.raw(",\"tool_choice\":")
                out.value(choice.json)
            }
            out.raw(",\"tools\":")
            out.bytes.append(contentsOf: tools)
        }
        out.byte(UInt8(ascii: "}"))
        return out.bytes
    }
}

/// JSON text appended to a byte array.
struct JSONBytes {
    var bytes: [UInt8] = []

    init(capacity: Int) {
        bytes.reserveCapacity(capacity)
    }

    mutating func byte(_ byte: UInt8) { bytes.append(byte) }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }

    mutating func message(_ message: ChatMessage) {
        raw("{\"role\":\"")
        raw(message.role.rawValue)
        // An assistant message that only calls tools carries `content: null`, as OpenAI sends it.
        raw("\",\"content\":")
        if let content = message.content { string(content) } else { raw("null") }
        if let calls = message.toolCalls, !calls.isEmpty {
            raw(",\"tool_calls\":[")
            for (index, call) in calls.enumerated() {
                if index > 0 { byte(UInt8(ascii: ",")) }
                raw("{\"id\":")
                string(call.id)
                raw(",\"type\":")
                string(call.type)
                raw(",\"function\":{\"name\":")
                string(call.function.name)
                raw(",\"arguments\":")
                string(call.function.arguments)
                raw("}}")
            }
            byte(UInt8(ascii: "]"))
        }
        if let callID = message.toolCallID {
            raw(",\"tool_call_id\":")
            string(callID)
        }
        byte(UInt8(ascii: "}"))
    }

    mutating func value(_ value: JSONValue) {
        switch value {
        case .null: raw("null")
        case .bool(let flag): raw(flag ? "true" : "false")
        case .number(let number):
            if number.rounded() == number, abs(number) < 1e15 {
                raw(String(Int64(number)))
            } else if number.isFinite {
                raw(String(number))
            } else {
                raw("null")  // JSON has no NaN or infinity
            }
        case .string(let text): string(text)
        case .array(let items):
            byte(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { byte(UInt8(ascii: ",")) }
                self.value(item)
            }
            byte(UInt8(ascii: "]"))
        case .object(let members):
            byte(UInt8(ascii: "{"))
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { byte(UInt8(ascii: ",")) }
                string(key)
                byte(UInt8(ascii: ":"))
                self.value(members[key]!)
            }
            byte(UInt8(ascii: "}"))
        }
    }

    /// A JSON string: `"` and `\` escaped, control characters as `\n`, `\t`… or `\u00XX`; the rest
    /// as UTF-8, which JSON allows as it is.
    mutating func string(_ text: String) {
        byte(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { utf8 in
            var start = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                start = index + 1
                switch byte {
                case UInt8(ascii: "\""): raw("\\\"")
                case UInt8(ascii: "\\"): raw("\\\\")
                case UInt8(ascii: "\n"): raw("\\n")
                case UInt8(ascii: "\r"): raw("\\r")
                case UInt8(ascii: "\t"): raw("\\t")
                case 0x08: raw("\\b")
                case 0x0C: raw("\\f")
                default:
                    let hex: StaticString = "0123456789abcdef"
                    raw("\\u00")
                    bytes.append(hex.utf8Start[Int(byte >> 4)])
                    bytes.append(hex.utf8Start[Int(byte & 0x0F)])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<utf8.count]))
        }
        byte(UInt8(ascii: "\""))
    }
}
