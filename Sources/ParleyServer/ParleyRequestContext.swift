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
    public var principal: Principal?
    public var tenant: TenantID?
    var trace: RequestTrace?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    public var maxUploadSize: Int { Self.maxBodyBytes }

    /// The caller's scope; only routes behind `AuthMiddleware` use it.
    func scope() throws -> Scope {
        guard let principal, let tenant else { throw ParleyError.unauthorized("authentication required") }
        return Scope(tenant: tenant, user: principal.user)
    }
}
