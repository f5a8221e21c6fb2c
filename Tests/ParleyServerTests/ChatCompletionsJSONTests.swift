import Foundation
import ParleyCore
import Testing

@testable import ParleyModels

/// The request body is written by hand (`ChatCompletionsJSON`); it must say exactly what
/// `JSONEncoder` would, for every kind of text a conversation can hold.
@Suite("Chat-completions request body")
struct ChatCompletionsJSONTests {
    static let awkward = [
        "plain", "", "quote \" and backslash \\ and slash /", "lines\nand\r\ntabs\there", "controls \u{0}\u{1}\u{8}\u{c}\u{1f}\u{7f}",
        "unicode: café, 東京, emoji 🥛🧑‍🍳, combining e\u{301}", "json inside {\"a\": [1, 2]}", "\\u0041 is not an escape here",
    ]

    func object(_ bytes: [UInt8]) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? NSDictionary)
    }

    @Test(arguments: awkward)
    func messagesReadBackAsJSONEncoderWritesThem(_ text: String) throws {
        let messages: [ChatMessage] = [
            .system(text), .user(text), .assistant(text),
            ChatMessage(role: .assistant, content: nil, toolCalls: [ToolCall(id: "call_\(text)", name: "add_task", arguments: "{\"title\":\"\(text.count)\"}")]),
            .tool(text, callID: "call_\(text)"),
        ]
        let body = try object(ChatCompletionsJSON.body(model: "m-\(text)", request: ChatRequest(messages: messages), stream: false, tools: nil))
        let expected = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(messages)) as? NSArray)
        #expect(body["messages"] as? NSArray == expected)
        #expect(body["model"] as? String == "m-\(text)")
        // The decoded strings are the originals, byte for byte.
        let decoded = try JSONDecoder().decode(Mirror.self, from: Data(ChatCompletionsJSON.body(
            model: "m", request: ChatRequest(messages: messages), stream: false, tools: nil)))
        #expect(decoded.messages.map(\.content) == [text, text, text, nil, text])
        #expect(decoded.messages[3].tool_calls?.first?.id == "call_\(text)")
    }

    struct Mirror: Decodable {
        struct Message: Decodable {
            var content: String?
            var tool_calls: [ToolCall]?
        }
        var messages: [Message]
    }

    @Test func optionsToolsAndToolChoice() throws {
        let tools = Array(#"[{"type":"function","function":{"name":"add_task"}}]"#.utf8)
        let request = ChatRequest(
            messages: [.user("hi")], tools: [ToolSpec(name: "add_task", description: "d", parameters: ["type": "object"])],
            toolChoice: .function("add_task"), maxTokens: 256, temperature: 0.2)
        let streamed = try object(ChatCompletionsJSON.body(model: "gpt", request: request, stream: true, tools: tools))
        #expect(streamed["stream"] as? Bool == true)
        #expect((streamed["stream_options"] as? NSDictionary)?["include_usage"] as? Bool == true)
        #expect(streamed["max_tokens"] as? Int == 256)
        #expect(streamed["temperature"] as? Double == 0.2)
        #expect(streamed["tools"] as? NSArray == (try JSONSerialization.jsonObject(with: Data(tools)) as? NSArray))
        let choice = try #require(streamed["tool_choice"] as? NSDictionary)
        #expect((choice["function"] as? NSDictionary)?["name"] as? String == "add_task")

        // Without tools there is no tool_choice either; without options, none of their keys.
        let plain = try object(ChatCompletionsJSON.body(model: "gpt", request: ChatRequest(messages: [.user("hi")], toolChoice: .auto), stream: false, tools: nil))
        #expect(Set(plain.allKeys.compactMap { $0 as? String }) == ["model", "stream", "messages"])
        #expect(plain["stream"] as? Bool == false)
    }

    @Test func jsonValuesKeepIntegersWhole() {
        var out = JSONBytes(capacity: 64)
        out.value(["n": 3, "x": .number(0.5), "big": .number(1e20), "list": [true, .null, "s"]])
        #expect(String(decoding: out.bytes, as: UTF8.self) == #"{"big":1e+20,"list":[true,null,"s"],"n":3,"x":0.5}"#)
    }
}
