import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ParleyAgent
import ParleyCore
import ParleyMCP

// Deliberately no `import MCP` here: MCP and Hummingbird both declare `HTTPRequest`/`HTTPResponse`
// (Hummingbird re-exports HTTPTypes'), `Request`, `Response`, `RequestContext`, `Server`,
// `Parameters`, `Configuration`, `Context`. ParleyMCP's `MCPWireRequest`/`MCPWireReply` carry
// the exchange, so every name below is Hummingbird's or HTTPTypes'.

/// `/mcp`: Parley's task tools as an MCP server over Streamable HTTP (POST, GET, DELETE), behind
/// the same middleware as `/api/v1` (rate limits, bearer token, tenant, audit). The caller's
/// tenant and user come from `AuthMiddleware`; every MCP server instance is bound to them.
struct MCPController {
    let endpoint: any MCPHTTPEndpoint
    let stores: TenantStores

    func addRoutes(to group: RouterGroup<ParleyRequestContext>) {
        group.post(use: handle)
        group.get(use: handle)
        group.delete(use: handle)
    }

    @Sendable func handle(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let scope = try context.scope()
        guard let principal = context.principal else { throw ParleyError.unauthorized("authentication required") }
        var body: Data?
        if request.method == .post {
            // Bounded by ParleyRequestContext.maxBodyBytes (64 KiB): 413 beyond.
            let buffer = try await request.body.collect(upTo: context.maxUploadSize)
            if buffer.readableBytes > 0 { body = Data(buffer.readableBytesView) }
        }
        // The caller's tools; the endpoint uses them only when it makes a new MCP server.
        let tasks = TaskService(repository: try await stores.store(for: scope.tenant).tasks, user: scope.user)
        let wire = MCPWireRequest(
            method: request.method.rawValue, headers: Self.fields(of: request), body: body, path: request.uri.path,
            requestID: context.requestID, clientIP: context.clientIP)
        let reply = await endpoint.handle(
            wire, owner: MCPSessionOwner(principal: principal, scope: scope), executor: TaskToolExecutor(tasks: tasks))
        return Self.response(reply)
    }

    /// Hummingbird's header fields as the SDK's `[String: String]`, repeated fields joined.
    /// `Host` is not among `HTTPFields` (swift-http-types moves it to `:authority`): added back
    /// so that an `MCPOriginPolicy` with hosts can check it.
    static func fields(of request: Request) -> [String: String] {
        var fields: [String: String] = [:]
        for field in request.headers {
            let name = field.name.canonicalName
            if let earlier = fields[name] {
                fields[name] = earlier + ", " + field.value
            } else {
                fields[name] = field.value
            }
        }
        if let authority = request.head.authority { fields["host"] = authority }
        return fields
    }

    static let hopByHop: Set<String> = ["connection", "keep-alive", "transfer-encoding", "upgrade"]

    static func response(_ reply: MCPWireReply) -> Response {
        var headers = HTTPFields()
        for (name, value) in reply.headers {
            // The SDK adds `Connection: keep-alive` to SSE answers: hop-by-hop, the server's business
            // (and not allowed in HTTP/2).
            guard !Self.hopByHop.contains(name.lowercased()), let fieldName = HTTPField.Name(name) else { continue }
            headers[fieldName] = value
        }
        let status = HTTPResponse.Status(code: reply.status)
        switch reply.body {
        case .empty:
            return Response(status: status, headers: headers)
        case .data(let data):
            return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        case .eventStream(let events):
            // Frames come ready-made from the SDK (`id: …`, `event: message`, `data: …`, blank
            // line); write each as it comes so a tool's answer is not held in a buffer. If the
            // client goes away the write throws and the stream is dropped; the SDK finishes it
            // when the answer is routed or the session closes.
            return Response(
                status: status, headers: headers,
                body: ResponseBody { writer in
                    for try await chunk in events {
                        try await writer.write(ByteBuffer(bytes: chunk))
                    }
                    try await writer.finish(nil)
                })
        }
    }
}

// MARK: - Authorization discovery (RFC 9728 and the MCP authorization spec)

/// What `/.well-known/oauth-protected-resource` says about `/mcp`: which authorization servers
/// issue tokens for it. MCP clients find it from the `WWW-Authenticate` of a 401.
struct ProtectedResourceMetadata: Encodable, Sendable {
    let resource: String
    let authorizationServers: [String]
    let bearerMethodsSupported = ["header"]
    let resourceName = "Parley"

    enum CodingKeys: String, CodingKey {
        case resource
        case authorizationServers = "authorization_servers"
        case bearerMethodsSupported = "bearer_methods_supported"
        case resourceName = "resource_name"
    }
}

struct MCPDiscovery: Sendable {
    /// Parley's public base URL (`https://parley.example.com`), when configured; else taken from
    /// the request (`X-Forwarded-Proto` only when a trusted proxy is configured).
    let publicBaseURL: String?
    let trustForwardedProto: Bool
    /// The `issuer` URLs of the configured identity providers (the development issuer,
    /// `parley-dev`, is not a URL and is left out).
    let authorizationServers: [String]
    static let mcpPath = "/mcp"
    static let metadataPath = "/.well-known/oauth-protected-resource"

    func baseURL(of request: Request) -> String {
        if let publicBaseURL { return publicBaseURL.hasSuffix("/") ? String(publicBaseURL.dropLast()) : publicBaseURL }
        let forwarded = trustForwardedProto ? request.headers[.xForwardedProto]?.lowercased() : nil
        let scheme = forwarded ?? request.head.scheme ?? "http"
        return "\(scheme)://\(request.head.authority ?? "localhost")"
    }

    /// The value of `WWW-Authenticate` on a 401 from `/mcp`.
    func challenge(for request: Request) -> String {
        "Bearer resource_metadata=\"\(baseURL(of: request))\(Self.metadataPath)\(Self.mcpPath)\""
    }

    /// `GET /.well-known/oauth-protected-resource` and `…/mcp` (RFC 9728 §3.1 inserts the
    /// resource's path after the well-known prefix; MCP clients try both). No authentication.
    func addRoutes(to router: Router<ParleyRequestContext>) {
        let serve: @Sendable (Request, ParleyRequestContext) async throws -> Response = { request, _ in
            let metadata = ProtectedResourceMetadata(
                resource: baseURL(of: request) + Self.mcpPath, authorizationServers: authorizationServers)
            var response = try jsonResponse(metadata)
            response.headers[.cacheControl] = "public, max-age=3600"
            return response
        }
        router.get(RouterPath(Self.metadataPath), use: serve)
        router.get(RouterPath(Self.metadataPath + Self.mcpPath), use: serve)
    }
}

/// Outside `AuthMiddleware` on `/mcp`: a 401 carries `WWW-Authenticate: Bearer
/// resource_metadata="…"` (the MCP authorization spec), not the API's bare `Bearer`.
struct MCPChallengeMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext

    let discovery: MCPDiscovery

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            var problem = HTTPProblem.from(error)
            guard problem.status == .unauthorized else { throw error }
            problem.headers[.wwwAuthenticate] = discovery.challenge(for: request)
            throw problem
        }
    }
}

// MARK: - Audit of tool calls

extension Auditor {
    /// The audit event of a tool call served over MCP (the HTTP request itself is audited as
    /// `mcp.message` by `AuditMiddleware`; this says what it did).
    func recordToolCall(_ event: MCPToolCallEvent) {
        guard
            let audited = Self.toolCallEvent(
                event.record, tenant: event.owner?.tenant, actor: event.owner?.user.rawValue ?? "anonymous", ip: event.clientIP,
                requestID: event.requestID, detail: "mcp")
        else { return }
        queue.publish(audited)
    }
}
