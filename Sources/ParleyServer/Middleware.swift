import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ParleyAuth
import ParleyCore
import Synchronization

extension HTTPField.Name {
    static let xRequestID = Self("X-Request-ID")!
    static let xTenantID = Self("X-Tenant-ID")!
    static let xForwardedFor = Self("X-Forwarded-For")!
    static let xForwardedProto = Self("X-Forwarded-Proto")!
    static let xFrameOptions = Self("X-Frame-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
}

/// What inner middleware and handlers learn about a request and outer middleware reports
/// (middleware further in gets a copy of the context, so this is a shared box): who the caller
/// turned out to be, the rate-limit decisions for the headers, and what the audit event names.
final class RequestTrace: Sendable {
    struct State {
        var tenant: String?
        var user: String?
        var rateLimits: [RateLimitDecision] = []
        var auditObject: String?
        var auditDetail: String?
        /// Instead of the caller's id (an erased user's pseudonym).
        var auditActor: String?
    }

    private let state = Mutex(State())

    func identify(tenant: TenantID?, user: UserID) {
        state.withLock {
            $0.tenant = tenant?.rawValue
            $0.user = user.rawValue
        }
    }

    func noteRateLimit(_ decision: RateLimitDecision) {
        state.withLock { $0.rateLimits.append(decision) }
    }

    /// Names the object a request acted on (e.g. the conversation a chat turn created).
    func noteAudit(object: String?, detail: String? = nil, actor: String? = nil) {
        state.withLock {
            if let object { $0.auditObject = object }
            if let detail { $0.auditDetail = detail }
            if let actor { $0.auditActor = actor }
        }
    }

    var snapshot: State { state.withLock { $0 } }
}

/// The outermost middleware: gives every request an id, turns every error into problem+json,
/// refuses oversized bodies up front, and writes one access log line and the HTTP metrics.
struct ObservationMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext

    let metrics: ParleyMetrics
    let accessLogger: Logger
    let clientAddress: ClientAddressPolicy

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        var context = context
        let requestID = Self.requestID(from: request.headers[.xRequestID])
        context.requestID = requestID
        context.clientIP = clientAddress.clientIP(peer: context.peerIP, forwardedFor: request.headers[values: .xForwardedFor])
        context.logger[metadataKey: "request_id"] = .string(requestID)
        let trace = RequestTrace()
        context.trace = trace

        var response: Response
        do {
            if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > Context.maxBodyBytes {
                throw HTTPProblem(status: .contentTooLarge, detail: HTTPProblem.defaultDetail(.contentTooLarge))
            }
            // U+0000 in a path or query parameter: refused for the same reason as in a body.
            if request.uri.description.range(of: "%00", options: .caseInsensitive) != nil {
                throw HTTPProblem.malformed("the URL " + TaskService.noNUL)
            }
            response = try await next(request, context)
        } catch {
            let problem = HTTPProblem.from(error)
            if problem.status == .internalServerError {
                context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            response = problem.response(requestID: requestID, path: request.uri.path)
        }
        response.headers[.xRequestID] = requestID
        let identity = trace.snapshot
        // A 429 already names the limit that refused it; the others' headers would contradict it.
        if response.headers[RateLimitHeaders.policyName] == nil {
            RateLimitHeaders.apply(identity.rateLimits, to: &response.headers)
        }

        let route = context.endpointPath ?? "unmatched"
        let duration = ContinuousClock.now - start
        metrics.recordRequest(
            method: request.method.rawValue, route: route, status: response.status.code, duration: duration)
        // The access line is info: with logs at warning or above, not even its fields are made.
        guard accessLogger.logLevel <= .info else { return response }
        var metadata: Logger.Metadata = [
            "request_id": .string(requestID),
            "method": .string(request.method.rawValue),
            "route": .string(route),
            "path": .string(request.uri.path),
            "status": .stringConvertible(response.status.code),
            "duration_ms": .string(String(format: "%.3f", duration.milliseconds)),
        ]
        if let ip = context.clientIP { metadata["ip"] = .string(ip) }
        if let tenant = identity.tenant { metadata["tenant"] = .string(tenant) }
        if let user = identity.user { metadata["user"] = .string(user) }
        accessLogger.info("request", metadata: metadata)
        return response
    }


    /// Echoes a caller's id when it is safe to log, else makes one.
    static func requestID(from header: String?) -> String {
        if let header, (1...128).contains(header.utf8.count),
            header.utf8.allSatisfy({ byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == 0x2D || byte == 0x5F || byte == 0x2E || byte == 0x3A
            })
        {
            return header
        }
        return UUID.random().uuidString.lowercased()
    }
}

/// Verifies the bearer token and settles the tenant: `X-Tenant-ID` when given (it must be one
/// the token grants), else the token's only tenant. Every refusal is counted against the client
/// IP (the client stage in front turns away an IP with too many) and audited.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext

    /// The limit on refused tokens, per client IP.
    static func failureKey(_ context: Context) -> String { "auth-failure:" + (context.clientIP ?? "unknown") }

    let verifier: any TokenVerifier
    let limits: RateLimitGate
    let auditor: Auditor
    let metrics: ParleyMetrics

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        // The client stage in front of this middleware has looked at this client's refused tokens.
        let failureKey = Self.failureKey(context)
        let principal: Principal
        do {
            principal = try await verify(request.headers[.authorization])
        } catch let error as AuthError {
            // Limits the client stage left for later apply all the same (and refuse first).
            try await limits.enforce(context.deferredLimits, context: context)
            context.logger.notice("token refused", metadata: ["reason": .string(error.reason)])
            metrics.recordAuthFailure()
            auditor.record(context, action: "auth.token", outcome: .denied, detail: error.reason)
            if let policy = limits.settings.authFailures {
                _ = try? await limits.limiter.check(failureKey, policy: policy, consume: true)
            }
            throw ParleyError.unauthorized(
                request.headers[.authorization] == nil ? "missing bearer token" : "invalid or expired token")
        }
        var context = context
        context.principal = principal
        context.logger[metadataKey: "user"] = .string(principal.user.rawValue)
        do {
            switch try Self.tenant(for: principal, requested: request.headers[.xTenantID]) {
            case .settled(let tenant):
                context.tenant = tenant
                context.logger[metadataKey: "tenant"] = .string(tenant.rawValue)
            case .unsettled(let problem):
                // Routes that need a tenant refuse with this; admin routes that do not, proceed.
                context.tenantProblem = problem
            }
        } catch let error as ParleyError {
            // The header names a tenant the token does not grant. The principal stage will not
            // run, so the client limits it was to check are checked here (and refuse first).
            try await limits.enforce(context.deferredLimits, context: context)
            auditor.record(context, action: "auth.tenant", outcome: .denied, detail: "tenant not granted by the token")
            throw error
        }
        context.trace?.identify(tenant: context.tenant, user: principal.user)
        return try await next(request, context)
    }

    private func verify(_ header: String?) async throws -> Principal {
        guard let header else { throw AuthError("no Authorization header") }
        guard let token = Self.bearerToken(header) else { throw AuthError("the Authorization header is not a bearer token") }
        return try await verifier.verify(token)
    }

    /// The token of `Authorization: Bearer <token>` (the scheme in any case, spaces and tabs
    /// around the token dropped). Byte by byte: Foundation's `trimmingCharacters` on a token of a
    /// few hundred bytes cost more than the rest of authentication.
    static func bearerToken(_ header: String?) -> String? {
        guard let header else { return nil }
        let bytes = header.utf8
        guard bytes.count > 7, zip(bytes.prefix(7), "bearer ".utf8).allSatisfy({ ($0 | 0x20) == $1 }) else { return nil }
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
        var start = bytes.index(bytes.startIndex, offsetBy: 7)
        var end = bytes.endIndex
        while start < end, isSpace(bytes[start]) { start = bytes.index(after: start) }
        while end > start, isSpace(bytes[bytes.index(before: end)]) { end = bytes.index(before: end) }
        return String(header[start..<end])
    }

    enum TenantResolution {
        case settled(TenantID)
        case unsettled(HTTPProblem)
    }

    static func tenant(for principal: Principal, requested: String?) throws -> TenantResolution {
        if let requested {
            guard let id = TenantID(requested) else {
                throw HTTPProblem.malformed("X-Tenant-ID must match ^[a-z][a-z0-9_]{0,62}$", field: "X-Tenant-ID")
            }
            guard principal.tenants.contains(id) else {
                throw ParleyError.forbidden("the token does not grant tenant \(id)")
            }
            return .settled(id)
        }
        switch principal.tenants.count {
        case 1: return .settled(principal.tenants[0])
        case 0: return .unsettled(HTTPProblem(status: .forbidden, detail: "the token grants no tenant"))
        default:
            return .unsettled(
                .malformed("the token grants several tenants: choose one with X-Tenant-ID", field: "X-Tenant-ID"))
        }
    }
}
