import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import ParleyAgent
import ParleyCore
import ParleyModels
import ParleyServer
import Testing

@Suite("OpenAI-compatible client")
struct OpenAIClientTests {
    func client(_ server: TestModelServer, timeout: Duration = .seconds(10)) -> OpenAICompatibleClient {
        OpenAICompatibleClient(settings: .init(baseURL: server.baseURL, model: "gpt-test", apiKey: "sk-test", timeout: timeout))
    }

    let addMilk = ChatRequest(
        messages: [.system("be brief"), .user("add milk")],
        tools: [ToolSpec(name: "add_task", description: "Add", parameters: TaskTools.addTask.inputSchema)], toolChoice: .auto)

    @Test func plainAnswersToolCallsAndWhatWasSent() async throws {
        let server = try await TestModelServer.start()
        let client = client(server)
        server.script([.text("Sure."), .toolCalls([("add_task", #"{"title": "Milk"}"#)])])
        let text = try await client.complete(addMilk)
        #expect(text.message.content == "Sure.")
        #expect(text.usage == TokenUsage(promptTokens: 12, completionTokens: 5))
        #expect(text.model == "gpt-test")
        let call = try await client.complete(addMilk)
        #expect(call.message.toolCalls == [ToolCall(id: "call_0", name: "add_task", arguments: #"{"title": "Milk"}"#)])
        #expect(call.finishReason == "tool_calls")

        let sent = try #require(server.requests.first)
        #expect(sent.authorization == "Bearer sk-test")
        #expect(sent.body["model"] == "gpt-test")
        #expect(sent.body["tool_choice"] == "auto")
        #expect(sent.body["tools"]?.arrayValue?.first?["function"]?["name"] == "add_task")
        #expect(sent.body["messages"]?.arrayValue?.map { $0["role"]?.stringValue } == ["system", "user"])
        try await client.shutdown()
        await server.stop()
    }

    @Test func streamsTextAndAssemblesToolCallDeltasByIndex() async throws {
        let server = try await TestModelServer.start()
        let client = client(server)
        server.script([
            .text("Three words here"),
            .toolCalls([("add_task", #"{"title": "Buy oat milk"}"#), ("list_tasks", #"{"status": "pending"}"#)]),
        ])
        var deltas: [String] = []
        var final: ChatResponse?
        for try await event in client.stream(addMilk) {
            switch event {
            case .text(let text): deltas.append(text)
            case .completed(let response): final = response
            }
        }
        #expect(deltas == ["Three ", "words ", "here"])
        #expect(final?.message.content == "Three words here")
        #expect(final?.usage?.completionTokens == 5)
        #expect(server.requests.first?.body["stream"] == true)

        var calls: [ToolCall] = []
        for try await event in client.stream(addMilk) {
            if case .completed(let response) = event { calls = response.message.toolCalls ?? [] }
        }
        #expect(calls == [
            ToolCall(id: "call_0", name: "add_task", arguments: #"{"title": "Buy oat milk"}"#),
            ToolCall(id: "call_1", name: "list_tasks", arguments: #"{"status": "pending"}"#),
        ])
        try await client.shutdown()
        await server.stop()
    }

    @Test func failuresBecomeModelErrors() async throws {
        let server = try await TestModelServer.start()
        // Long enough for a first connection on a busy machine, short enough to tell a hang.
        let client = client(server, timeout: .seconds(2))
        server.script([.status(500), .status(429), .garbage, .hang])
        await #expect(throws: ModelError.status(500, #"{"error": {"message": "scripted failure"}}"#)) { try await client.complete(addMilk) }
        do {
            _ = try await client.complete(addMilk)
            Issue.record("429 did not throw")
        } catch let error as ModelError {
            #expect(error.reason == "rate_limited")
        }
        do {
            _ = try await client.complete(addMilk)
            Issue.record("garbage did not throw")
        } catch let error as ModelError {
            #expect(error.reason == "malformed")
        }
        let start = ContinuousClock.now
        await #expect(throws: ModelError.timeout) { try await client.complete(addMilk) }
        #expect(ContinuousClock.now - start < .seconds(6))
        try await client.shutdown()
        await server.stop()

        // Nobody listening: unreachable, quickly.
        let nowhere = OpenAICompatibleClient(settings: .init(baseURL: "http://127.0.0.1:9/v1", model: "x"))
        do {
            _ = try await nowhere.complete(addMilk)
            Issue.record("a closed port answered")
        } catch let error as ModelError {
            #expect(error.reason == "unreachable")
        }
        try await nowhere.shutdown()
    }
}

@Suite("Model routes and fallback")
struct ModelRouteTests {
    /// Parley with providers `first` and `second` (both test servers), in that order.
    func parley(first: TestModelServer, second: TestModelServer, timeout: Int = 10) -> TestParley {
        var parley = TestParley()
        var one = ProviderConfiguration(name: "first", kind: .openai, baseURL: first.baseURL, model: "model-one")
        var two = ProviderConfiguration(name: "second", kind: .openai, baseURL: second.baseURL, model: "model-two")
        one.timeout = .seconds(timeout)
        two.timeout = .seconds(timeout)
        parley.configuration.providers = [one, two]
        parley.configuration.modelRoute = ["first", "second"]
        parley.configuration.providerBreaker = CircuitBreaker.Policy(threshold: 2, window: .seconds(60), coolDown: .seconds(60))
        return parley
    }

    @Test func theAgentLoopRunsToolsAndRecordsEveryCall() async throws {
        let first = try await TestModelServer.start()
        let second = try await TestModelServer.start()
        let parley = parley(first: first, second: second)
        let alice = try await parley.token("alice")
        first.script([
            .toolCalls([("add_task", #"{"title": "Buy milk"}"#)]),
            .toolCalls([("complete_task", #"{"task_id": 99}"#)]),
            .text("Added Buy milk; there is no task 99."),
        ])
        try await parley.run { client in
            let reply = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("add buy milk and finish task 99")).json
            #expect(reply["response"] == "Added Buy milk; there is no task 99.")
            #expect(reply["model"] == "model-one")
            #expect(reply["fallback_used"] == false)
            let calls = try #require(reply["tool_calls"]?.arrayValue)
            #expect(calls.map { $0["name"] } == ["add_task", "complete_task"])
            #expect(calls[0]["result"]?["task"]?["title"] == "Buy milk")
            // A tool error goes back to the model as a result, not as a failure.
            #expect(calls[1]["result"]?["error"]?["code"] == "not_found")
            #expect(try await client.send(.get, "/api/v1/tasks", token: alice).json["tasks"]?.arrayValue?.count == 1)

            // The model saw the tool results, tied to its calls.
            let third = try #require(first.requests.last?.body["messages"]?.arrayValue)
            let tools = third.filter { $0["role"] == "tool" }
            #expect(tools.map { $0["tool_call_id"] } == ["call_0", "call_0"])
            #expect(tools.first?["content"]?.stringValue?.contains("Buy milk") == true)
            // The stored assistant message keeps the calls.
            let history = try await client.send(.get, "/api/v1/chat/history", token: alice).json["messages"]?.arrayValue
            #expect(history?.last?["tool_calls"]?.arrayValue?.count == 2)
        }
        await first.stop()
        await second.stop()
    }

    @Test func failuresFallThroughInOrderAndAFailingProviderCoolsDown() async throws {
        let first = try await TestModelServer.start()
        let second = try await TestModelServer.start()
        let parley = parley(first: first, second: second, timeout: 1)
        let alice = try await parley.token("alice")
        // 500, then a schema-invalid tool call (title must be a string): both fall through.
        first.script([.status(500), .toolCalls([("add_task", #"{"title": 42}"#)])])
        second.script([], always: .text("Second here."))
        try await parley.run { client in
            for _ in 0..<2 {
                let reply = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("hello")).json
                #expect(reply["model"] == "model-two")
                #expect(reply["fallback_used"] == true)
            }
            #expect(first.requests.count == 2)
            // Two failures within the window: the first provider is skipped for the cool-down.
            let skipped = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("hello")).json
            #expect(skipped["model"] == "model-two")
            #expect(first.requests.count == 2)
            let metrics = try await client.send(.get, "/metrics", token: nil).text
            for reason in ["server_error", "invalid_tool_call", "cooling_down"] {
                #expect(metrics.contains(#"parley_model_fallbacks_total{provider="first",reason="\#(reason)"} 1"#), "\(reason)")
            }
            // Nothing was added by the invalid call.
            #expect(try await client.send(.get, "/api/v1/tasks", token: alice).json["tasks"] == [])
        }
        await first.stop()
        await second.stop()
    }

    @Test func aHangingProviderCostsItsTimeoutThenTheNextAnswers() async throws {
        let first = try await TestModelServer.start()
        let second = try await TestModelServer.start()
        let parley = parley(first: first, second: second, timeout: 1)
        let alice = try await parley.token("alice")
        first.script([.hang])
        second.script([.text("Still here.")])
        try await parley.run { client in
            let start = ContinuousClock.now
            let reply = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("hello")).json
            let elapsed = ContinuousClock.now - start
            #expect(reply["response"] == "Still here.")
            // The hang lasts until the server stops, after this check: without the timeout the
            // turn would never end. The upper bound leaves room for a loaded test machine.
            #expect(elapsed >= .seconds(1) && elapsed < .seconds(15), "\(elapsed)")
            print("fallback after a hanging provider (1 s timeout): \(elapsed)")
        }
        await first.stop()
        await second.stop()
    }

    @Test func whenEveryProviderFailsTheBasicAgentAnswersAndSaysSo() async throws {
        let first = try await TestModelServer.start()
        let second = try await TestModelServer.start()
        let parley = parley(first: first, second: second)
        let alice = try await parley.token("alice")
        first.script([], always: .status(503))
        second.script([], always: .garbage)
        try await parley.run { client in
            let reply = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("add a task to buy bread")).json
            #expect(reply["fallback_used"] == true)
            #expect(reply["model"] == "basic")
            #expect(reply["response"]?.stringValue?.contains("unavailable") == true)
            #expect(reply["response"]?.stringValue?.contains("Added task 1: Buy bread.") == true)
            #expect(try await client.send(.get, "/api/v1/tasks", token: alice).json["tasks"]?.arrayValue?.count == 1)
        }
        await first.stop()
        await second.stop()
    }

    @Test func aProviderThatCannotCallToolsRunsInHybridMode() async throws {
        let first = try await TestModelServer.start()
        let second = try await TestModelServer.start()
        var parley = parley(first: first, second: second)
        parley.configuration.providers[1].declaredTools = .tools
        let alice = try await parley.token("alice")
        first.answerProbes(with: .text("Sure, I added it."))
        first.script([], always: .text("Why did the tomato blush? It saw the salad dressing."))
        try await parley.run { client, services in
            // Task commands: the basic agent; the model is not asked.
            let add = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("add a task to buy milk")).json
            #expect(add["model"] == "basic")
            #expect(add["fallback_used"] == false)
            #expect(add["tool_calls"]?.arrayValue?.first?["result"]?["task"]?["title"] == "Buy milk")
            #expect(first.requests.isEmpty)
            // Anything else: the model, offered no tools and not promised any.
            let joke = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("tell me a joke")).json
            #expect(joke["model"] == "model-one")
            #expect(joke["response"] == "Why did the tomato blush? It saw the salad dressing.")
            let sent = try #require(first.requests.last?.body)
            #expect(sent["tools"] == nil)
            #expect(sent["messages"]?.arrayValue?.first?["content"]?.stringValue?.contains("cannot change the user's tasks") == true)
            #expect(services.router?.providers["first"]?.capability == .textOnly)
        }
        // Probed once (shared by start-up and the first request); the declared provider never.
        #expect(first.probes == 1)
        #expect(second.probes == 0)
        await first.stop()
        await second.stop()
    }

    @Test func tenantFlagsChooseTheRouteOrTheBasicAgent() async throws {
        let first = try await TestModelServer.start()
        let second = try await TestModelServer.start()
        let parley = parley(first: first, second: second)
        let alice = try await parley.token("alice")
        let admin = try await parley.token("root", admin: true)
        first.script([], always: .text("one"))
        second.script([], always: .text("two"))
        try await parley.run { client in
            #expect(try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("hi")).json["response"] == "one")
            #expect(try await client.send(.patch, "/api/v1/admin/flags", token: admin, json: #"{"model.route": ["second"]}"#).status == .ok)
            #expect(try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("hi")).json["response"] == "two")
            #expect(try await client.send(.patch, "/api/v1/admin/flags", token: admin, json: #"{"chatbot.ai": false}"#).status == .ok)
            let basic = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("hi")).json
            #expect(basic["model"] == "basic")
            #expect(basic["fallback_used"] == false)
        }
        #expect(first.requests.count == 1 && second.requests.count == 1)
        await first.stop()
        await second.stop()
    }
}
