import AsyncHTTPClient
import Foundation
import Logging
import MCP
import NIOCore
import NIOHTTP1
import ParleyCore

/// An MCP client transport for Streamable HTTP on AsyncHTTPClient, for Linux.
///
/// Why not the SDK's `HTTPClientTransport`: on Linux (0.12.1) it uses `URLSession.data(for:)` and,
/// for a `text/event-stream` answer, yields the whole raw SSE body to the client as one message
/// (`logger.warning("SSE responses aren't fully supported on Linux")`); the client cannot decode
/// it and the request never completes. The SDK's `StatefulHTTPServerTransport` always answers
/// requests with SSE, so the two do not work together on Linux.
///
/// This transport POSTs every outgoing message and yields each JSON-RPC message of the answer,
/// whether `application/json` or `text/event-stream` (SSE events parsed, empty priming events
/// skipped). It keeps `Mcp-Session-Id`, sends `MCP-Protocol-Version` once negotiated, and DELETEs
/// the session on `disconnect()`. No standalone GET stream (Parley's tools never push) and no
/// resumption (`Last-Event-ID`): a broken stream fails that one request.
public actor StreamableHTTPClientTransport: Transport {
    public nonisolated let logger: Logger

    let endpoint: String
    let headers: [String: String]
    let httpClient: HTTPClient
    /// Deadline for the response head of each POST (AsyncHTTPClient's `execute(_:timeout:)`).
    let headTimeout: TimeAmount
    let maxMessageBytes: Int

    public private(set) var sessionID: String?
    public private(set) var protocolVersion: String?
    private var connected = false
    private var initializeRequestID: String?

    private let messages: AsyncThrowingStream<Data, any Error>
    private let continuation: AsyncThrowingStream<Data, any Error>.Continuation

    /// - Parameters:
    ///   - endpoint: the MCP endpoint, e.g. `http://127.0.0.1:8081/mcp`.
    ///   - headers: sent with every request (`Authorization`, `X-Tenant-ID`).
    public init(
        endpoint: String, headers: [String: String] = [:], httpClient: HTTPClient = .shared,
        headTimeout: TimeAmount = .seconds(30), maxMessageBytes: Int = 4 << 20, logger: Logger? = nil
    ) {
        self.endpoint = endpoint
        self.headers = headers
        self.httpClient = httpClient
        self.headTimeout = headTimeout
        self.maxMessageBytes = maxMessageBytes
        self.logger = logger ?? Logger(label: "parley.mcp.client-transport", factory: { _ in SwiftLogNoOpLogHandler() })
        let (stream, continuation) = AsyncThrowingStream<Data, any Error>.makeStream()
        self.messages = stream
        self.continuation = continuation
    }

    // MARK: - Transport

    public func connect() async throws {
        connected = true
    }

    public func disconnect() async {
        guard connected else { return }
        connected = false
        if let sessionID {
            var request = HTTPClientRequest(url: endpoint)
            request.method = .DELETE
            applyHeaders(to: &request, sessionID: sessionID)
            _ = try? await httpClient.execute(request, timeout: .seconds(5))
        }
        sessionID = nil
        continuation.finish()
    }

    public func receive() -> AsyncThrowingStream<Data, any Error> {
        messages
    }

    public func send(_ data: Data) async throws {
        guard connected else { throw MCPError.internalError("Transport not connected") }
        let outgoing = Self.classify(data)
        if outgoing.method == "initialize" { initializeRequestID = outgoing.id }

        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        applyHeaders(to: &request, sessionID: sessionID)
        request.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        request.headers.replaceOrAdd(name: "Accept", value: "application/json, text/event-stream")
        request.body = .bytes(ByteBuffer(bytes: data))

        let response = try await httpClient.execute(request, timeout: headTimeout, logger: logger)
        if let newSession = response.headers.first(name: "Mcp-Session-Id") { sessionID = newSession }

        switch response.status.code {
        case 202:
            return  // a notification or a response was accepted
        case 200..<300:
            break
        case 404 where sessionID != nil:
            sessionID = nil
            throw MCPError.internalError("Session expired")
        case 401:
            throw MCPError.internalError("Authentication required")
        case 403:
            throw MCPError.internalError("Access forbidden")
        default:
            let body = try? await response.body.collect(upTo: 16 * 1024)
            let text = body.map { String(buffer: $0) } ?? ""
            throw MCPError.internalError("HTTP \(response.status.code) from the MCP server: \(text.prefix(300))")
        }

        let contentType = response.headers.first(name: "Content-Type")?.lowercased() ?? ""
        if contentType.hasPrefix("text/event-stream") {
            var parser = ServerSentEventParser(maxEventBytes: maxMessageBytes)
            for try await buffer in response.body {
                for payload in try parser.feed(buffer.readableBytesView) { deliver(payload) }
            }
            for payload in parser.finish() { deliver(payload) }
        } else if contentType.hasPrefix("application/json") {
            let body = try await response.body.collect(upTo: maxMessageBytes)
            deliver(Data(body.readableBytesView))
        } else if outgoing.id != nil {
            throw MCPError.internalError("unexpected content type \(contentType) from the MCP server")
        }
    }

    // MARK: - Helpers

    private func applyHeaders(to request: inout HTTPClientRequest, sessionID: String?) {
        for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
        if let sessionID { request.headers.replaceOrAdd(name: "Mcp-Session-Id", value: sessionID) }
        if let protocolVersion { request.headers.replaceOrAdd(name: "MCP-Protocol-Version", value: protocolVersion) }
    }

    private func deliver(_ message: Data) {
        if let initializeRequestID, let version = Self.negotiatedVersion(in: message, forRequest: initializeRequestID) {
            protocolVersion = version
            self.initializeRequestID = nil
        }
        continuation.yield(message)
    }

    /// The id (as a string) and method of an outgoing JSON-RPC message.
    static func classify(_ data: Data) -> (id: String?, method: String?) {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return (nil, nil) }
        let id = (object["id"] as? String) ?? (object["id"] as? Int).map(String.init)
        return (id, object["method"] as? String)
    }

    /// `result.protocolVersion` of the answer to `initialize`.
    static func negotiatedVersion(in message: Data, forRequest id: String) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: message) as? [String: Any] else { return nil }
        let answerID = (object["id"] as? String) ?? (object["id"] as? Int).map(String.init)
        guard answerID == id, let result = object["result"] as? [String: Any] else { return nil }
        return result["protocolVersion"] as? String
    }
}
