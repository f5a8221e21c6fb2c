import Foundation
import Logging
import MCP
import ParleyAgent
import ParleyCore

// Streamable HTTP for Parley's MCP server, framework-neutral.
//
// The Hummingbird route (ParleyServer/MCPController.swift) converts its request into an
// `MCPWireRequest` and an `MCPWireReply` back into a response. Neither type mentions an MCP type,
// so the route file does not import MCP, and the clashes between MCP and Hummingbird
// (`HTTPRequest`, `HTTPResponse`, `Request`, `Response`, `RequestContext`, `Server`, `Parameters`,
// `Configuration`, `Context`) cannot happen there. This file imports MCP but not Hummingbird.

/// An HTTP request for the MCP endpoint, authenticated already.
public struct MCPWireRequest: Sendable {
    public var method: String
    /// Header fields (repeated fields joined with ", "). Include `Host` (HTTP/2 `:authority`)
    /// when the origin policy checks hosts.
    public var headers: [String: String]
    public var body: Data?
    public var path: String

    public init(
        method: String, headers: [String: String], body: Data?, path: String, requestID: String? = nil,
        clientIP: String? = nil
    ) {
        self.method = method
        self.headers = headers
        self.body = body
        self.path = path
        self.requestID = requestID
        self.clientIP = clientIP
    }

    /// Parley's request id and client address, handed to tool handlers (see `MCPToolCallEvent`).
    public var requestID: String?
    public var clientIP: String?

    static let internalHeaders: Set<String> = [
        MCPToolServer.ownerHeader.lowercased(), MCPToolServer.requestIDHeader.lowercased(),
        MCPToolServer.clientIPHeader.lowercased(),
    ]

    /// The SDK's request, with Parley's internal headers set (client-sent ones are dropped).
    func mcpRequest(owner: MCPSessionOwner) -> MCP.HTTPRequest {
        var fields = headers.filter { !Self.internalHeaders.contains($0.key.lowercased()) }
        fields[MCPToolServer.ownerHeader] = owner.headerValue
        if let requestID { fields[MCPToolServer.requestIDHeader] = requestID }
        if let clientIP { fields[MCPToolServer.clientIPHeader] = clientIP }
        return MCP.HTTPRequest(method: method, headers: fields, body: body, path: path)
    }

    func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.key.lowercased() == wanted }?.value
    }

    /// Whether the body is a JSON-RPC `initialize` request (the SDK's own check,
    /// `JSONRPCMessageKind`, is `package`-internal).
    var isInitializeRequest: Bool {
        guard let body, let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return false }
        return object["method"] as? String == "initialize" && object["id"] != nil
    }
}

/// What to send back.
public struct MCPWireReply: Sendable {
    public enum Body: Sendable {
        case empty
        case data(Data)
        /// Server-Sent Events, already framed by the SDK (`id: …\nevent: message\ndata: …\n\n`):
        /// write each chunk as it comes, unchanged; the stream ends when the answer was sent.
        case eventStream(AsyncThrowingStream<Data, any Error>)
    }

    public var status: Int
    public var headers: [String: String]
    public var body: Body

    public init(status: Int, headers: [String: String], body: Body) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// Maps the SDK's `HTTPResponse`:
    /// `.accepted` 202 / `.ok` 200 (no body), `.data(Data, headers:)` 200,
    /// `.stream(AsyncThrowingStream<Data, Error>, headers:)` 200 SSE,
    /// `.error(statusCode:, MCPError, sessionID:, extraHeaders:)` with a JSON-RPC error body.
    init(_ response: MCP.HTTPResponse) {
        switch response {
        case .stream(let events, let headers):
            self.init(status: 200, headers: headers, body: .eventStream(events))
        default:
            let body: Body
            if let data = response.bodyData { body = .data(data) } else { body = .empty }
            self.init(status: response.statusCode, headers: response.headers, body: body)
        }
    }

    /// A JSON-RPC error reply, as the SDK would make it.
    static func error(_ status: Int, _ error: MCPError, extraHeaders: [String: String] = [:]) -> MCPWireReply {
        MCPWireReply(MCP.HTTPResponse.error(statusCode: status, error, sessionID: nil, extraHeaders: extraHeaders))
    }
}

/// Which `Origin` and `Host` headers the SDK's `OriginValidator` (DNS-rebinding protection)
/// accepts. The SDK's default is `.localhost()`: any other `Host` gets 421, any other `Origin` 403.
public enum MCPOriginPolicy: Sendable {
    /// `127.0.0.1:*`, `localhost:*`, `[::1]:*` (and the `http://` origins of these).
    case localhost
    /// No check. Fine behind Parley's own CORS policy: a cross-origin browser request that
    /// carries `Authorization` needs a CORS preflight that Parley only answers for its allowed
    /// origins. Note that a host pattern `name:*` needs a port in the `Host` header.
    case disabled
    /// Exact hosts (`parley.example.com`, `parley.example.com:8443`; `name:*` for any port) and
    /// origins (`https://app.example.com`).
    case allow(hosts: [String], origins: [String])

    var validator: OriginValidator {
        switch self {
        case .localhost: return .localhost()
        case .disabled: return .disabled
        case .allow(let hosts, let origins): return OriginValidator(allowedHosts: hosts, allowedOrigins: origins)
        }
    }
}

/// The MCP endpoint: one authenticated HTTP request in, one reply out.
public protocol MCPHTTPEndpoint: Sendable {
    /// - Parameters:
    ///   - owner: the verified caller (tenant and user from Parley's auth middleware).
    ///   - executor: the caller's tools (`TaskToolExecutor` on the caller's `TaskService`); used
    ///     only when a new MCP server is made for this request.
    func handle(_ request: MCPWireRequest, owner: MCPSessionOwner, executor: any ToolExecutor) async -> MCPWireReply
}

// MARK: - Stateless

/// Stateless Streamable HTTP: a new MCP `Server` and `StatelessHTTPServerTransport` for every
/// POST, bound to that request's caller. No `Mcp-Session-Id`; answers are `application/json`;
/// GET and DELETE get 405. Works behind a load balancer with any number of replicas, and with the
/// SDK's `HTTPClientTransport` on Linux.
///
/// Never share one `StatelessHTTPServerTransport` between requests of different clients: it keys
/// its waiting requests by JSON-RPC id, so two clients that both send `"id": 1` get each other's
/// answers.
public struct MCPStatelessEndpoint: MCPHTTPEndpoint {
    let toolServer: MCPToolServer
    let pipeline: StandardValidationPipeline
    let logger: Logger

    public init(toolServer: MCPToolServer, origin: MCPOriginPolicy, logger: Logger = Logger(label: "parley.mcp.http")) {
        self.toolServer = toolServer
        self.pipeline = StandardValidationPipeline(validators: [
            origin.validator,
            AcceptHeaderValidator(mode: .jsonOnly),
            ContentTypeValidator(),
            ProtocolVersionValidator(),
        ])
        self.logger = logger
    }

    public func handle(_ request: MCPWireRequest, owner: MCPSessionOwner, executor: any ToolExecutor) async -> MCPWireReply {
        guard request.method.uppercased() == "POST" else {
            return .error(405, .invalidRequest("Method Not Allowed"), extraHeaders: ["Allow": "POST"])
        }
        let transport = StatelessHTTPServerTransport(validationPipeline: pipeline, logger: logger)
        let server = await toolServer.makeServer(executor: executor, owner: owner)
        do {
            try await server.start(transport: transport)
        } catch {
            logger.error("MCP server did not start", metadata: ["error": "\(error)"])
            return .error(500, .internalError("the MCP server did not start"))
        }
        let response = await transport.handleRequest(request.mcpRequest(owner: owner))
        // Requests are answered by now; a notification (202) may still be in the server's queue,
        // and Parley's tools have none that matter (initialized, cancelled).
        await server.stop()
        return MCPWireReply(response)
    }
}

// MARK: - Stateful

/// Stateful Streamable HTTP: one MCP `Server` + `StatefulHTTPServerTransport` per session, made
/// by `initialize` and bound to the caller who made it. Requests are answered with SSE.
///
/// - Another caller using a session id gets 404, as an unknown id does (never reveal a session).
/// - Sessions idle for `idleTimeout` are closed (`sweep()`; run `runSweeper` as a service).
/// - At most `maxSessionsPerTenant` per tenant (then 429) and `maxSessionsPerUser` per user (then
///   the user's least recently used session is closed).
/// - Sessions live in this process: with several replicas, route by `Mcp-Session-Id` (sticky) or
///   use `MCPStatelessEndpoint`.
public actor MCPSessionRegistry: MCPHTTPEndpoint {
    public struct Limits: Sendable {
        public var idleTimeout: Duration
        /// Sessions older than this are closed even when busy: the SDK's transport keeps every
        /// answer of a session for replay (`Last-Event-ID`) until the session ends.
        public var maxLifetime: Duration
        public var maxSessionsPerTenant: Int
        public var maxSessionsPerUser: Int
        /// Allow the standalone GET SSE stream. Off by default: Parley's tools never push, the
        /// stream holds a connection open, and the SDK (0.12.1) never notices that its client went
        /// away, so a reconnecting GET gets 409 for the rest of the session. Off → GET answers 405,
        /// which the spec allows and clients accept.
        public var allowStandaloneStream: Bool

        public init(
            idleTimeout: Duration = .seconds(30 * 60), maxLifetime: Duration = .seconds(8 * 3600),
            maxSessionsPerTenant: Int = 1_000, maxSessionsPerUser: Int = 20, allowStandaloneStream: Bool = false
        ) {
            self.idleTimeout = idleTimeout
            self.maxLifetime = maxLifetime
            self.maxSessionsPerTenant = maxSessionsPerTenant
            self.maxSessionsPerUser = maxSessionsPerUser
            self.allowStandaloneStream = allowStandaloneStream
        }
    }

    struct Session {
        let server: MCP.Server
        let transport: StatefulHTTPServerTransport
        let owner: MCPSessionOwner
        let created: ContinuousClock.Instant
        var lastUsed: ContinuousClock.Instant
        var inFlight: Int
    }

    /// Hands the transport the session id the registry chose, so it is known before the
    /// transport answers `initialize`.
    struct FixedSessionID: SessionIDGenerator {
        let id: String
        func generateSessionID() -> String { id }
    }

    let toolServer: MCPToolServer
    let limits: Limits
    let pipeline: StandardValidationPipeline
    let logger: Logger
    let clock = ContinuousClock()

    private var sessions: [String: Session] = [:]
    /// Sessions being set up (counted against the caps while `initialize` is in flight).
    private var reserved: [String: MCPSessionOwner] = [:]

    public init(
        toolServer: MCPToolServer, origin: MCPOriginPolicy, limits: Limits = Limits(),
        logger: Logger = Logger(label: "parley.mcp.http")
    ) {
        self.toolServer = toolServer
        self.limits = limits
        self.pipeline = StandardValidationPipeline(validators: [
            origin.validator,
            AcceptHeaderValidator(mode: .sseRequired),
            ContentTypeValidator(),
            ProtocolVersionValidator(),
            SessionValidator(),
        ])
        self.logger = logger
    }

    public var count: Int { sessions.count }

    public func handle(_ request: MCPWireRequest, owner: MCPSessionOwner, executor: any ToolExecutor) async -> MCPWireReply {
        let method = request.method.uppercased()
        if method == "GET" && !limits.allowStandaloneStream {
            return .error(405, .invalidRequest("Method Not Allowed"), extraHeaders: ["Allow": "POST, DELETE"])
        }
        guard let sessionID = request.header(HTTPHeaderName.sessionID) else {
            guard method == "POST", request.isInitializeRequest else {
                return .error(400, .invalidRequest("Bad Request: Missing \(HTTPHeaderName.sessionID) header"))
            }
            return await openSession(request, owner: owner, executor: executor)
        }
        guard var session = sessions[sessionID], session.owner == owner else {
            if let session = sessions[sessionID] {
                logger.notice(
                    "MCP session used by another principal",
                    metadata: ["owner": "\(session.owner)", "caller": "\(owner)"])
            }
            // 404 tells a client to start a new session (spec), and reveals nothing.
            return .error(404, .invalidRequest("Not Found: Session not found or expired"))
        }
        session.lastUsed = clock.now
        session.inFlight += 1
        sessions[sessionID] = session

        let response = await session.transport.handleRequest(request.mcpRequest(owner: owner))

        sessions[sessionID]?.inFlight -= 1
        if method == "DELETE", response.statusCode == 200 {
            await close(sessionID)
        }
        return MCPWireReply(response)
    }

    private func openSession(_ request: MCPWireRequest, owner: MCPSessionOwner, executor: any ToolExecutor) async -> MCPWireReply {
        await sweep()
        let all = Array(sessions.values.map(\.owner)) + Array(reserved.values)
        if all.filter({ $0.tenant == owner.tenant }).count >= limits.maxSessionsPerTenant {
            logger.warning("MCP session cap of a tenant reached", metadata: ["tenant": "\(owner.tenant.rawValue)"])
            return .error(429, .invalidRequest("Too many MCP sessions for this tenant"), extraHeaders: ["Retry-After": "60"])
        }
        if all.filter({ $0 == owner }).count >= limits.maxSessionsPerUser,
            let oldest = sessions.filter({ $0.value.owner == owner && $0.value.inFlight == 0 })
                .min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key
        {
            await close(oldest)
        }

        let sessionID = Self.newSessionID()
        reserved[sessionID] = owner
        defer { reserved[sessionID] = nil }

        let transport = StatefulHTTPServerTransport(
            sessionIDGenerator: FixedSessionID(id: sessionID), validationPipeline: pipeline, logger: logger)
        let server = await toolServer.makeServer(executor: executor, owner: owner)
        do {
            try await server.start(transport: transport)
        } catch {
            logger.error("MCP server did not start", metadata: ["error": "\(error)"])
            return .error(500, .internalError("the MCP session could not be created"))
        }
        let now = clock.now
        sessions[sessionID] = Session(
            server: server, transport: transport, owner: owner, created: now, lastUsed: now, inFlight: 1)

        let response = await transport.handleRequest(request.mcpRequest(owner: owner))

        sessions[sessionID]?.inFlight -= 1
        if case .error = response {
            await close(sessionID)  // validation failed (Accept, Content-Type, Origin): no session
        } else {
            logger.debug("MCP session opened", metadata: ["session": "\(sessionID.prefix(8))", "owner": "\(owner)"])
        }
        return MCPWireReply(response)
    }

    /// Closes a session: its open SSE streams end and its server stops.
    public func close(_ sessionID: String) async {
        guard let session = sessions.removeValue(forKey: sessionID) else { return }
        await session.server.stop()  // also disconnects (terminates) the transport
    }

    /// Closes the sessions idle for longer than `idleTimeout` or older than `maxLifetime` (the
    /// client gets 404 and starts a new session).
    public func sweep() async {
        let now = clock.now
        let expired = sessions.filter { _, session in
            (session.inFlight == 0 && now - session.lastUsed > limits.idleTimeout) || now - session.created > limits.maxLifetime
        }.map { $0.key }
        for sessionID in expired { await close(sessionID) }
        if !expired.isEmpty { logger.debug("MCP sessions expired", metadata: ["count": "\(expired.count)"]) }
    }

    /// Closes every session (on shutdown).
    public func closeAll() async {
        for sessionID in Array(sessions.keys) { await close(sessionID) }
    }

    /// Sweeps every `interval` until the task is cancelled, then closes every session.
    public func runSweeper(every interval: Duration = .seconds(60)) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { break }
            await sweep()
        }
        await closeAll()
    }

    /// 256 random bits, hex: visible ASCII as the spec requires, not guessable.
    static func newSessionID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in
            let word = generator.next() as UInt64
            let hex = String(word, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }
}
