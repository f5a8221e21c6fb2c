import Foundation
import HTTPTypes
import Logging
import ParleyCore
import ParleyModels
import ParleyRedis
import ParleyServer
import ParleyStore
import Testing

/// The ledgers budgets are counted in, one behaviour on all three.
enum LedgerKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres, redis

    var testDescription: String { rawValue }

    /// A ledger on a store of its own (SQLite), or shared with other tests but with tenants of
    /// this test only (PostgreSQL, Redis database 11).
    func ledger() async throws -> (any UsageLedger, @Sendable () async -> Void) {
        let logger = Logger(label: "test")
        switch self {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-usage-\(UUID().uuidString)")
            let control = try await SQLiteControlStore.open(dataDirectory: directory, logger: logger)
            return (control.usage, { try? await control.close() })
        case .postgres:
            guard let url = ProcessInfo.processInfo.environment["PARLEY_TEST_DATABASE_URL"], let settings = PostgresSettings(url: url) else {
                throw ProductionBackendTests.MissingServers()
            }
            let database = try await PostgresDatabase.open(settings: settings, logger: logger)
            return (PostgresControlStore(database: database).usage, { await database.close() })
        case .redis:
            guard let url = ProcessInfo.processInfo.environment["PARLEY_TEST_REDIS_URL"] else { throw ProductionBackendTests.MissingServers() }
            var configuration = try RedisConfiguration(url: url)
            configuration.database = 11
            let pool = RedisConnectionPool(configuration: configuration, logger: logger)
            return (RedisUsageLedger(client: pool), { await pool.shutdown() })
        }
    }
}

@Suite("Model budgets and usage")
struct BudgetTests {
    static func tenant() -> TenantID { TenantID("budget_" + UUID().uuidString.prefix(8).lowercased())! }
    static let month = UsageMonth(year: 2026, month: 12)!

    @Test(arguments: LedgerKind.allCases)
    func concurrentReservationsLetExactlyTheBudgetThrough(kind: LedgerKind) async throws {
        let (ledger, close) = try await kind.ledger()
        let tenant = Self.tenant()
        let limits = BudgetLimits(completions: 5)
        // 24 callers at once, as several replicas' turns would be.
        let outcomes = try await withThrowingTaskGroup(of: BudgetReservation.self) { group in
            for index in 0..<24 {
                group.addTask {
                    try await ledger.reserve(tenant: tenant, user: UserID("user\(index % 3)")!, month: Self.month, limits: limits)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let granted = outcomes.compactMap { if case .granted(let calls, _) = $0 { calls } else { nil } }
        #expect(granted.sorted() == [1, 2, 3, 4, 5])
        let refusals = outcomes.compactMap { if case .exhausted(let refusal) = $0 { refusal } else { nil } }
        #expect(refusals.count == 19)
        #expect(Set(refusals) == [BudgetExhausted(kind: .completions, scope: .tenant, limit: 5, month: Self.month)])
        #expect(refusals.first?.resetsAt == ISO8601DateFormatter().date(from: "2027-01-01T00:00:00Z"))
        let usage = try await ledger.usage(tenant: tenant, month: Self.month)
        #expect(usage.total.completions == 5)
        #expect(usage.users.values.reduce(0) { $0 + $1.completions } == 5)
        // Another month, and another tenant, start from nothing.
        #expect(try await ledger.usage(tenant: tenant, month: Self.month.next).total == UsageCounts())
        #expect(try await ledger.usage(tenant: Self.tenant(), month: Self.month).total == UsageCounts())
        await close()
    }

    @Test(arguments: LedgerKind.allCases)
    func tokensModelsUsersAndErasure(kind: LedgerKind) async throws {
        let (ledger, close) = try await kind.ledger()
        let tenant = Self.tenant()
        let alice = UserID("alice")!
        let bob = UserID("bob")!
        func delta(_ user: UserID, _ provider: String, uncounted: Int, input: Int, output: Int) -> UsageDelta {
            var delta = UsageDelta(user: user, provider: provider, model: provider + "-model")
            delta.uncountedCompletions = uncounted
            delta.completions = 1
            delta.inputTokens = input
            delta.outputTokens = output
            return delta
        }
        // Alice's call was reserved (counted already); Bob's two were not.
        let unlimited = BudgetLimits()
        guard case .granted = try await ledger.reserve(tenant: tenant, user: alice, month: Self.month, limits: BudgetLimits(completions: 10))
        else { Issue.record("the first call of an empty month was refused"); return }
        let totals = try await ledger.add(
            [
                tenant: [
                    delta(alice, "openai", uncounted: 0, input: 100, output: 20), delta(bob, "openai", uncounted: 1, input: 50, output: 5),
                    delta(bob, "local", uncounted: 1, input: 30, output: 3),
                ]
            ], month: Self.month)
        #expect(totals[tenant] == 208)
        let usage = try await ledger.usage(tenant: tenant, month: Self.month)
        #expect(usage.total == UsageCounts(completions: 3, inputTokens: 180, outputTokens: 28))
        #expect(usage.users[alice] == UsageCounts(completions: 1, inputTokens: 100, outputTokens: 20))
        #expect(usage.users[bob] == UsageCounts(completions: 2, inputTokens: 80, outputTokens: 8))
        #expect(usage.models[.init(provider: "openai", model: "openai-model")] == UsageCounts(completions: 2, inputTokens: 150, outputTokens: 25))
        #expect(usage.models[.init(provider: "local", model: "local-model")] == UsageCounts(completions: 1, inputTokens: 30, outputTokens: 3))

        // Token budgets: the tenant's 208 reach a limit of 200; a user's own limits apply to that user only.
        #expect(
            try await ledger.reserve(tenant: tenant, user: bob, month: Self.month, limits: BudgetLimits(tokens: 200))
                == .exhausted(BudgetExhausted(kind: .tokens, scope: .tenant, limit: 200, month: Self.month)))
        #expect(
            try await ledger.reserve(tenant: tenant, user: bob, month: Self.month, limits: BudgetLimits(userCompletions: 2))
                == .exhausted(BudgetExhausted(kind: .completions, scope: .user, limit: 2, month: Self.month)))
        #expect(
            try await ledger.reserve(tenant: tenant, user: bob, month: Self.month, limits: BudgetLimits(userTokens: 88))
                == .exhausted(BudgetExhausted(kind: .tokens, scope: .user, limit: 88, month: Self.month)))
        #expect(
            try await ledger.reserve(tenant: tenant, user: alice, month: Self.month, limits: BudgetLimits(userCompletions: 2))
                == .granted(completions: 4, tokens: 208))
        _ = unlimited

        // An erased user's own counts go; the tenant's totals keep their calls.
        try await ledger.forget(tenant: tenant, user: bob)
        let after = try await ledger.usage(tenant: tenant, month: Self.month)
        #expect(after.users[bob] == nil)
        #expect(after.users[alice]?.completions == 2)
        #expect(after.total.completions == 4)
        await close()
    }

    @Test func monthsParseOnlyAsYYYYMM() {
        #expect(UsageMonth("2026-12") == UsageMonth(year: 2026, month: 12))
        #expect(UsageMonth("2026-12")?.next == UsageMonth(year: 2027, month: 1))
        #expect(UsageMonth("2027-01")?.previous == UsageMonth(year: 2026, month: 12))
        for bad in ["2026-13", "2026-00", "2026-1", "26-12", "2026/12", "2026-12-01", "", "２０２６-12"] {
            #expect(UsageMonth(bad) == nil, "\(bad)")
        }
        #expect(UsageMonth(containing: ISO8601DateFormatter().date(from: "2026-12-31T23:59:59Z")!).description == "2026-12")
    }

    /// A model server, a Parley on SQLite with a tenant budget of two calls.
    func parley(model: TestModelServer, onExhausted: BudgetExhaustedAction) -> TestParley {
        var parley = TestParley()
        parley.configuration.providers = [ProviderConfiguration(name: "main", kind: .llamacpp, baseURL: model.baseURL, model: "budget-model")]
        parley.configuration.modelRoute = ["main"]
        parley.configuration.budget.completions = 2
        parley.configuration.budget.onExhausted = onExhausted
        return parley
    }

    @Test func aSpentBudgetRefusesTurnsWith429AndStoresNothing() async throws {
        let model = try await TestModelServer.start()
        model.script([], always: .text("From the model."))
        let parley = parley(model: model, onExhausted: .refuse)
        let alice = try await parley.token("alice")
        let admin = try await parley.token("root", admin: true)
        try await parley.run { client in
            for _ in 0..<2 {
                let reply = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("hello"))
                #expect(reply.status == .ok)
                #expect(try reply.json["model"] == "budget-model")
            }
            for body in [chatBody("hello again"), #"{"message": "streamed", "stream": true}"#] {
                let refused = try await client.send(.post, "/api/v1/chat", token: alice, json: body)
                #expect(refused.status == .tooManyRequests)
                #expect(refused.headers[.contentType] == "application/problem+json")
                let problem = try refused.json
                #expect(problem["budget"] == "completions")
                #expect(problem["scope"] == "tenant")
                #expect(problem["limit"] == 2)
                let resets = UsageMonth(containing: Date()).next.start
                #expect(problem["resets_at"]?.stringValue == ISO8601DateFormatter().string(from: resets))
                let retry = Int(refused.headers[.retryAfter] ?? "") ?? 0
                #expect(retry > 0 && Double(retry) <= resets.timeIntervalSinceNow + 2)
            }
            // Refused turns stored nothing: two conversations, two calls at the model.
            let conversations = try await client.send(.get, "/api/v1/conversations", token: alice).json
            #expect(conversations["conversations"]?.arrayValue?.count == 2)
            #expect(model.requests.count == 2)
            // Raising the tenant's budget by flag lets the next turn through.
            let raised = try await client.send(.patch, "/api/v1/admin/flags", token: admin, json: #"{"budget.completions": 3}"#)
            #expect(raised.status == .ok)
            #expect(try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("once more")).status == .ok)

            let report = try await client.send(.get, "/api/v1/admin/usage", token: admin).json
            #expect(report["completions"] == 3)
            #expect(report["budget"]?["completions"] == 3)
            #expect(report["budget"]?["remaining_completions"] == 0)
            #expect(report["budget"]?["on_exhausted"] == "refuse")
            #expect(try await client.send(.get, "/api/v1/admin/usage", token: alice).status == .forbidden)
            let bad = try await client.send(.get, "/api/v1/admin/usage?month=2026-1", token: admin)
            #expect(bad.status == .badRequest)
            #expect(try bad.json["field"] == "month")
            let metrics = try await client.send(.get, "/metrics", token: nil).text
            #expect(ObservabilityTests.value(metrics, #"parley_budget_exhausted_total{budget="completions",action="refuse"}"#) == 2)
            #expect(ObservabilityTests.value(metrics, #"parley_budget_remaining{tenant="acme",budget="completions"}"#) == 0)
        }
        await model.stop()
    }

    @Test func aSpentBudgetLeavesTheBasicAgentAndWarnsOnce() async throws {
        let model = try await TestModelServer.start()
        model.script([], always: .text("From the model."))
        var parley = parley(model: model, onExhausted: .basic)
        parley.configuration.budget.completions = 4
        parley.configuration.budget.warnPercent = 50
        let alice = try await parley.token("alice")
        let admin = try await parley.token("root", admin: true)
        try await parley.run { client in
            for _ in 0..<3 { _ = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("hello")) }
            let partway = try await client.send(.get, "/metrics", token: nil).text
            #expect(ObservabilityTests.value(partway, #"parley_budget_remaining{tenant="acme",budget="completions"}"#) == 1)
            _ = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("hello"))
            let basic = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("add a task to buy milk")).json
            #expect(basic["model"] == "basic")
            #expect(basic["fallback_used"] == true)
            #expect(basic["response"]?.stringValue?.hasPrefix("This month's AI budget is used up") == true)
            // The basic agent did the task.
            let tasks = try await client.send(.get, "/api/v1/tasks", token: alice).json
            #expect(tasks["tasks"]?.arrayValue?.first?["title"] == "Buy milk")
            #expect(model.requests.count == 4)
            // One warning, at 2 of 4 calls; it reaches the log through the audit queue.
            var warnings: [JSONValue] = []
            for _ in 0..<50 {
                warnings = try await client.send(.get, "/api/v1/admin/audit?action=budget.warning", token: admin).json["events"]?.arrayValue ?? []
                if !warnings.isEmpty { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(warnings.count == 1)
            #expect(warnings.first?["detail"]?.stringValue?.hasPrefix("2 of 4 completions used") == true)
            let metrics = try await client.send(.get, "/metrics", token: nil).text
            #expect(ObservabilityTests.value(metrics, #"parley_budget_warnings_total{budget="completions"}"#) == 1)
            #expect(ObservabilityTests.value(metrics, #"parley_budget_exhausted_total{budget="completions",action="basic"}"#) == 1)
        }
        await model.stop()
    }

    @Test func tokensOfTenantsWithoutABudgetAreCountedTooByModelAndUser() async throws {
        let model = try await TestModelServer.start()
        model.script([], always: .text("From the model."))
        var parley = parley(model: model, onExhausted: .basic)
        parley.configuration.budget.completions = 0
        let alice = try await parley.token("alice")
        let admin = try await parley.token("root", admin: true)
        try await parley.run { client in
            for _ in 0..<3 { _ = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("hello")) }
            // Counted in process and added a second later; the report includes what is waiting.
            let report = try await client.send(.get, "/api/v1/admin/usage", token: admin).json
            #expect(report["completions"] == 3)
            #expect(report["budget"]?["completions"] == .null)
            #expect(report["budget"]?["remaining_completions"] == .null)
            #expect(report["models"]?.arrayValue?.first?["provider"] == "main")
            #expect(report["models"]?.arrayValue?.first?["completions"] == 3)
            #expect(report["users"]?.arrayValue?.first?["user_id"] == "alice")
            #expect((report["tokens"]?.intValue ?? 0) > 0)
            try await Task.sleep(for: .milliseconds(1500))
            let stored = try await client.send(.get, "/api/v1/admin/usage", token: admin).json
            #expect(stored["completions"] == 3)
            #expect(stored["tokens"] == report["tokens"])
        }
        // After a restart the counts come from the control database alone.
        try await parley.run { client in
            let report = try await client.send(.get, "/api/v1/admin/usage", token: admin).json
            #expect(report["completions"] == 3)
        }
        await model.stop()
    }
}
