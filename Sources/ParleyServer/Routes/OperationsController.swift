import Foundation
import Hummingbird
import JWTKit
import ParleyAuth
import ParleyCore
import ParleyModels
import ParleyRedis
import ParleyStore

/// Liveness, readiness, metrics and the development issuer's public keys.
struct OperationsController {
    let stores: TenantStores
    let metrics: ParleyMetrics
    let devIssuer: DevelopmentIssuer?
    let router: ModelRouter?
    let localModels: [LlamaServerSupervisor]
    let redis: RedisConnectionPool?
    /// Whether rate-limited requests go ahead while Redis is down (then Redis down only degrades).
    let failOpen: Bool
    /// With `database.migrate = off`: the schemas must be current before this process is ready.
    let schemas: (any SchemaStatus)?
    let drain: DrainState

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
        /// Per provider: `ready`/`starting` for a local server Parley runs, and what the tool probe found.
        let models: [String: ModelStatus]?
    }

    struct ModelStatus: Encodable {
        let server: String?
        let tools: String
    }

    /// Ready when the database answers (with `database.migrate = off`: and every schema is
    /// current) and every local model server Parley runs is up. Remote providers do not count:
    /// their outages are what fallback is for. Redis down is `degraded` (still 200) when limits
    /// fail open, and not ready when they fail closed. Draining (after SIGTERM) is never ready.
    @Sendable func readiness(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        if drain.isDraining {
            return try jsonResponse(Readiness(status: "draining", checks: [:], models: nil), status: .serviceUnavailable)
        }
        var checks: [String: String] = [:]
        var ready = true
        do {
            try await stores.provider.checkHealth()
            checks["database"] = "ok"
        } catch {
            checks["database"] = "\(error)"
            ready = false
        }
        if let schemas, ready {
            do {
                let outdated = try await schemas.outdatedSchemas()
                checks["schema"] = outdated.isEmpty ? "ok" : outdated.map(\.description).joined(separator: "; ")
                if !outdated.isEmpty { ready = false }
            } catch {
                checks["schema"] = "\(error)"
                ready = false
            }
        }
        var degraded = false
        if let redis {
            do {
                try await redis.checkHealth(timeout: .seconds(1))
                checks["redis"] = "ok"
            } catch {
                checks["redis"] = "\(error)"
                // Fail-closed: every limited request would be refused, so this replica is not ready.
                if failOpen { degraded = true } else { ready = false }
            }
        }
        var models: [String: ModelStatus]?
        if let router {
            var statuses: [String: ModelStatus] = [:]
            for (name, provider) in router.providers {
                let local = localModels.first { $0.name == name }
                statuses[name] = ModelStatus(server: local.map { $0.isHealthy ? "ready" : "starting" }, tools: provider.capability.rawValue)
                if let local, !local.isHealthy { ready = false }
            }
            models = statuses
        }
        let body = Readiness(status: !ready ? "unavailable" : degraded ? "degraded" : "ready", checks: checks, models: models)
        // Draining is left out above: a replica on its way out is expected to be unready.
        metrics.recordReadiness(ready)
        return try jsonResponse(body, status: ready ? .ok : .serviceUnavailable)
    }
}
