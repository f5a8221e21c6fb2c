import Foundation
import HTTPTypes
import HummingbirdTesting
import ParleyCore
import ParleyServer
import Testing

/// Message retention as the server runs it: the configured days, a tenant's own `retention.days`
/// flag, a dry run that changes nothing, the audit event and the metric, with a clock moved ahead.
@Suite("Retention")
struct RetentionTests {
    @Test func eachTenantKeepsItsMessagesAsLongAsItsSettingSays() async throws {
        let parley = TestParley()
        let admin = try await parley.token("root", tenants: ["acme", "keep", "long"], admin: true)
        let alice = try await parley.token("alice", tenants: ["acme", "keep", "long"])
        try await parley.run { client, services in
            for tenant in ["acme", "keep", "long"] {
                let reply = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("add a task to buy milk"), tenant: tenant)
                #expect(reply.status == .ok)
            }
            // A tenant's flag overrides the configured 30 days: 0 keeps everything, 60 keeps these.
            for (tenant, days) in [("keep", 0), ("long", 60)] {
                let changed = try await client.send(.patch, "/api/v1/admin/flags", token: admin, json: #"{"retention.days": \#(days)}"#, tenant: tenant)
                #expect(changed.status == .ok, "\(changed.text)")
            }
            for bad in ["-1", "1.5", "\"30\"", "36501"] {
                try await client.send(.patch, "/api/v1/admin/flags", token: admin, json: #"{"retention.days": \#(bad)}"#, tenant: "acme")
                    .expectProblem(.unprocessableContent, field: "retention.days")
            }
            func history(_ tenant: String) async throws -> [JSONValue] {
                try await client.send(.get, "/api/v1/chat/history", token: alice, tenant: tenant).json["messages"]?.arrayValue ?? []
            }

            // 31 days from now, the messages written above are past acme's 30 days.
            let purger = services.retentionPurger(now: { Date().addingTimeInterval(31 * 86_400) })
            let dry = Dictionary(uniqueKeysWithValues: try await purger.purgeAll(dryRun: true).map { ($0.tenant.rawValue, $0) })
            #expect(dry["acme"]?.report?.messages == 2)
            #expect(dry["acme"]?.summary.contains("would remove 2 messages, 1 conversations, 0 feedback") == true, "\(dry["acme"]?.summary ?? "")")
            #expect(dry["keep"]?.report == nil && dry["keep"]?.summary.contains("keeps every message") == true)
            #expect(dry["long"]?.report?.messages == 0 && dry["long"]?.days == 60)
            #expect(try await history("acme").count == 2)

            let done = Dictionary(uniqueKeysWithValues: try await purger.purgeAll(dryRun: false).map { ($0.tenant.rawValue, $0) })
            #expect(done["acme"]?.report?.messages == 2 && done["acme"]?.report?.conversations == 1)
            #expect(try await history("acme").isEmpty)
            #expect(try await history("keep").count == 2)
            #expect(try await history("long").count == 2)
            // Tasks are not messages: the one the chat added stays.
            #expect(try await client.send(.get, "/api/v1/tasks", token: alice, tenant: "acme").json["tasks"]?.arrayValue?.count == 1)

            let events = try await client.auditEvents(token: admin, query: "action=retention", tenant: "acme") { !$0.isEmpty }
            #expect(events.first?["actor"] == "parley")
            #expect(events.first?["detail"]?.stringValue?.hasPrefix("2 messages, 1 conversations, 0 feedback older than") == true)
            let metrics = try await client.send(.get, "/metrics", token: nil).text
            #expect(metrics.contains(#"parley_retention_purged_total{kind="messages"} 2"#))
            #expect(metrics.contains(#"parley_retention_purged_total{kind="conversations"} 1"#))
        }
    }

    @Test func auditEventsAgeOutAndTheChainStillVerifies() async throws {
        var parley = TestParley()
        parley.configuration.retention.auditDays = 365
        let admin = try await parley.token("root", admin: true)
        let alice = try await parley.token("alice")
        try await parley.run { client, services in
            for index in 0..<3 {
                _ = try await client.send(.post, "/api/v1/tasks", token: alice, json: #"{"title": "task \#(index)"}"#)
            }
            // Bad tokens: events of the system log.
            for _ in 0..<2 { _ = try await client.send(.get, "/api/v1/tasks", token: "not-a-token") }
            // Read from the store, not the API: an admin's read would be one more event on its way.
            let store = try await services.storeProvider.store(for: TenantID("acme")!, provisioning: .existingOnly)
            for _ in 0..<100 {
                let tasks = try await store.audit.query(AuditFilter(action: "task.create", limit: 10)).count
                let refused = try await services.control.systemAudit.query(AuditFilter(limit: 10)).count
                if tasks == 3 && refused >= 2 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            let stored = try await store.audit.query(AuditFilter(limit: 100)).count
            #expect(stored == 3)

            // A year and a day on, every event is past 365 days: all but the newest go.
            let purger = services.retentionPurger(now: { Date().addingTimeInterval(366 * 86_400) })
            let dry = try await purger.purge(TenantID("acme")!, dryRun: true)
            #expect(dry.audit?.purged == stored - 1)
            #expect(try await store.audit.query(AuditFilter(limit: 100)).count == stored)
            let done = try await purger.purge(TenantID("acme")!, dryRun: false)
            #expect(done.audit?.purged == stored - 1)
            #expect(done.summary.contains("removed \(stored - 1) audit events; the chain is verified from event"), "\(done.summary)")
            let system = try await purger.purgeSystemAudit(dryRun: false)
            #expect((system?.purged ?? 0) >= 1)

            // The purge is itself an event, chained after the checkpoint; the chain verifies from it.
            let purges = try await client.auditEvents(token: admin, query: "action=audit.purge") { !$0.isEmpty }
            #expect(purges.first?["detail"]?.stringValue?.contains("events older than") == true)
            let report = try await store.audit.verifyChain()
            #expect(report.isIntact, "\(report.problem ?? "")")
            #expect(report.checkpoint?.purged == stored - 1)
            #expect(try await services.control.systemAudit.verifyChain().isIntact)
            let metrics = try await client.send(.get, "/metrics", token: nil).text
            #expect(ObservabilityTests.value(metrics, #"parley_retention_purged_total{kind="audit_events"}"#) ?? 0 >= Double(stored - 1))
        }
    }
}
