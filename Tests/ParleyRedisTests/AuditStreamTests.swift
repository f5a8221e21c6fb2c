import Foundation
import Logging
import ParleyCore
import ParleyStore
import Synchronization
import Testing

@testable import ParleyRedis

/// The audit queue on a real Redis Stream, with events stored in real SQLite audit logs. Each
/// test works in a Redis database of its own, so streams of parallel tests never meet.
@Suite("Audit queue on a Redis Stream", .serialized)
struct AuditStreamTests {
    let logger = Logger(label: "test")

    /// A pool on a fresh Redis database (1–15 are free for tests), emptied first.
    func freshPool(_ database: Int) async throws -> RedisConnectionPool {
        let pool = try TestRedis.pool { $0.database = database }
        _ = try await pool.send(RESPCommand("FLUSHDB"))
        return pool
    }

    func provider() throws -> SQLiteStoreProvider {
        try SQLiteStoreProvider(
            dataDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("parley-audit-\(UUID().uuidString)"),
            logger: logger)
    }

    func events(_ count: Int, tenant: TenantID) -> [AuditEvent] {
        (0..<count).map { AuditEvent(tenant: tenant, actor: "alice", action: "task.create", object: "task:\($0)", outcome: .success) }
    }

    /// Waits until `condition` holds, for at most `seconds`.
    func eventually(_ seconds: Double = 10, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }

    @Test func everyPublishedEventIsStoredOnceAndTheStreamEmpties() async throws {
        let pool = try await freshPool(3)
        let stores = try provider()
        let tenant = TenantID("acme")!
        let log = try await stores.store(for: tenant, provisioning: .createIfMissing).audit
        let stream = RedisAuditStream(client: pool, logger: logger, spill: { _ in Issue.record("nothing should spill") })
        let consumer = RedisAuditConsumer(pool: pool, logger: logger)
        let publishing = Task { await stream.run() }
        let working = Task { await consumer.run(store: { _ = try await log.append($0) }) }
        for event in events(300, tenant: tenant) { stream.publish(event) }
        #expect(try await eventually { try await log.query(AuditFilter(limit: 1000)).count == 300 })
        #expect(try await eventually { try await pool.xlen(RedisAuditKeys.stream) == 0 })
        let stored = try await log.query(AuditFilter(limit: 1000))
        #expect(Set(stored.compactMap(\.event.id)).count == 300)
        #expect(try await log.verifyChain().checked == 300)
        stream.finish()
        await publishing.value
        working.cancel()
        await working.value
        await pool.shutdown()
    }

    @Test func eventsADeadWorkerHeldAreClaimedAndStoredOnce() async throws {
        let pool = try await freshPool(4)
        let stores = try provider()
        let tenant = TenantID("acme")!
        let log = try await stores.store(for: tenant, provisioning: .createIfMissing).audit
        let stream = RedisAuditStream(client: pool, logger: logger, spill: { _ in })
        let publishing = Task { await stream.run() }
        for event in events(50, tenant: tenant) { stream.publish(event) }
        #expect(try await eventually { try await pool.xlen(RedisAuditKeys.stream) == 50 })

        // The first worker reads a batch and dies before storing it (it holds each batch a while).
        var slow = RedisAuditConsumer.Settings()
        slow.writeDelay = .seconds(30)
        let doomed = RedisAuditConsumer(pool: pool, name: "doomed", settings: slow, logger: logger)
        let dying = Task { await doomed.run(store: { _ = try await log.append($0) }) }
        #expect(try await eventually { (try? await pool.xpendingSummary(RedisAuditKeys.stream, group: RedisAuditKeys.group))?.count == 50 })
        dying.cancel()

        var quick = RedisAuditConsumer.Settings()
        quick.claimIdle = .milliseconds(300)
        quick.claimInterval = .milliseconds(100)
        let survivor = RedisAuditConsumer(pool: pool, name: "survivor", settings: quick, logger: logger)
        let working = Task { await survivor.run(store: { _ = try await log.append($0) }) }
        #expect(try await eventually { try await log.query(AuditFilter(limit: 1000)).count == 50 })
        #expect(try await eventually { try await pool.xpendingSummary(RedisAuditKeys.stream, group: RedisAuditKeys.group).count == 0 })
        #expect(Set(try await log.query(AuditFilter(limit: 1000)).compactMap(\.event.id)).count == 50)
        stream.finish()
        await publishing.value
        working.cancel()
        await working.value
        await dying.value
        await pool.shutdown()
    }

    @Test func eventsThatKeepFailingAreDeadLetteredThenReplayedOnce() async throws {
        let pool = try await freshPool(5)
        let stores = try provider()
        let tenant = TenantID("acme")!
        let log = try await stores.store(for: tenant, provisioning: .createIfMissing).audit
        let stream = RedisAuditStream(client: pool, logger: logger, spill: { _ in })
        let publishing = Task { await stream.run() }
        let broken = Mutex(true)
        var settings = RedisAuditConsumer.Settings()
        settings.claimIdle = .milliseconds(100)
        settings.claimInterval = .milliseconds(50)
        settings.maxDeliveries = 3
        let consumer = RedisAuditConsumer(pool: pool, settings: settings, logger: logger)
        let working = Task {
            await consumer.run(store: { events in
                if broken.withLock({ $0 }) { throw ParleyError.unavailable("the database is down") }
                _ = try await log.append(events)
            })
        }
        for event in events(3, tenant: tenant) { stream.publish(event) }
        let deadLetters = RedisAuditDeadLetters(pool: pool)
        #expect(try await eventually { try await deadLetters.list(limit: 10).count == 3 })
        #expect(try await pool.xlen(RedisAuditKeys.stream) == 0)
        let listed = try await deadLetters.list(limit: 10)
        #expect(listed.allSatisfy { $0.reason.contains("the database is down") && $0.event?.tenant == tenant })

        broken.withLock { $0 = false }
        for entry in listed { #expect(try await deadLetters.replay(entry.id)) }
        #expect(try await deadLetters.replay(listed[0].id) == false)
        #expect(try await eventually { try await log.query(AuditFilter(limit: 10)).count == 3 })
        #expect(try await deadLetters.list(limit: 10).isEmpty)
        stream.finish()
        await publishing.value
        working.cancel()
        await working.value
        await pool.shutdown()
    }

    @Test func whileRedisIsDownEventsWaitInTheOutboxAndSpillAtShutdown() async throws {
        var configuration = RedisConfiguration(host: "127.0.0.1", port: 1)
        configuration.reconnectBackoff = .milliseconds(50)
        let down = RedisConnectionPool(configuration: configuration, logger: logger)
        let spilled = Mutex<[AuditEvent]>([])
        let stream = RedisAuditStream(client: down, logger: logger, spill: { events in spilled.withLock { $0 += events } })
        let publishing = Task { await stream.run(drainTimeout: .milliseconds(300)) }
        for event in events(10, tenant: TenantID("acme")!) { stream.publish(event) }
        try await Task.sleep(for: .milliseconds(200))
        #expect(stream.depth == 10)
        stream.finish()
        await publishing.value
        #expect(spilled.withLock { $0.map(\.object) } == (0..<10).map { "task:\($0)" })
        #expect(spilled.withLock { $0.allSatisfy { $0.id != nil } })
    }
}
