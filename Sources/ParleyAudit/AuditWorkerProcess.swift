import Foundation
import Logging
import ParleyCore
import ParleyRedis
import ParleyStore
import ServiceLifecycle

/// `parley worker`: one more audit worker on the Redis Stream, as its own process. It stores
/// events until SIGTERM or SIGINT; what it holds unacknowledged then is claimed by another worker.
public func runAuditWorker(
    redis: RedisConfiguration, consumer settings: RedisAuditConsumer.Settings, postgres: PostgresSettings?,
    migration: MigrationPolicy = .auto, dataDirectory: URL, metrics: any AuditMetrics, logger: Logger
) async throws {
    let storage = try await Storage.open(postgres: postgres, dataDirectory: dataDirectory, migration: migration, logger: logger)
    let pool = RedisConnectionPool(configuration: redis, logger: logger)
    let writer = AuditWriter(
        stores: storage.tenants, control: storage.control,
        deadLetterURL: dataDirectory.appendingPathComponent("audit-dead-letter.jsonl"), metrics: metrics, logger: logger)
    let consumer = RedisAuditConsumer(pool: pool, settings: settings, logger: logger)
    logger.info("audit worker started", metadata: ["worker": "\(consumer.name)", "storage": "\(storage.location)"])
    let group = ServiceGroup(
        configuration: .init(
            services: [
                AuditConsumerService(
                    consumer: consumer, writer: writer, pool: pool, storage: storage, waitForSchemas: migration == .off, logger: logger)
            ],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await group.run()
}

struct AuditConsumerService: Service {
    let consumer: RedisAuditConsumer
    let writer: AuditWriter
    let pool: RedisConnectionPool
    let storage: Storage
    /// With `database.migrate = off`: consume only once `parley migrate` has brought every schema
    /// up, so that a worker started before the migration job does not dead-letter events.
    let waitForSchemas: Bool
    let logger: Logger

    func run() async throws {
        let writer = self.writer
        await cancelWhenGracefulShutdown {
            if waitForSchemas { await waitUntilSchemasAreCurrent() }
            guard !Task.isCancelled else { return }
            await consumer.run(store: { events in try await writer.append(events) })
        }
        await pool.shutdown()
        try await storage.close()
    }

    private func waitUntilSchemasAreCurrent() async {
        var reported = ContinuousClock.now - .seconds(60)
        while !Task.isCancelled {
            let outdated: String
            do {
                let schemas = try await storage.schemas.outdatedSchemas()
                if schemas.isEmpty { return }
                outdated = schemas.map(\.description).joined(separator: "; ")
            } catch {
                outdated = "\(error)"
            }
            if ContinuousClock.now - reported >= .seconds(30) {
                logger.warning("waiting for `parley migrate` before storing audit events", metadata: ["schemas": "\(outdated)"])
                reported = .now
            }
            try? await Task.sleep(for: .seconds(2))
        }
    }
}
