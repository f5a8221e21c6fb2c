import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ParleyCore
import Synchronization

/// A Chat Completions client for OpenAI and compatible servers (llama.cpp's `llama-server`):
/// plain and streamed answers, tools and tool calls, usage, a connect and a total timeout, and
/// cancellation (cancelling the calling task closes the request).
public final class OpenAICompatibleClient: ChatModel {
    public struct Settings: Sendable, Hashable {
        /// The API root, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8081/v1`.
        public var baseURL: String
        public var model: String
        public var apiKey: String?
        public var connectTimeout: Duration
        /// For the whole answer, streamed or not.
        public var timeout: Duration

        public init(
            baseURL: String, model: String, apiKey: String? = nil, connectTimeout: Duration = .seconds(2),
            timeout: Duration = .seconds(60)
        ) {
            self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
            self.model = model
            self.apiKey = apiKey
            self.connectTimeout = connectTimeout
            self.timeout = timeout
        }
    }

    /// Connections kept to one provider's host at most.
    static let maxConnectionsPerHost = 1024

    /// Answers larger than this are refused as malformed (a model cannot flood us).
    static let maxResponseBytes = 4 << 20

    public let settings: Settings
    private let http: HTTPClient
    /// The JSON of the tool lists this client has offered: the same few lists go out with every
    /// request, and encoding their schemas anew was a tenth of a chat turn's CPU.
    private let encodedTools = Mutex<[[ToolSpec]: [UInt8]]>([:])
    private static let encoder = JSONEncoder()

    public init(settings: Settings) {
        self.settings = settings
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .nanoseconds(Int64(settings.connectTimeout.nanoseconds)))
        // Kept open between turns; as many as the turns in flight want (AsyncHTTPClient's default
        // of 8 per host made the 9th concurrent turn wait for a free connection).
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: Self.maxConnectionsPerHost)
        http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// Closes the connection pool; call once when the provider is no longer used.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    // MARK: Plain answers

    public func complete(_ request: ChatRequest) async throws -> ChatResponse {
        let response = try await send(request, stream: false)
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: Self.maxResponseBytes)
        } catch let error as NIOTooManyBytesError {
            throw ModelError.malformed("answer larger than \(error.maxBytes ?? Self.maxResponseBytes) bytes")
        } catch {
            throw Self.modelError(error)
        }
        return try Self.decodeCompletion(Data(body.readableBytesView))
    }

    struct Completion: Decodable {
        struct Choice: Decodable {
            let message: ChatMessage
            let finishReason: String?

            enum CodingKeys: String, CodingKey {
                case message
                case finishReason = "finish_reason"
            }
        }

        let model: String?
        let choices: [Choice]
        let usage: TokenUsage?
    }

    static func decodeCompletion(_ data: Data) throws -> ChatResponse {
        let completion: Completion
        do {
            completion = try JSONDecoder().decode(Completion.self, from: data)
        } catch {
            throw ModelError.malformed("not a chat completion: \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
        guard let choice = completion.choices.first else { throw ModelError.malformed("no choices") }
        return ChatResponse(
            message: choice.message, finishReason: choice.finishReason, usage: completion.usage,
            model: completion.model ?? "")
    }

    // MARK: Streamed answers

    public func stream(_ request: ChatRequest) -> AsyncThrowingStream<ChatStreamEvent, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let response = try await send(request, stream: true)
                    var assembler = StreamAssembler()
                    var events = ServerSentEventParser(maxEventBytes: Self.maxResponseBytes)
                    var received = 0
                    var done = false  // after `[DONE]` the rest of the body is read (the connection stays reusable), not parsed
                    for try await chunk in response.body where !done {
                        received += chunk.readableBytes
                        guard received <= Self.maxResponseBytes else { throw ModelError.malformed("answer too large") }
                        for data in try events.feed(chunk.readableBytesView) {
                            if data.elementsEqual("[DONE]".utf8) {
                                done = true
                                break
                            }
                            if let text = try assembler.apply(data) { continuation.yield(.text(text)) }
                        }
                    }
                    continuation.yield(.completed(try assembler.response()))
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: Self.modelError(error))
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    // MARK: Transport

    private func send(_ request: ChatRequest, stream: Bool) async throws -> HTTPClientResponse {
        let bytes = ChatCompletionsJSON.body(
            model: settings.model, request: request, stream: stream, tools: request.tools.isEmpty ? nil : try tools(request.tools))
        var http = HTTPClientRequest(url: settings.baseURL + "/chat/completions")
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/json")
        http.headers.add(name: "Accept", value: stream ? "text/event-stream" : "application/json")
        if let apiKey = settings.apiKey { http.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        http.body = .bytes(ByteBuffer(bytes: bytes))
        let response: HTTPClientResponse
        do {
            response = try await self.http.execute(http, deadline: .now() + .nanoseconds(Int64(settings.timeout.nanoseconds)))
        } catch {
            throw Self.modelError(error)
        }
        guard response.status == .ok else {
            let text = (try? await response.body.collect(upTo: 4096)).map { String(buffer: $0) } ?? ""
            throw ModelError.status(Int(response.status.code), text)
        }
        return response
    }

    /// `tools` as JSON, encoded once per distinct list (a client sees a handful at most).
    private func tools(_ tools: [ToolSpec]) throws -> [UInt8] {
        if let cached = encodedTools.withLock({ $0[tools] }) { return cached }
        let encoded = [UInt8](try Self.encoder.encode(tools))
        encodedTools.withLock { cache in
            if cache.count < 16 { cache[tools] = encoded }
        }
        return encoded
    }

    static func modelError(_ error: any Error) -> ModelError {
        switch error {
        case let error as ModelError: return error
        case is CancellationError: return .cancelled
        case let error as HTTPClientError:
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout: return .timeout
            case .cancelled: return .cancelled
            default: return .unreachable("\(error)")
            }
        case is NIOTooManyBytesError: return .malformed("answer too large")
        case let error as ServerSentEventParser.EventTooLarge: return .malformed("\(error)")
        default: return .unreachable("\(error)")
        }
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}

/// Builds the whole answer from streamed deltas: text appended, tool calls assembled by their
/// `index` (id and name come first, arguments in pieces), usage from the last chunk.
struct StreamAssembler {
    private struct Chunk: Decodable {
        struct Choice: Decodable {
            struct Delta: Decodable {
                struct ToolCallDelta: Decodable {
                    struct Function: Decodable {
                        let name: String?
                        let arguments: String?
                    }

                    let index: Int?
                    let id: String?
                    let function: Function?
                }

                let content: String?
                let toolCalls: [ToolCallDelta]?

                enum CodingKeys: String, CodingKey {
                    case content
                    case toolCalls = "tool_calls"
                }
            }

            let delta: Delta?
            let finishReason: String?

            enum CodingKeys: String, CodingKey {
                case delta
                case finishReason = "finish_reason"
            }
        }

        let model: String?
        let choices: [Choice]?
        let usage: TokenUsage?
    }

    private var text = ""
    private var calls: [Int: (id: String, name: String, arguments: String)] = [:]
    private var finishReason: String?
    private var usage: TokenUsage?
    private var model = ""
    private var chunks = 0

    /// Applies one event; returns its text delta, if any.
    mutating func apply(_ data: Data) throws -> String? {
        let chunk: Chunk
        do {
            chunk = try JSONDecoder().decode(Chunk.self, from: data)
        } catch {
            throw ModelError.malformed("not a stream chunk: \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
        chunks += 1
        if let name = chunk.model { model = name }
        if let usage = chunk.usage { self.usage = usage }
        guard let choice = chunk.choices?.first else { return nil }
        if let reason = choice.finishReason { finishReason = reason }
        for delta in choice.delta?.toolCalls ?? [] {
            let index = delta.index ?? calls.count
            var call = calls[index] ?? (id: "", name: "", arguments: "")
            if let id = delta.id { call.id = id }
            if let name = delta.function?.name { call.name += name }
            if let arguments = delta.function?.arguments { call.arguments += arguments }
            calls[index] = call
        }
        guard let content = choice.delta?.content, !content.isEmpty else { return nil }
        text += content
        return content
    }

    func response() throws -> ChatResponse {
        guard chunks > 0 else { throw ModelError.malformed("the stream ended before any answer") }
        let toolCalls = calls.sorted { $0.key < $1.key }.map { index, call in
            ToolCall(id: call.id.isEmpty ? "call_\(index)" : call.id, name: call.name, arguments: call.arguments)
        }
        return ChatResponse(
            message: ChatMessage(role: .assistant, content: text.isEmpty && !toolCalls.isEmpty ? nil : text,
                                 toolCalls: toolCalls.isEmpty ? nil : toolCalls),
            finishReason: finishReason, usage: usage, model: model)
    }
}
