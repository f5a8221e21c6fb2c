import Foundation
import ParleyCore
import PostgresNIO
import Testing

@testable import ParleyStore

/// Audit retention: the oldest events go, a checkpoint keeps the chain verifiable from there,
/// and tampering after the checkpoint is still caught. Event times stand in for the clock.
@Suite("Audit log retention")
struct AuditRetentionTests {
    static let day: TimeInterval = 86_400
    static let now = Date(timeIntervalSince1970: 1_796_000_000)

    func event(_ tenant: TenantID, _ index: Int, daysAgo: Double) -> AuditEvent {
        AuditEvent(
            time: Self.now.addingTimeInterval(-daysAgo * Self.day), tenant: tenant, actor: "alice", action: "task.create",
            object: "task:\(index)", outcome: .success)
    }

    /// Runs a statement straight on the tenant's audit table, as an attacker with the database would.
    func tamper(_ store: any TenantStore, _ sql: String) async throws {
        if let sqlite = store as? SQLiteTenantStore {
            try await sqlite.database.query(sql)
        } else if let postgres = store as? PostgresTenantStore {
            _ = try await postgres.database.run(PostgresQuery(unsafeSQL: sql.replacingOccurrences(of: "audit_log", with: postgres.schema.qualifier + "audit_log")))
        }
    }

    @Test(arguments: Backend.allCases) func oldEventsGoAndTheChainVerifiesFromTheCheckpoint(backend: Backend) async throws {
        let fixture = try await backend.fixture()
        let tenant = fixture.tenant("audited")
        let store = try await fixture.provider.store(for: tenant, provisioning: .createIfMissing)
        // 7 events from 400 down to 370 days ago, then 5 from the last days.
        let old = (0..<7).map { event(tenant, $0, daysAgo: 400 - Double($0) * 5) }
        let recent = (7..<12).map { event(tenant, $0, daysAgo: Double(12 - $0)) }
        let stored = try await store.audit.append(old + recent)
        let cutoff = Self.now.addingTimeInterval(-365 * Self.day)

        let dry = try await store.audit.purge(before: cutoff, dryRun: true)
        #expect(dry.purged == 7)
        #expect(dry.checkpoint == nil)
        #expect(try await store.audit.verifyChain().checked == 12)

        let report = try await store.audit.purge(before: cutoff, dryRun: false)
        #expect(report.purged == 7)
        #expect(report.checkpoint == AuditCheckpoint(sequence: stored[6].sequence, hash: stored[6].hash, purged: 7))
        let remaining = try await store.audit.query(AuditFilter(limit: 100))
        #expect(remaining.map(\.event.object) == (7..<12).reversed().map { "task:\($0)" })
        let verified = try await store.audit.verifyChain()
        #expect(verified.isIntact)
        #expect(verified.checked == 5)
        #expect(verified.checkpoint?.purged == 7)
        // Nothing more to purge; new events chain on.
        #expect(try await store.audit.purge(before: cutoff, dryRun: false).purged == 0)
        _ = try await store.audit.append([event(tenant, 12, daysAgo: 0)])
        #expect(try await store.audit.verifyChain().checked == 6)

        // An event edited after the checkpoint is caught…
        try await tamper(store, "UPDATE audit_log SET detail = 'edited' WHERE seq = \(stored[9].sequence)")
        let edited = try await store.audit.verifyChain()
        #expect(edited.firstBrokenSequence == stored[9].sequence)
        #expect(edited.problem == "its content does not match its hash")
        try await tamper(store, "UPDATE audit_log SET detail = NULL WHERE seq = \(stored[9].sequence)")
        #expect(try await store.audit.verifyChain().isIntact)
        // …and so is one deleted right after it.
        try await tamper(store, "DELETE FROM audit_log WHERE seq = \(stored[7].sequence)")
        let cut = try await store.audit.verifyChain()
        #expect(cut.firstBrokenSequence == stored[8].sequence)
        #expect(cut.problem?.contains("the checkpoint of the purge") == true)
    }

    @Test(arguments: Backend.allCases) func theNewestEventStaysSoTheChainGoesOn(backend: Backend) async throws {
        let fixture = try await backend.fixture()
        let tenant = fixture.tenant("quiet")
        let store = try await fixture.provider.store(for: tenant, provisioning: .createIfMissing)
        // Every event is old: all but the newest go.
        let stored = try await store.audit.append((0..<4).map { event(tenant, $0, daysAgo: 500 - Double($0)) })
        let report = try await store.audit.purge(before: Self.now, dryRun: false)
        #expect(report.purged == 3)
        #expect(try await store.audit.query(AuditFilter(limit: 10)).map(\.sequence) == [stored[3].sequence])
        _ = try await store.audit.append([event(tenant, 4, daysAgo: 0)])
        let verified = try await store.audit.verifyChain()
        #expect(verified.isIntact && verified.checked == 2)
        // An empty log purges nothing.
        let empty = try await fixture.provider.store(for: fixture.tenant("empty"), provisioning: .createIfMissing)
        #expect(try await empty.audit.purge(before: Self.now, dryRun: false) == AuditPurgeReport())
    }

    @Test(arguments: Backend.allCases) func aPurgeWhileEventsAreWrittenTouchesNothingNewer(backend: Backend) async throws {
        let fixture = try await backend.fixture()
        let tenant = fixture.tenant("busy")
        let store = try await fixture.provider.store(for: tenant, provisioning: .createIfMissing)
        _ = try await store.audit.append((0..<2_500).map { event(tenant, $0, daysAgo: 400) } + [event(tenant, 2_500, daysAgo: 1)])
        let cutoff = Self.now.addingTimeInterval(-365 * Self.day)
        // Writers append new events while the purge works through the old ones in batches.
        let purged = try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask { try await store.audit.purge(before: cutoff, dryRun: false).purged }
            for writer in 0..<3 {
                group.addTask {
                    for batch in 0..<10 { _ = try await store.audit.append([event(tenant, 10_000 + writer * 100 + batch, daysAgo: 0)]) }
                    return 0
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(purged == 2_500)
        #expect(try await store.audit.query(AuditFilter(limit: 1_000)).count == 31)
        let verified = try await store.audit.verifyChain()
        #expect(verified.isIntact, "\(verified.problem ?? "")")
        #expect(verified.checked == 31)
    }
}
