import Foundation
import Logging
import ParleyCore
import ParleyRedis
import ParleyStore
import ServiceLifecycle

/// `parley worker`: one more audit worker on the Redis Stream, as its own process. It stores
/// events until SIGTERM or SIGINT; what it holds unacknowledged then is claimed by another worker.
public func runAuditWorker(
    redis: RedisConfiguration, consumer settings: RedisAuditConsumer.Settings, postgres: PostgresSettings?, dataDirectory: URL,
    metrics: any AuditMetrics, logger: Logger
) async throws {
    let storage = try await Storage.open(postgres: postgres, dataDirectory: dataDirectory, logger: logger)
    let pool = RedisConnectionPool(configuration: redis, logger: logger)
    let writer = AuditWriter(
        stores: storage.tenants, control: storage.control,
        deadLetterURL: dataDirectory.appendingPathComponent("audit-dead-letter.jsonl"), metrics: metrics, logger: logger)
    let consumer = RedisAuditConsumer(pool: pool, settings: settings, logger: logger)
    logger.info("audit worker started", metadata: ["worker": "\(consumer.name)", "storage": "\(storage.location)"])
    let group = ServiceGroup(
        configuration: .init(
            services: [AuditConsumerService(consumer: consumer, writer: writer, pool: pool, storage: storage)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await group.run()
}

struct AuditConsumerService: Service {
    let consumer: RedisAuditConsumer
    let writer: AuditWriter
    let pool: RedisConnectionPool
    let storage: Storage

    func run() async throws {
        let writer = self.writer
        await cancelWhenGracefulShutdown {
            await consumer.run(store: { events in try await writer.append(events) })
        }
        await pool.shutdown()
        try await storage.close()
    }
}
