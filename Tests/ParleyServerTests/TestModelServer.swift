import Foundation
import Hummingbird
import Logging
import NIOCore
import ParleyCore
import ServiceLifecycle
import Synchronization

/// A local stand-in for OpenAI's API (which cannot be reached from here): an OpenAI-compatible
/// Chat Completions server on loopback that answers from a script — text, tool calls (streamed
/// as deltas when asked to stream), errors, hangs, garbage — and records every request it got.
final class TestModelServer: Sendable {
    enum Reply: Sendable {
        case text(String)
        /// Tool calls as (name, JSON arguments).
        case toolCalls([(String, String)])
        case status(Int)
        /// Never answers (until the client gives up).
        case hang
        case garbage
        /// Text streamed in pieces of `size` characters (splitting words, and placeholders).
        case pieces(String, size: Int)
        /// Streams the first half of the text, then drops the connection.
        case brokenStream(String)
    }

    struct Recorded: Sendable {
        let body: JSONValue
        let authorization: String?
    }

    private struct State {
        var script: [Reply] = []
        var fallback: Reply = .text("Hello from the test model.")
        var recorded: [Recorded] = []
        /// Parley's tool-capability probe is answered apart from the script (and not recorded
        /// with the chat requests): by default with a valid tool call, i.e. "this model can call tools".
        var probeReply: Reply = .toolCalls([("add_task", #"{"title": "water the plants"}"#)])
        var probes = 0
        var stopping = false
    }

    private let server: LoopbackServer

    var baseURL: String { "http://127.0.0.1:\(server.port)/v1" }

    private init(server: LoopbackServer, state: SharedMutex<State>) {
        self.server = server
        self.stateBox = state
    }

    private let stateBox: SharedMutex<State>

    /// Queues replies, answered in order; when the script runs out, `always` (or a greeting).
    func script(_ replies: [Reply], always: Reply? = nil) {
        stateBox.withLock { state in
            state.script += replies
            if let always { state.fallback = always }
        }
    }

    var requests: [Recorded] { stateBox.withLock { $0.recorded } }
    var probes: Int { stateBox.withLock { $0.probes } }

    /// How the capability probe is answered: `.text` makes the provider text-only (hybrid mode).
    func answerProbes(with reply: Reply) {
        stateBox.withLock { $0.probeReply = reply }
    }

    static func isProbe(_ body: JSONValue) -> Bool {
        body["messages"]?.arrayValue?.first?["content"]?.stringValue?.hasPrefix("You manage a to-do list with the tools given") == true
    }

    static func start() async throws -> TestModelServer {
        let state = SharedMutex(State())
        let router = Router()
        router.post("v1/chat/completions") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let json = (try? JSONDecoder().decode(JSONValue.self, from: Data(body.readableBytesView))) ?? .null
            let reply = state.withLock { state -> Reply in
                if isProbe(json) {
                    state.probes += 1
                    return state.probeReply
                }
                state.recorded.append(Recorded(body: json, authorization: request.headers[.authorization]))
                return state.script.isEmpty ? state.fallback : state.script.removeFirst()
            }
            let model = json["model"]?.stringValue ?? "test"
            let stream = json["stream"]?.boolValue ?? false
            switch reply {
            case .status(let code):
                return Response(
                    status: .init(code: code), headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: #"{"error": {"message": "scripted failure"}}"#)))
            case .hang:
                // Holds the request until the server stops (graceful shutdown waits for it).
                while !state.withLock({ $0.stopping }) { try await Task.sleep(for: .milliseconds(50)) }
                return Response(status: .serviceUnavailable)
            case .garbage:
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "<html>oops")))
            case .text(let text):
                return stream ? Self.sse(Self.textChunks(text, model: model)) : Self.json(Self.completion(content: .string(text), calls: nil, model: model))
            case .pieces(let text, let size):
                return stream ? Self.sse(Self.textChunks(text, model: model, size: size)) : Self.json(Self.completion(content: .string(text), calls: nil, model: model))
            case .brokenStream(let text):
                let chunks = Self.textChunks(text, model: model)
                let half = Self.sseText(Array(chunks.prefix(chunks.count / 2)), done: false)
                return Response(
                    status: .ok, headers: [.contentType: "text/event-stream"],
                    body: ResponseBody { writer in
                        try await writer.write(ByteBuffer(string: half))
                        try await Task.sleep(for: .milliseconds(50))
                        throw CancellationError()
                    })
            case .toolCalls(let calls):
                let records: [JSONValue] = calls.enumerated().map { index, call in
                    ["id": .string("call_\(index)"), "type": "function", "function": ["name": .string(call.0), "arguments": .string(call.1)]]
                }
                return stream ? Self.sse(Self.toolCallChunks(calls, model: model)) : Self.json(Self.completion(content: .null, calls: records, model: model))
            }
        }
        return TestModelServer(server: try await LoopbackServer.start(router, name: "test-model"), state: state)
    }

    func stop() async {
        stateBox.withLock { $0.stopping = true }
        await server.stop()
    }

    static func completion(content: JSONValue, calls: [JSONValue]?, model: String) -> JSONValue {
        var message: [String: JSONValue] = ["role": "assistant", "content": content]
        if let calls { message["tool_calls"] = .array(calls) }
        return [
            "id": "chatcmpl-test", "object": "chat.completion", "model": .string(model),
            "choices": [["index": 0, "message": .object(message), "finish_reason": calls == nil ? "stop" : "tool_calls"]],
            "usage": ["prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17],
        ]
    }

    /// Text in word-sized deltas (or pieces of `size` characters), then the usage chunk.
    static func textChunks(_ text: String, model: String, size: Int? = nil) -> [JSONValue] {
        var chunks: [JSONValue] = [chunk(["role": "assistant", "content": ""], model: model)]
        var piece = ""
        for character in text {
            piece.append(character)
            if size.map({ piece.count == $0 }) ?? (character == " ") {
                chunks.append(chunk(["content": .string(piece)], model: model))
                piece = ""
            }
        }
        if !piece.isEmpty { chunks.append(chunk(["content": .string(piece)], model: model)) }
        chunks.append(chunk([:], model: model, finish: "stop"))
        chunks.append(["id": "chatcmpl-test", "model": .string(model), "choices": [], "usage": ["prompt_tokens": 12, "completion_tokens": 5]])
        return chunks
    }

    /// Tool calls as OpenAI streams them: id and name first, the arguments in pieces, by index.
    static func toolCallChunks(_ calls: [(String, String)], model: String) -> [JSONValue] {
        var chunks: [JSONValue] = [chunk(["role": "assistant", "content": .null], model: model)]
        for (index, call) in calls.enumerated() {
            chunks.append(chunk(["tool_calls": [["index": JSONValue(index), "id": .string("call_\(index)"), "type": "function", "function": ["name": .string(call.0), "arguments": ""]]]], model: model))
            var rest = Substring(call.1)
            while !rest.isEmpty {
                let piece = rest.prefix(5)
                rest = rest.dropFirst(5)
                chunks.append(chunk(["tool_calls": [["index": JSONValue(index), "function": ["arguments": .string(String(piece))]]]], model: model))
            }
        }
        chunks.append(chunk([:], model: model, finish: "tool_calls"))
        return chunks
    }

    static func chunk(_ delta: [String: JSONValue], model: String, finish: String? = nil) -> JSONValue {
        [
            "id": "chatcmpl-test", "object": "chat.completion.chunk", "model": .string(model),
            "choices": [["index": 0, "delta": .object(delta), "finish_reason": finish.map(JSONValue.string) ?? .null]],
        ]
    }

    static func json(_ value: JSONValue) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: (try? JSONEncoder().encode(value)) ?? Data())))
    }

    static func sse(_ chunks: [JSONValue]) -> Response {
        Response(status: .ok, headers: [.contentType: "text/event-stream"], body: .init(byteBuffer: ByteBuffer(string: sseText(chunks))))
    }

    static func sseText(_ chunks: [JSONValue], done: Bool = true) -> String {
        var text = ""
        for chunk in chunks {
            text += "data: " + String(decoding: (try? JSONEncoder().encode(chunk)) ?? Data(), as: UTF8.self) + "\n\n"
        }
        if done { text += "data: [DONE]\n\n" }
        return text
    }
}

/// A lock around a value, shareable between routes and the test.
final class SharedMutex<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) {
        mutex = Mutex(value)
    }

    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        try mutex.withLock { try body(&$0) }
    }
}
