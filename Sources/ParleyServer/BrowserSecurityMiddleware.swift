import HTTPTypes
import Hummingbird

/// The outermost middleware: secure headers on every response, and CORS for the configured
/// origins only (preflights answered here; other origins get no CORS headers, so browsers
/// refuse to hand them the response).
struct BrowserSecurityMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext

    let allowedOrigins: Set<String>
    let alwaysHSTS: Bool
    /// Trust `X-Forwarded-Proto` (set by our own proxy) to tell that the client used TLS.
    let trustForwardedProto: Bool

    static let allowedMethods = "GET, POST, PATCH, DELETE, OPTIONS"
    static let allowedHeaders = "Authorization, Content-Type, X-Tenant-ID, X-Request-ID, Accept"
    static let exposedHeaders = "X-Request-ID, Retry-After, RateLimit, RateLimit-Policy"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let origin = request.headers[.origin]
        let allowed = origin.map(isAllowed) ?? false
        var response: Response
        if request.method == .options, origin != nil, request.headers[.accessControlRequestMethod] != nil {
            response = Response(status: .noContent)
            if allowed {
                response.headers[.accessControlAllowMethods] = Self.allowedMethods
                response.headers[.accessControlAllowHeaders] = Self.allowedHeaders
                response.headers[.accessControlMaxAge] = "600"
            }
        } else {
            response = try await next(request, context)
        }
        if let origin, allowed {
            response.headers[.accessControlAllowOrigin] = origin
            response.headers[.accessControlExposeHeaders] = Self.exposedHeaders
        }
        if !allowedOrigins.isEmpty { response.headers[values: .vary].append("Origin") }

        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "no-referrer"
        response.headers[.xFrameOptions] = "DENY"
        if response.headers[.contentSecurityPolicy] == nil {
            response.headers[.contentSecurityPolicy] = "default-src 'none'; frame-ancestors 'none'"
        }
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        if alwaysHSTS || (trustForwardedProto && request.headers[.xForwardedProto]?.lowercased() == "https") {
            response.headers[.strictTransportSecurity] = "max-age=31536000; includeSubDomains"
        }
        return response
    }

    func isAllowed(_ origin: String) -> Bool {
        allowedOrigins.contains("*") || allowedOrigins.contains(origin)
    }
}
