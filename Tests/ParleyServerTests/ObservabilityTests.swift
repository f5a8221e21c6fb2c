import Foundation
import HTTPTypes
import HummingbirdTesting
import ParleyCore
import ParleyModels
import ParleyServer
import Testing

/// What an operator sees of a chat turn: the model, tool, readiness and pool metrics, and the
/// admin route that shows one conversation turn by turn (`docs/runbook.md`, "A tenant reports a
/// wrong answer"), on SQLite and on PostgreSQL + Redis.
@Suite("Observability: metrics and the turn inspector", .serialized)
struct ObservabilityTests {
    /// Two providers: `first` (model-one) fails or answers as scripted, `second` (model-two) answers.
    func parley(first: TestModelServer, second: TestModelServer, base: TestParley = TestParley()) -> TestParley {
        var parley = base
        parley.configuration.providers = [
            ProviderConfiguration(name: "first", kind: .openai, baseURL: first.baseURL, model: "model-one"),
            ProviderConfiguration(name: "second", kind: .openai, baseURL: second.baseURL, model: "model-two"),
        ]
        parley.configuration.modelRoute = ["first", "second"]
        parley.configuration.providerBreaker = CircuitBreaker.Policy(threshold: 1, window: .seconds(60), coolDown: .seconds(60))
        return parley
    }

    /// The value of one exposition line, e.g. `parley_ready` or `parley_model_calls_total{…}`.
    static func value(_ metrics: String, _ series: String) -> Double? {
        metrics.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test func modelCallsToolsTokensAndProviderStateAreMeasured() async throws {
        let first = try await TestModelServer.start()
        let second = try await TestModelServer.start()
        let parley = parley(first: first, second: second)
        let alice = try await parley.token("alice")
        // Turn 1: model-one calls a tool, then answers (two calls, 12 + 5 tokens each).
        first.script([.toolCalls([("add_task", #"{"title": "Buy milk"}"#)]), .text("Added it.")])
        try await parley.run { client in
            let before = try await client.send(.get, "/metrics", token: nil).text
            // Declared at start: the series exist at zero before the first call.
            #expect(Self.value(before, #"parley_model_calls_total{provider="second",model="model-two",outcome="ok"}"#) == 0)
            #expect(Self.value(before, #"parley_model_provider_cooling_down{provider="first"}"#) == 0)
            #expect(Self.value(before, "parley_audit_dead_letters_total") == 0)
            #expect(Self.value(before, #"parley_build_info{version="\#(ParleyBuild.version)"}"#) == 1)

            let reply = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("add milk")).json
            #expect(reply["model"] == "model-one")
            // Turn 2, streamed: model-one fails (500) and cools down at once; model-two streams.
            first.script([.status(500)])
            second.script([.pieces("Hello there, Alice.", size: 4)])
            let streamed = try await client.send(
                .post, "/api/v1/chat", token: alice, json: #"{"message": "hi", "stream": true}"#)
            #expect(streamed.text.contains("event: done"))
            #expect(try await client.send(.get, "/api/v1/readyz", token: nil).status == .ok)

            let metrics = try await client.send(.get, "/metrics", token: nil).text
            #expect(Self.value(metrics, #"parley_model_calls_total{provider="first",model="model-one",outcome="ok"}"#) == 2)
            #expect(Self.value(metrics, #"parley_model_calls_total{provider="first",model="model-one",outcome="server_error"}"#) == 1)
            #expect(Self.value(metrics, #"parley_model_calls_total{provider="second",model="model-two",outcome="ok"}"#) == 1)
            #expect(Self.value(metrics, #"parley_model_tokens_total{provider="first",model="model-one",type="input"}"#) == 24)
            #expect(Self.value(metrics, #"parley_model_tokens_total{provider="first",model="model-one",type="output"}"#) == 10)
            #expect(Self.value(metrics, #"parley_model_tokens_total{provider="second",model="model-two",type="output"}"#) == 5)
            #expect(Self.value(metrics, #"parley_model_call_duration_seconds_count{provider="first"}"#) == 3)
            // Only the streamed answer has a time to first token.
            #expect(Self.value(metrics, #"parley_model_time_to_first_token_seconds_count{provider="second"}"#) == 1)
            #expect(Self.value(metrics, #"parley_model_time_to_first_token_seconds_count{provider="first"}"#) == nil)
            #expect(Self.value(metrics, #"parley_model_provider_cooling_down{provider="first"}"#) == 1)
            #expect(Self.value(metrics, #"parley_model_provider_cooling_down{provider="second"}"#) == 0)
            #expect(Self.value(metrics, #"parley_tool_calls_total{tool="add_task",outcome="ok"}"#) == 1)
            #expect(Self.value(metrics, #"parley_tool_call_duration_seconds_count{tool="add_task"}"#) == 1)
            #expect(Self.value(metrics, "parley_ready") == 1)
            // SQLite has no pool: no database pool series.
            #expect(!metrics.contains("parley_database_operations_in_flight"))
        }
        await first.stop()
        await second.stop()
    }

    @Test func theTurnInspectorShowsEachTurnWithItsCallsAndAuditOnSQLite() async throws {
        try await inspectorShowsTurns(base: TestParley())
    }

    @Test func theTurnInspectorAndPoolMetricsOnPostgresAndRedis() async throws {
        let (base, pool) = try await ProductionBackendTests.production(redisDatabase: 9)
        try await inspectorShowsTurns(base: base) { metrics in
            #expect(Self.value(metrics, #"parley_database_pool_connections_max{backend="postgresql"}"#) == 10)
            #expect(Self.value(metrics, #"parley_database_operations_in_flight{backend="postgresql"}"#) != nil)
            #expect(Self.value(metrics, #"parley_database_errors_total{backend="postgresql"}"#) == 0)
            #expect((Self.value(metrics, "parley_redis_connections_open") ?? 0) >= 1)
            #expect(Self.value(metrics, "parley_redis_errors_total") == 0)
        }
        await pool.shutdown()
    }

    func inspectorShowsTurns(base: TestParley, poolMetrics: (@Sendable (String) -> Void)? = nil) async throws {
        let first = try await TestModelServer.start()
        let second = try await TestModelServer.start()
        let parley = parley(first: first, second: second, base: base)
        let alice = try await parley.token("alice")
        let bob = try await parley.token("bob")
        let admin = try await parley.token("root", admin: true)
        // Turn 1: model-one adds a task, then answers. Turn 2: model-one fails, model-two answers.
        first.script([.toolCalls([("add_task", #"{"title": "Buy milk"}"#)]), .text("Added Buy milk."), .status(503)])
        second.script([.text("Second here.")])
        try await parley.run { client in
            let requestID = "turn-one-\(UUID().uuidString.prefix(8))"
            let one = try await client.send(
                .post, "/api/v1/chat", token: alice, json: chatBody("add milk"), headers: [HTTPField.Name("X-Request-ID")!: requestID])
            let conversation = try #require(try one.json["conversation_id"]?.intValue)
            _ = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("and now?", conversation: conversation))
            let path = "/api/v1/admin/users/alice/conversations/\(conversation)"

            // Admins only; another user's conversation (or a bad id) is not found.
            try await client.send(.get, path, token: alice).expectProblem(.forbidden)
            _ = try await client.send(.post, "/api/v1/chat", token: bob, json: chatBody("hello"))
            try await client.send(.get, "/api/v1/admin/users/bob/conversations/\(conversation)", token: admin).expectProblem(.notFound)
            try await client.send(.get, "/api/v1/admin/users/alice/conversations/0", token: admin).expectProblem(.notFound)
            try await client.send(.get, path + "?limit=0", token: admin).expectProblem(.badRequest, field: "limit")

            // The audit events of the turn's request are written a moment later.
            _ = try await client.auditEvents(token: admin, query: "request_id=\(requestID)") { $0.count >= 2 }
            let page = try await client.send(.get, path, token: admin).json
            #expect(page["user"] == "alice")
            #expect(page["has_more"] == false)
            let turns = try #require(page["turns"]?.arrayValue)
            #expect(turns.count == 2)

            let added = turns[0]
            #expect(added["question"]?["content"] == "add milk")
            #expect(added["answer"]?["content"] == "Added Buy milk.")
            #expect(added["answer"]?["tool_calls"]?.arrayValue?.first?["name"] == "add_task")
            #expect(added["answer"]?["tool_calls"]?.arrayValue?.first?["arguments"]?["title"] == "Buy milk")
            #expect(added["answer"]?["tool_calls"]?.arrayValue?.first?["result"]?["task"]?["id"] == 1)
            #expect(added["provider"] == "first")
            #expect(added["fallback_used"] == false)
            #expect(added["request_id"]?.stringValue == requestID)
            let calls = try #require(added["model_calls"]?.arrayValue)
            #expect(calls.map { $0["outcome"] } == ["ok", "ok"])
            #expect(calls.map { $0["finish_reason"] } == ["tool_calls", "stop"])
            #expect(calls.allSatisfy { $0["input_tokens"] == 12 && $0["output_tokens"] == 5 && $0["request_model"] == "model-one" })
            #expect(calls.allSatisfy { ($0["duration_ms"]?.numberValue ?? -1) >= 0 })
            #expect((added["duration_ms"]?.numberValue ?? 0) >= (calls[0]["duration_ms"]?.numberValue ?? 0))
            let actions = added["audit"]?.arrayValue?.compactMap { $0["action"]?.stringValue } ?? []
            #expect(Set(actions) == ["task.create", "chat.message"], "\(actions)")
            #expect(added["audit"]?.arrayValue?.allSatisfy { $0["request_id"]?.stringValue == requestID } == true)

            let fellBack = turns[1]
            #expect(fellBack["provider"] == "second")
            #expect(fellBack["fallback_used"] == true)
            #expect(fellBack["fallbacks"] == [["provider": "first", "reason": "server_error"]])
            #expect(fellBack["model_calls"]?.arrayValue?.map { $0["outcome"] } == ["server_error", "ok"])
            #expect(fellBack["answer"]?["model"] == "model-two")

            // Paging: one turn per page, the newest first, then the one before it.
            let newest = try await client.send(.get, path + "?limit=1", token: admin).json
            #expect(newest["turns"]?.arrayValue?.count == 1)
            #expect(newest["has_more"] == true)
            let firstQuestion = try #require(turns[1]["question"]?["id"]?.intValue)
            #expect(newest["turns"]?.arrayValue?.first?["question"]?["id"]?.intValue == firstQuestion)
            let older = try await client.send(.get, path + "?limit=1&before=\(firstQuestion)", token: admin).json
            #expect(older["turns"]?.arrayValue?.first?["answer"]?["content"] == "Added Buy milk.")
            #expect(older["has_more"] == false)

            // The inspection itself is audited.
            _ = try await client.auditEvents(token: admin, query: "action=conversation") { events in
                events.contains { $0["action"] == "conversation.inspect" && $0["detail"] == "user alice" }
            }
            poolMetrics?(try await client.send(.get, "/metrics", token: nil).text)
        }
        await first.stop()
        await second.stop()
    }
}
