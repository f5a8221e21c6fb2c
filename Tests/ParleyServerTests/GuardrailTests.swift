import Foundation
import Glibc
import HTTPTypes
import HummingbirdTesting
import Logging
import ParleyCore
import ParleyModels
import ParleyRedis
import ParleyServer
import ParleyStore
import SQLiteNIO
import Synchronization
import Testing

extension HTTPField.Name {
    static let rateLimit = Self("RateLimit")!
    static let rateLimitPolicy = Self("RateLimit-Policy")!
    static let tenantID = Self("X-Tenant-ID")!
}

@Suite("Rate limits")
struct RateLimitTests {
    @Test func gcraAllowsTheQuotaAtOnceThenRefillsEvenly() {
        let policy = RateLimitPolicy(name: "user", limit: 3, window: .seconds(60))
        var tat: Double? = nil
        var remaining: [Int] = []
        for _ in 0..<3 {
            let (decision, next) = RateLimitDecision.gcra(tat: tat, now: 1000, policy: policy, consume: true)
            #expect(decision.allowed)
            remaining.append(decision.remaining)
            tat = next
        }
        #expect(remaining == [2, 1, 0])
        let (refused, unchanged) = RateLimitDecision.gcra(tat: tat, now: 1000, policy: policy, consume: true)
        #expect(!refused.allowed)
        #expect(refused.retryAfterSeconds == 20)
        #expect(unchanged == tat)
        // One request's share (20 s) later, exactly one more is allowed.
        #expect(RateLimitDecision.gcra(tat: tat, now: 1020, policy: policy, consume: true).decision.allowed)
        // A peek does not consume.
        let (peek, peeked) = RateLimitDecision.gcra(tat: nil, now: 1000, policy: policy, consume: false)
        #expect(peek.allowed && peeked == nil)
    }

    @Test func policiesParseFromConfiguration() throws {
        #expect(try RateLimitPolicy.parse("60 per minute", name: "u") == RateLimitPolicy(name: "u", limit: 60, window: .seconds(60)))
        #expect(try RateLimitPolicy.parse("10 per 30s", name: "u")?.window == .seconds(30))
        #expect(try RateLimitPolicy.parse("1000 per hour", name: "u")?.window == .seconds(3600))
        #expect(try RateLimitPolicy.parse("5 per 2 days", name: "u")?.window == .seconds(172_800))
        #expect(try RateLimitPolicy.parse("off", name: "u") == nil)
        for bad in ["sixty per minute", "10 per fortnight", "-1 per minute", "10", "10 per 0s"] {
            #expect(throws: ParleyError.self, "\(bad)") { try RateLimitPolicy.parse(bad, name: "u") }
        }
    }

    @Test func theInProcessLimiterForgetsKeysWhoseQuotaIsFull() async throws {
        let clock = ManualClock()
        let limiter = InProcessRateLimiter(shardCount: 1, clock: { clock.now })
        let policy = RateLimitPolicy(name: "ip", limit: 10, window: .seconds(1))
        for index in 0..<4096 { _ = try await limiter.check("ip:\(index)", policy: policy, consume: true) }
        #expect(limiter.trackedKeys > 0)
        // Once their quotas are full again, the next sweep (every 4096 checks) drops them.
        clock.advance(by: 5)
        for _ in 0..<4096 { _ = try await limiter.check("ip:fresh", policy: policy, consume: false) }
        #expect(limiter.trackedKeys == 0)
    }

    @Test func aRequestRefusedByOneLimitCountsAgainstNone() async throws {
        let limiter = InProcessRateLimiter(shardCount: 1, clock: { 1000 })
        let user = RateLimitPolicy(name: "user", limit: 5, window: .seconds(60))
        let tenant = RateLimitPolicy(name: "tenant", limit: 2, window: .seconds(60))
        let checks = [RateLimitCheck(key: "user:a", policy: user), RateLimitCheck(key: "tenant:t", policy: tenant)]
        for expected in [4, 3] {
            let decisions = try await limiter.check(all: checks)
            #expect(decisions.map(\.allowed) == [true, true])
            #expect(decisions[0].remaining == expected)
        }
        // The tenant is full: refused, and the user's quota is left as it was.
        let refused = try await limiter.check(all: checks)
        #expect(refused.map(\.allowed) == [true, false])
        #expect(try await limiter.check("user:a", policy: user, consume: false).remaining == 3)
        // A look-only check never counts.
        let peek = [RateLimitCheck(key: "user:b", policy: user, consume: false)]
        for _ in 0..<10 { _ = try await limiter.check(all: peek) }
        #expect(try await limiter.check("user:b", policy: user, consume: false).remaining == 5)
    }

    @Test func perUserLimitAnswers429WithHeadersAndAProblemNamingThePolicy() async throws {
        var parley = TestParley()
        parley.configuration.rateLimits.user = RateLimitPolicy(name: "user", limit: 3, window: .seconds(60))
        let alice = try await parley.token("alice")
        let bob = try await parley.token("bob")
        try await parley.run { client in
            for remaining in [2, 1, 0] {
                let response = try await client.send(.get, "/api/v1/tasks", token: alice)
                #expect(response.status == .ok)
                #expect(response.headers[.rateLimitPolicy] == #""user";q=3;w=60"#)
                #expect(response.headers[.rateLimit]?.hasPrefix(#""user";r=\#(remaining);t="#) == true, "\(response.headers)")
            }
            let refused = try await client.send(.post, "/api/v1/tasks", token: alice, json: #"{"title": "one too many"}"#)
            let problem = try refused.expectProblem(.tooManyRequests)
            #expect(problem["policy"]?.stringValue == "user")
            // 3 per minute: one request's share is 20 s, the whole quota back in 60 s (less the
            // seconds a busy machine spent on the requests before).
            #expect((12...20).contains(Int(refused.headers[.retryAfter] ?? "") ?? 0))
            let reset = (refused.headers[.rateLimit] ?? "").split(separator: "t=").last.flatMap { Int($0) } ?? 0
            #expect(refused.headers[.rateLimit]?.hasPrefix(#""user";r=0;t="#) == true && (52...60).contains(reset))
            // The refused request wrote nothing, and bob has his own quota.
            #expect(try await client.send(.get, "/api/v1/tasks", token: bob).json["tasks"] == [])
        }
    }

    @Test func perTenantLimitCoversAllItsUsers() async throws {
        var parley = TestParley()
        parley.configuration.rateLimits.tenant = RateLimitPolicy(name: "tenant", limit: 4, window: .seconds(60))
        let users = try await [parley.token("alice"), parley.token("bob")]
        let globex = try await parley.token("carol", tenants: ["globex"])
        try await parley.run { client in
            for index in 0..<4 { #expect(try await client.send(.get, "/api/v1/tasks", token: users[index % 2]).status == .ok) }
            let problem = try await client.send(.get, "/api/v1/tasks", token: users[1]).expectProblem(.tooManyRequests)
            #expect(problem["policy"]?.stringValue == "tenant")
            #expect(try await client.send(.get, "/api/v1/tasks", token: globex).status == .ok)
        }
    }

    @Test func perIPLimitAppliesBeforeAuthentication() async throws {
        var parley = TestParley()
        parley.configuration.rateLimits.ip = RateLimitPolicy(name: "ip", limit: 3, window: .seconds(60))
        let alice = try await parley.token("alice")
        try await parley.run { client in
            for _ in 0..<3 { try await client.send(.get, "/api/v1/tasks", token: nil).expectProblem(.unauthorized) }
            let problem = try await client.send(.get, "/api/v1/tasks", token: alice).expectProblem(.tooManyRequests)
            #expect(problem["policy"]?.stringValue == "ip")
            // Health and metrics stay reachable for probes.
            #expect(try await client.send(.get, "/api/v1/healthz", token: nil).status == .ok)
        }
    }

    @Test func aTokenVerifiedMomentsAgoHasAllItsLimitsCheckedInOneRoundTrip() async throws {
        let limiter = RecordingLimiter(base: InProcessRateLimiter())
        var parley = TestParley()
        parley.rateLimiter = limiter
        parley.configuration.rateLimits.ip = RateLimitPolicy(name: "ip", limit: 4, window: .seconds(60))
        parley.configuration.rateLimits.authFailures = RateLimitPolicy(name: "auth-failure", limit: 10, window: .seconds(60))
        parley.configuration.rateLimits.user = RateLimitPolicy(name: "user", limit: 100, window: .seconds(60))
        let alice = try await parley.token("alice")
        try await parley.run { client in
            #expect(try await client.send(.get, "/api/v1/tasks", token: alice).status == .ok)
            // A token not seen before: the client's limits, then (verified) the user's.
            #expect(limiter.calls.withLock { $0 } == [["ip", "auth-failure"], ["user"]])
            limiter.calls.withLock { $0 = [] }
            for _ in 0..<3 { #expect(try await client.send(.get, "/api/v1/tasks", token: alice).status == .ok) }
            #expect(limiter.calls.withLock { $0 } == Array(repeating: ["ip", "auth-failure", "user"], count: 3))
            // Deferred, the IP limit still counts and refuses first, with its own headers.
            let refused = try await client.send(.get, "/api/v1/tasks", token: alice)
            #expect(try refused.expectProblem(.tooManyRequests)["policy"]?.stringValue == "ip")
            #expect(refused.headers[.rateLimitPolicy] == #""ip";q=4;w=60"#)
        }
    }

    @Test func aKnownTokenAskingForAnotherTenantIsStillCountedPerIP() async throws {
        let limiter = RecordingLimiter(base: InProcessRateLimiter())
        var parley = TestParley()
        parley.rateLimiter = limiter
        parley.configuration.rateLimits.ip = RateLimitPolicy(name: "ip", limit: 2, window: .seconds(60))
        let alice = try await parley.token("alice")
        try await parley.run { client in
            #expect(try await client.send(.get, "/api/v1/tasks", token: alice).status == .ok)
            // The token is known now; the tenant it names is not granted: refused before the
            // principal stage, but the deferred IP limit was checked (and counted) all the same.
            let otherTenant = try await client.send(.get, "/api/v1/tasks", token: alice, tenant: "globex")
            #expect(otherTenant.status == .forbidden || otherTenant.status == .notFound, "\(otherTenant.status)")
            let last = limiter.calls.withLock { $0 }.last ?? []
            #expect(last.first == "ip" && !last.contains("user"), "\(last)")
            try await client.send(.get, "/api/v1/tasks", token: alice).expectProblem(.tooManyRequests)
        }
    }

    @Test func refusedTokensAreLimitedPerIPBeforeVerification() async throws {
        var parley = TestParley()
        parley.configuration.rateLimits.authFailures = RateLimitPolicy(name: "auth-failure", limit: 3, window: .seconds(60))
        parley.configuration.rateLimits.ip = RateLimitPolicy(name: "ip", limit: 600, window: .seconds(60))
        let alice = try await parley.token("alice")
        try await parley.run { client in
            for guess in 0..<3 { try await client.send(.get, "/api/v1/tasks", token: "guess-\(guess)").expectProblem(.unauthorized) }
            // Now even a valid token from this address waits: guessing is slowed, not just counted.
            let refused = try await client.send(.get, "/api/v1/tasks", token: alice)
            let problem = try refused.expectProblem(.tooManyRequests)
            #expect(problem["policy"]?.stringValue == "auth-failure")
            // The headers name the limit that refused, not the IP limit the request passed.
            #expect(refused.headers[.rateLimitPolicy] == #""auth-failure";q=3;w=60"#)
            let metrics = try await client.send(.get, "/metrics", token: nil).text
            #expect(metrics.contains(#"parley_rate_limited_total{policy="auth-failure"} 1"#))
            #expect(metrics.contains("parley_auth_failures_total 3"))
        }
    }

    @Test func redisDownLimitsFailOpenOrClosedAsConfiguredAndReadinessSaysSo() async throws {
        // Nothing listens on port 1: Redis is down from the start.
        var open = TestParley()
        open.configuration.redis = RedisSettings(connection: RedisConfiguration(host: "127.0.0.1", port: 1))
        open.configuration.rateLimits.user = RateLimitPolicy(name: "user", limit: 1, window: .seconds(60))
        let alice = try await open.token("alice")
        try await open.run { client in
            for _ in 0..<3 {
                #expect(try await client.send(.get, "/api/v1/tasks", token: alice).status == .ok)
            }
            let chat = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("add a task to buy milk"))
            #expect(try chat.json["response"]?.stringValue == "Added task 1: Buy milk.")
            let ready = try await client.send(.get, "/api/v1/readyz", token: nil)
            #expect(ready.status == .ok)
            #expect(try ready.json["status"]?.stringValue == "degraded")
            #expect(try ready.json["checks"]?["redis"]?.stringValue?.contains("unavailable") == true)
        }
        var closed = open
        closed.configuration.rateLimits.failOpen = false
        try await closed.run { client in
            try await client.send(.get, "/api/v1/tasks", token: alice).expectProblem(.serviceUnavailable)
            let ready = try await client.send(.get, "/api/v1/readyz", token: nil)
            #expect(ready.status == .serviceUnavailable)
            #expect(try ready.json["status"]?.stringValue == "unavailable")
        }
    }
}

/// A limiter that records the policies of each round trip.
final class RecordingLimiter: RateLimiter {
    let base: any RateLimiter
    let calls = Mutex<[[String]]>([])

    init(base: any RateLimiter) { self.base = base }

    func check(_ key: String, policy: RateLimitPolicy, consume: Bool) async throws -> RateLimitDecision {
        calls.withLock { $0.append([policy.name]) }
        return try await base.check(key, policy: policy, consume: consume)
    }

    func check(all checks: [RateLimitCheck]) async throws -> [RateLimitDecision] {
        calls.withLock { $0.append(checks.map(\.policy.name)) }
        return try await base.check(all: checks)
    }
}

final class ManualClock: Sendable {
    private let seconds = Mutex<Double>(1_000)

    var now: Double { seconds.withLock { $0 } }

    func advance(by delta: Double) { seconds.withLock { $0 += delta } }
}

@Suite("Audit, flags and admin")
struct AuditAndAdminTests {
    @Test func changesAreAuditedAndTheChainDetectsTampering() async throws {
        let parley = TestParley()
        let alice = try await parley.token("alice")
        let admin = try await parley.token("root", admin: true)
        try await parley.run { client in
            #expect(try await client.send(.post, "/api/v1/tasks", token: alice, json: #"{"title": "rest"}"#).status == .created)
            #expect(try await client.send(.patch, "/api/v1/tasks/1", token: alice, json: #"{"status": "completed"}"#).status == .ok)
            let chat = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("add a task to call mom")).json
            let messageID = try #require(chat["message_id"]?.intValue)
            let conversation = try #require(chat["conversation_id"]?.intValue)
            #expect(try await client.send(.post, "/api/v1/chat/feedback", token: alice, json: #"{"message_id": \#(messageID), "rating": "up"}"#).status == .created)
            #expect(try await client.send(.delete, "/api/v1/tasks/2", token: alice).status == .noContent)
            try await client.send(.get, "/api/v1/tasks/77", token: alice).expectProblem(.notFound)
            try await client.send(.get, "/api/v1/admin/audit", token: alice).expectProblem(.forbidden)

            let events = try await client.auditEvents(token: admin) { events in
                events.contains { $0["action"]?.stringValue == "task.read" } && events.contains { $0["action"]?.stringValue == "audit.read" && $0["outcome"]?.stringValue == "denied" }
            }
            let summary = events.reversed().map { "\($0["action"]!.stringValue!) \($0["object"]?.stringValue ?? "-") \($0["outcome"]!.stringValue!)" }
            #expect(summary.starts(with: [
                "task.create - success", "task.update task:1 success", "task.create task:2 success",
                "chat.message conversation:\(conversation) success", "feedback.submit - success", "task.delete task:2 success",
                "task.read task:77 not_found", "audit.read - denied",
            ]), "\(summary)")
            let first = try #require(events.last)
            #expect(first["actor"]?.stringValue == "alice")
            #expect(first["tenant"]?.stringValue == "acme")
            #expect(first["ip"]?.stringValue == "127.0.0.1")
            #expect(first["request_id"]?.stringValue?.isEmpty == false)
            #expect(first["prev_hash"]?.stringValue == String(repeating: "0", count: 64))
            // Filters: by action prefix and by outcome.
            let taskEvents = try await client.send(.get, "/api/v1/admin/audit?action=task&outcome=success", token: admin).json["events"]?.arrayValue
            // The filter takes action names only, and matches their prefix literally.
            for bad in ["%25", "TASK", "task.", ".task", "ta%20sk"] {
                try await client.send(.get, "/api/v1/admin/audit?action=\(bad)", token: admin).expectProblem(.badRequest, field: "action")
            }
            #expect(try await client.send(.get, "/api/v1/admin/audit?action=tas_", token: admin).json["events"]?.arrayValue?.isEmpty == true)
            #expect(taskEvents?.count == 4)
            try await client.send(.get, "/api/v1/admin/audit?outcome=maybe", token: admin).expectProblem(.badRequest, field: "outcome")
            try await client.send(.get, "/api/v1/admin/audit?since=yesterday", token: admin).expectProblem(.badRequest, field: "since")
            // RFC 3339 times: lowercase t and z, fractional seconds and offsets are all times.
            for time in ["2026-01-01t00:00:00z", "2026-01-01T00:00:00.250Z", "2026-01-01T02:00:00+02:00"] {
                let query = time.replacingOccurrences(of: "+", with: "%2B")
                let answer = try await client.send(.get, "/api/v1/admin/audit?since=\(query)&until=\(query)", token: admin)
                #expect(answer.status == .ok, "\(time): \(answer.text)")
            }
        }

        // The chain is intact; an edited row or a removed row breaks it at that event.
        let provider = try SQLiteStoreProvider(dataDirectory: parley.directory, logger: Logger(label: "test"))
        let audit = try await provider.store(for: TenantID("acme")!, provisioning: .existingOnly).audit
        let intact = try await audit.verifyChain()
        #expect(intact.isIntact && intact.checked >= 8)
        try await provider.close()

        let path = parley.directory.appendingPathComponent("tenants/acme.sqlite").path
        try await withSQLite(path) { try await $0.query("UPDATE audit_log SET outcome = 'success' WHERE seq = 7") }
        let edited = try await verify(parley.directory)
        #expect(edited.firstBrokenSequence == 7)
        #expect(edited.checked == 6)

        try await withSQLite(path) { database in
            // Restore the outcome, then delete a middle event instead.
            try await database.query("UPDATE audit_log SET outcome = 'not_found' WHERE seq = 7")
            #expect(try await verify(parley.directory).isIntact)
            try await database.query("DELETE FROM audit_log WHERE seq = 4")
        }
        #expect(try await verify(parley.directory).firstBrokenSequence == 5)
    }

    func verify(_ directory: URL) async throws -> AuditChainReport {
        let provider = try SQLiteStoreProvider(dataDirectory: directory, logger: Logger(label: "test"))
        let report = try await provider.store(for: TenantID("acme")!, provisioning: .existingOnly).audit.verifyChain()
        try await provider.close()
        return report
    }

    func withSQLite(_ path: String, _ body: (SQLiteConnection) async throws -> Void) async throws {
        let connection = try await SQLiteConnection.open(storage: .file(path: path))
        do {
            try await body(connection)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }

    @Test func flagsSwitchTheChatbotPerTenantWithAGlobalDefault() async throws {
        let parley = TestParley()
        let alice = try await parley.token("alice")
        let carol = try await parley.token("carol", tenants: ["globex"])
        let admin = try await parley.token("root", tenants: ["acme", "globex"], admin: true)
        try await parley.run { client in
            #expect(try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("what's left?")).status == .ok)

            // Off for acme: chat is 503, tasks still work, globex is untouched.
            let changed = try await client.send(.patch, "/api/v1/admin/flags", token: admin, json: #"{"chatbot.enabled": false}"#, tenant: "acme")
            #expect(changed.status == .ok, "\(changed.text)")
            #expect(try changed.json["set"] == ["chatbot.enabled": false])
            try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("what's left?")).expectProblem(.serviceUnavailable)
            try await client.send(.post, "/api/alice/chat", token: alice, json: chatBody("what's left?")).expectProblem(.serviceUnavailable)
            #expect(try await client.send(.get, "/api/v1/tasks", token: alice).status == .ok)
            #expect(try await client.send(.post, "/api/v1/chat", token: carol, json: chatBody("what's left?")).status == .ok)

            // Off globally, but acme's own setting removed and globex's set on: acme off, globex on.
            #expect(try await client.send(.patch, "/api/v1/admin/flags/global", token: admin, json: #"{"chatbot.enabled": false}"#).status == .ok)
            #expect(try await client.send(.patch, "/api/v1/admin/flags", token: admin, json: #"{"chatbot.enabled": null}"#, tenant: "acme").status == .ok)
            #expect(try await client.send(.patch, "/api/v1/admin/flags", token: admin, json: #"{"chatbot.enabled": true}"#, tenant: "globex").status == .ok)
            try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("what's left?")).expectProblem(.serviceUnavailable)
            #expect(try await client.send(.post, "/api/v1/chat", token: carol, json: chatBody("what's left?")).status == .ok)
            let acme = try await client.send(.get, "/api/v1/admin/flags", token: admin, tenant: "acme").json
            #expect(acme["effective"]?["chatbot.enabled"] == false)
            #expect(acme["set"] == [:])

            // chatbot.ai off: the basic agent answers.
            #expect(try await client.send(.patch, "/api/v1/admin/flags", token: admin, json: #"{"chatbot.ai": false}"#, tenant: "globex").status == .ok)
            #expect(try await client.send(.post, "/api/v1/chat", token: carol, json: chatBody("what's left?")).json["model"] == "basic")

            // Bad changes are refused whole, naming the field; users cannot change flags.
            try await client.send(.patch, "/api/v1/admin/flags", token: admin, json: #"{"chatbot.enabled": "yes"}"#, tenant: "acme")
                .expectProblem(.unprocessableContent, field: "chatbot.enabled")
            try await client.send(.patch, "/api/v1/admin/flags", token: admin, json: #"{"chatbot.ai": false, "chatbot.fancy": true}"#, tenant: "acme")
                .expectProblem(.unprocessableContent, field: "chatbot.fancy")
            try await client.send(.patch, "/api/v1/admin/flags", token: admin, json: #"{"model.route": "openai"}"#, tenant: "acme")
                .expectProblem(.unprocessableContent, field: "model.route")
            #expect(try await client.send(.get, "/api/v1/admin/flags", token: admin, tenant: "acme").json["set"] == [:])
            try await client.send(.patch, "/api/v1/admin/flags", token: alice, json: #"{"chatbot.enabled": true}"#).expectProblem(.forbidden)
            try await client.send(.patch, "/api/v1/admin/flags/global", token: carol, json: #"{"chatbot.enabled": true}"#).expectProblem(.forbidden)
        }
        // Flags are stored, not held in memory: a restart keeps them.
        try await parley.run { client in
            try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("what's left?")).expectProblem(.serviceUnavailable)
        }
    }

    @Test func tenantsAreProvisionedByAdminsWhenAutoProvisioningIsOff() async throws {
        var parley = TestParley()
        parley.configuration.autoProvision = false
        let admin = try await parley.token("root", tenants: [], admin: true)
        let dave = try await parley.token("dave", tenants: ["initech"])
        try await parley.run { client in
            // An unknown tenant is not created by its first request.
            try await client.send(.get, "/api/v1/tasks", token: dave).expectProblem(.notFound)
            #expect(try await client.send(.get, "/api/v1/admin/tenants", token: admin).json["tenants"] == [])

            let created = try await client.send(.post, "/api/v1/admin/tenants", token: admin, json: #"{"id": "initech"}"#)
            #expect(created.status == .created)
            #expect(try created.json == ["id": "initech"])
            try await client.send(.post, "/api/v1/admin/tenants", token: admin, json: #"{"id": "initech"}"#).expectProblem(.conflict)
            try await client.send(.post, "/api/v1/admin/tenants", token: admin, json: #"{"id": "Bad Name"}"#)
                .expectProblem(.unprocessableContent, field: "id")
            try await client.send(.post, "/api/v1/admin/tenants", token: dave, json: #"{"id": "other"}"#).expectProblem(.forbidden)
            #expect(try await client.send(.get, "/api/v1/admin/tenants", token: admin).json["tenants"] == [["id": "initech"]])
            #expect(try await client.send(.get, "/api/v1/tasks", token: dave).status == .ok)
            // Routes about one tenant need one; the operator token grants none.
            try await client.send(.get, "/api/v1/admin/flags", token: admin).expectProblem(.forbidden)

            // Provisioning is in the system log (the operator acted in no tenant).
            let events = try await client.auditEvents(token: admin, query: "log=system&action=tenant") { $0.count >= 4 }
            #expect(events.map { "\($0["action"]!.stringValue!) \($0["outcome"]!.stringValue!)" }.reversed().starts(with: [
                "tenant.list success", "tenant.provision success", "tenant.provision invalid", "tenant.provision invalid",
            ]))
        }
    }

    @Test func feedbackIsExportedForAdminsOnly() async throws {
        let parley = TestParley()
        let alice = try await parley.token("alice")
        let bob = try await parley.token("bob")
        let admin = try await parley.token("root", admin: true)
        try await parley.run { client in
            for (user, rating) in [(alice, "up"), (bob, "down")] {
                let reply = try await client.send(.post, "/api/v1/chat", token: user, json: chatBody("add a task to water plants")).json
                let id = try #require(reply["message_id"]?.intValue)
                #expect(try await client.send(.post, "/api/v1/chat/feedback", token: user, json: #"{"message_id": \#(id), "rating": "\#(rating)", "comment": "noted"}"#).status == .created)
            }
            let page = try await client.send(.get, "/api/v1/admin/feedback?limit=1", token: admin).json
            let first = try #require(page["feedback"]?.arrayValue?.first)
            #expect(first["user"] == "alice" && first["rating"] == "up" && first["comment"] == "noted")
            #expect(first["message"]?.stringValue?.lowercased().contains("water plants") == true, "\(first)")
            let after = try #require(page["next_after"]?.intValue)
            let rest = try await client.send(.get, "/api/v1/admin/feedback?after=\(after)", token: admin).json
            #expect(rest["feedback"]?.arrayValue?.map { $0["user"] } == ["bob"])
            #expect(rest["next_after"] == nil)
            try await client.send(.get, "/api/v1/admin/feedback", token: alice).expectProblem(.forbidden)
        }
    }

    @Test func corsAllowsOnlyConfiguredOriginsAndEveryResponseCarriesSecureHeaders() async throws {
        var parley = TestParley()
        parley.configuration.corsAllowedOrigins = ["https://app.example.com"]
        parley.configuration.forwardedHops = 1
        let alice = try await parley.token("alice")
        try await parley.run { client in
            let preflight = try await client.send(.options, "/api/v1/tasks", token: nil, headers: [
                .origin: "https://app.example.com", .accessControlRequestMethod: "POST",
                .accessControlRequestHeaders: "authorization, content-type",
            ])
            #expect(preflight.status == .noContent)
            #expect(preflight.headers[.accessControlAllowOrigin] == "https://app.example.com")
            #expect(preflight.headers[.accessControlAllowHeaders]?.contains("Authorization") == true)

            let foreign = try await client.send(.options, "/api/v1/tasks", token: nil, headers: [
                .origin: "https://evil.example.com", .accessControlRequestMethod: "POST",
            ])
            #expect(foreign.headers[.accessControlAllowOrigin] == nil)
            #expect(foreign.headers[.accessControlAllowMethods] == nil)

            let allowed = try await client.send(.get, "/api/v1/tasks", token: alice, headers: [.origin: "https://app.example.com"])
            #expect(allowed.headers[.accessControlAllowOrigin] == "https://app.example.com")
            #expect(allowed.headers[.accessControlExposeHeaders]?.contains("X-Request-ID") == true)

            for response in [
                allowed, foreign,
                try await client.send(.get, "/api/v1/tasks", token: nil),
                try await client.send(.get, "/api/v1/healthz", token: nil),
            ] {
                #expect(response.headers[.xContentTypeOptions] == "nosniff")
                #expect(response.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
                #expect(response.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer")
                #expect(response.headers[.strictTransportSecurity] == nil)
            }
            // Behind our TLS proxy, HSTS; and the client address is the one the proxy saw.
            let viaTLS = try await client.send(.get, "/api/v1/tasks", token: alice, headers: [
                HTTPField.Name("X-Forwarded-Proto")!: "https", HTTPField.Name("X-Forwarded-For")!: "203.0.113.9",
            ])
            #expect(viaTLS.headers[.strictTransportSecurity]?.hasPrefix("max-age=") == true)
        }
    }
}

/// Slow clients: a connection that stops sending halfway through its request is closed after
/// `http.idleTimeoutSeconds`, and one that keeps sending a byte now and then after
/// `http.requestReadTimeoutSeconds`, so that trickling clients cannot hold connections open.
@Suite struct SlowClientTests {
    @Test func aClientThatStopsSendingMidRequestIsDisconnected() async throws {
        var parley = TestParley()
        parley.configuration.idleTimeoutSeconds = 1
        try await parley.run { client in
            let port = try #require(client.port)
            let started = ContinuousClock.now
            // Half a request (the headers never end), then silence: the server hangs up.
            let slow = try RawConnection(port: port)
            await slow.send("GET /api/v1/healthz HTTP/1.1\r\nHost: parley\r\n")
            #expect(await slow.awaitClose(within: 10), "the connection stayed open")
            let waited = ContinuousClock.now - started
            #expect(waited >= .milliseconds(900) && waited < .seconds(5), "closed after \(waited)")
            // A complete request on a fresh connection is served as usual.
            let fresh = try RawConnection(port: port)
            await fresh.send("GET /api/v1/healthz HTTP/1.1\r\nHost: parley\r\n\r\n")
            #expect(await fresh.read(until: "\r\n\r\n", within: 5).hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test func aClientThatTricklesARequestIsDisconnectedButASlowAnswerIsNot() async throws {
        // The model hangs until the provider's 2 s timeout; the basic agent then answers.
        let server = try await TestModelServer.start()
        server.script([], always: .hang)
        var provider = ProviderConfiguration(name: "local", kind: .llamacpp, baseURL: server.baseURL, model: "model-one")
        provider.timeout = .seconds(2)
        var parley = TestParley()
        parley.configuration.providers = [provider]
        parley.configuration.modelRoute = ["local"]
        parley.configuration.idleTimeoutSeconds = 5
        parley.configuration.requestReadTimeoutSeconds = 1
        let alice = try await parley.token("alice")
        try await parley.run { client in
            let port = try #require(client.port)
            // A byte every 200 ms never trips the 5 s idle timeout; the 1 s request deadline ends it.
            let trickle = try RawConnection(port: port)
            let request = Array("POST /api/v1/tasks HTTP/1.1\r\nHost: parley\r\nAuthorization: Bearer \(alice)\r\n")
            let started = ContinuousClock.now
            var sent = 0
            while sent < request.count, ContinuousClock.now - started < .seconds(4), await trickle.send(String(request[sent])) {
                sent += 1
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(await trickle.awaitClose(within: 2), "a trickled request held its connection for \(ContinuousClock.now - started)")
            let waited = ContinuousClock.now - started
            #expect(waited >= .milliseconds(900) && waited < .seconds(4), "closed after \(waited)")
            #expect(try await client.send(.get, "/api/v1/tasks", token: alice).json["tasks"] == [], "the trickled request did nothing")

            // A request that arrives at once but takes 2 s to answer is answered, on the same
            // connection as the next one (the clock starts again with each request's first byte).
            let patient = try RawConnection(port: port)
            let body = chatBody("hello")
            let chat = "POST /api/v1/chat HTTP/1.1\r\nHost: parley\r\nAuthorization: Bearer \(alice)\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
            let answeredAt = ContinuousClock.now
            await patient.send(chat)
            let answer = await patient.read(until: "fallback_used", within: 10)
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer.prefix(300))")
            #expect(ContinuousClock.now - answeredAt >= .milliseconds(1500), "the model did not make the answer slow")
            await patient.send(chat)
            #expect(await patient.read(until: "fallback_used", within: 10).contains("HTTP/1.1 200 OK"))
        }
        await server.stop()
    }
}
