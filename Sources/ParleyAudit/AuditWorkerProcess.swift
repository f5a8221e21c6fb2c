import Foundation
import Logging
import ParleyRedis
import ParleyStore
import ServiceLifecycle

/// `parley worker`: one more audit worker on the Redis Stream, as its own process. It stores
/// events until SIGTERM or SIGINT; what it holds unacknowledged then is claimed by another worker.
public func runAuditWorker(configuration: ParleyConfiguration, logger: Logger) async throws {
    guard let settings = configuration.redis else {
        throw ConfigurationError(key: "redis.url", reason: "parley worker reads the audit queue in Redis: set redis.url")
    }
    let storage = try await Storage.open(postgres: configuration.postgres, dataDirectory: configuration.dataDirectoryURL, logger: logger)
    let pool = RedisConnectionPool(configuration: settings.connection, logger: logger)
    let writer = AuditWriter(
        stores: storage.tenants, control: storage.control,
        deadLetterURL: configuration.dataDirectoryURL.appendingPathComponent("audit-dead-letter.jsonl"), metrics: ParleyMetrics(),
        logger: logger)
    let consumer = RedisAuditConsumer(pool: pool, settings: settings.consumer, logger: logger)
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
