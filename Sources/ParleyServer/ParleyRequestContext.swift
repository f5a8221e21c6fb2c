import Foundation
import Hummingbird
import Logging
import ParleyCore

/// Per-request state: the request id, and once authenticated, who is calling and in which tenant.
public struct ParleyRequestContext: RequestContext {
    /// Request bodies larger than this are refused with 413 before they are read.
    public static let maxBodyBytes = 64 * 1024

    public var coreContext: CoreRequestContextStorage
    public var requestID: String = ""
    /// The caller's address: the peer, or the client a trusted proxy names (`http.forwardedHops`).
    public var clientIP: String?
    /// The peer's address as the socket reports it.
    let peerIP: String?
    public var principal: Principal?
    /// The tenant the request acts in, once settled by `AuthMiddleware`.
    public var tenant: TenantID?
    /// Why no tenant could be settled (the token grants none, or several without `X-Tenant-ID`).
    var tenantProblem: (any Error & Sendable)?
    /// The client stage's limits, left to the principal stage's round trip because the request's
    /// token verified moments ago (`RateLimitMiddleware`).
    var deferredLimits: [RateLimitCheck] = []
    var trace: RequestTrace?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peerIP = source.channel.remoteAddress?.ipAddress
    }

    public var maxUploadSize: Int { Self.maxBodyBytes }

    /// The caller's scope; only routes behind `AuthMiddleware` use it.
    func scope() throws -> Scope {
        guard let principal else { throw ParleyError.unauthorized("authentication required") }
        guard let tenant else { throw tenantProblem ?? ParleyError.forbidden("the token grants no tenant") }
        return Scope(tenant: tenant, user: principal.user)
    }

    /// The caller, who must hold the admin role.
    func admin() throws -> Principal {
        guard let principal else { throw ParleyError.unauthorized("authentication required") }
        guard principal.isAdmin else { throw ParleyError.forbidden("this needs the admin role") }
        return principal
    }
}
