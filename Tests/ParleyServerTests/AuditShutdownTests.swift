import Foundation
import Logging
import ParleyAudit
import ParleyCore
import ParleyServer
import ParleyStore
import ServiceLifecycle
import Testing

/// A database that is down must not hold shutdown: once `audit.shutdownTimeoutSeconds` have
/// passed, what is still queued goes to the dead-letter file, and nothing is dropped.
@Suite struct AuditShutdownTests {
    @Test func aDatabaseThatIsDownCannotHoldShutdown() async throws {
        let logger = Logger(label: "test")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-audit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let deadLetters = directory.appendingPathComponent("audit-dead-letter.jsonl")
        // Nothing listens on port 1: every store call fails (within the 1 s store timeout).
        let settings = try #require(PostgresSettings(url: "postgres://parley:x@127.0.0.1:1/parley?sslmode=disable", poolSize: 1, timeout: .seconds(1)))
        let database = try await PostgresDatabase.open(settings: settings, migration: .off, logger: logger)
        let writer = AuditWriter(
            stores: PostgresStoreProvider(database: database, migration: .off, logger: logger), control: PostgresControlStore(database: database),
            deadLetterURL: deadLetters, metrics: ParleyMetrics(), logger: logger)
        let queue = InProcessAuditQueue()
        for number in 1...3 {
            queue.publish(AuditEvent(tenant: TenantID("acme"), actor: "alice", action: "task.create", object: "task:\(number)", outcome: .success))
        }
        let worker = AuditWorker(mode: .inProcess(queue), writer: writer, metrics: ParleyMetrics(), shutdownTimeout: .seconds(1))
        let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))

        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await Task.sleep(for: .milliseconds(200))
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        // Unbounded, five attempts with back-off (50 ms … 3.2 s) take 4–9 s; bounded: the 200 ms
        // before the shutdown, the 1 s, and at most the (refused, so short) store call in flight.
        // The rest is room for a loaded test machine.
        let took = ContinuousClock.now - started
        #expect(took < .seconds(3.5), "shutdown took \(took)")
        let lines = try String(contentsOf: deadLetters, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.allSatisfy { $0.contains(#""action":"task.create""#) })
        await database.close()
    }
}
