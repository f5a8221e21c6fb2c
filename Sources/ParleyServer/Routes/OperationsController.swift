import Foundation
import Hummingbird
import JWTKit
import ParleyAuth
import ParleyCore

/// Liveness, readiness, metrics and the development issuer's public keys.
struct OperationsController {
    let stores: TenantStores
    let metrics: ParleyMetrics
    let devIssuer: DevelopmentIssuer?

    func addRoutes(to router: Router<ParleyRequestContext>) {
        router.get("api/v1/healthz") { _, _ in try jsonResponse(["status": "ok"]) }
        router.get("api/v1/readyz", use: readiness)
        router.get("metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.render())))
        }
        if let devIssuer {
            let jwks = (try? JSONEncoder().encode(devIssuer.jwks)) ?? Data()
            router.get(".well-known/jwks.json") { _, _ in
                Response(
                    status: .ok, headers: [.contentType: "application/json", .cacheControl: "max-age=300"],
                    body: .init(byteBuffer: ByteBuffer(bytes: jwks)))
            }
        }
    }

    struct Readiness: Encodable {
        let status: String
        let checks: [String: String]
    }

    @Sendable func readiness(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        do {
            try await stores.provider.checkHealth()
            return try jsonResponse(Readiness(status: "ready", checks: ["database": "ok"]))
        } catch {
            return try jsonResponse(
                Readiness(status: "unavailable", checks: ["database": "\(error)"]), status: .serviceUnavailable)
        }
    }
}
