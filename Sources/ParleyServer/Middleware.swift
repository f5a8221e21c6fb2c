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
}

/// Who a request turned out to be, filled in by `AuthMiddleware` and read back by the access
/// log (middleware further in gets a copy of the context, so this is a shared box).
final class RequestTrace: Sendable {
    private let state = Mutex<(tenant: String?, user: String?)>((nil, nil))

    func identify(tenant: TenantID, user: UserID) {
        state.withLock { $0 = (tenant.rawValue, user.rawValue) }
    }

    var identity: (tenant: String?, user: String?) { state.withLock { $0 } }
}

/// The outermost middleware: gives every request an id, turns every error into problem+json,
/// refuses oversized bodies up front, and writes one access log line and the HTTP metrics.
struct ObservationMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext

    let metrics: ParleyMetrics
    let accessLogger: Logger

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        var context = context
        let requestID = Self.requestID(from: request.headers[.xRequestID])
        context.requestID = requestID
        context.logger[metadataKey: "request_id"] = .string(requestID)
        let trace = RequestTrace()
        context.trace = trace

        var response: Response
        do {
            if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > Context.maxBodyBytes {
                throw HTTPProblem(status: .contentTooLarge, detail: HTTPProblem.defaultDetail(.contentTooLarge))
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

        let route = context.endpointPath ?? "unmatched"
        let duration = ContinuousClock.now - start
        metrics.recordRequest(
            method: request.method.rawValue, route: route, status: response.status.code, duration: duration)
        let identity = trace.identity
        var metadata: Logger.Metadata = [
            "request_id": .string(requestID),
            "method": .string(request.method.rawValue),
            "route": .string(route),
            "path": .string(request.uri.path),
            "status": .stringConvertible(response.status.code),
            "duration_ms": .string(String(format: "%.3f", Self.milliseconds(duration))),
        ]
        if let tenant = identity.tenant { metadata["tenant"] = .string(tenant) }
        if let user = identity.user { metadata["user"] = .string(user) }
        accessLogger.info("request", metadata: metadata)
        return response
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1_000 + Double(duration.components.attoseconds) / 1e15
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
        return UUID().uuidString.lowercased()
    }
}

/// Verifies the bearer token and settles the tenant: `X-Tenant-ID` when given (it must be one
/// the token grants), else the token's only tenant.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext

    let verifier: any TokenVerifier

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw ParleyError.unauthorized("missing bearer token")
        }
        guard header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw ParleyError.unauthorized("the Authorization header must be: Bearer <token>")
        }
        let principal: Principal
        do {
            principal = try await verifier.verify(String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces))
        } catch let error as AuthError {
            context.logger.notice("token refused", metadata: ["reason": .string(error.reason)])
            throw ParleyError.unauthorized("invalid or expired token")
        }
        let tenant: TenantID
        if let requested = request.headers[.xTenantID] {
            guard let id = TenantID(requested) else {
                throw HTTPProblem.malformed("X-Tenant-ID must match ^[a-z][a-z0-9_]{0,62}$", field: "X-Tenant-ID")
            }
            guard principal.tenants.contains(id) else {
                throw ParleyError.forbidden("the token does not grant tenant \(id)")
            }
            tenant = id
        } else if principal.tenants.count == 1 {
            tenant = principal.tenants[0]
        } else if principal.tenants.isEmpty {
            throw ParleyError.forbidden("the token grants no tenant")
        } else {
            throw HTTPProblem.malformed("the token grants several tenants: choose one with X-Tenant-ID", field: "X-Tenant-ID")
        }
        var context = context
        context.principal = principal
        context.tenant = tenant
        context.logger[metadataKey: "tenant"] = .string(tenant.rawValue)
        context.logger[metadataKey: "user"] = .string(principal.user.rawValue)
        context.trace?.identify(tenant: tenant, user: principal.user)
        return try await next(request, context)
    }
}
