import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ParleyCore
import ParleyModels
import ParleyServer
import Testing

/// `parley mcp` as its own service, and the agent reaching its tools there (`mcp.url`).
@Suite("MCP service")
struct MCPServiceTests {
    @Test func theAgentCallsItsToolsInASeparateMCPServiceWithTheCallersToken() async throws {
        var service = TestParley()
        // A local model in the shared configuration is the API server's business, not the MCP service's.
        var local = ProviderConfiguration(name: "local", kind: .llamacpp, baseURL: "http://127.0.0.1", model: "smollm2")
        local.launch = LlamaServerSettings(binary: "/nonexistent/llama-server", modelPath: "/nonexistent/model.gguf")
        service.configuration.providers = [local]
        service.configuration.modelRoute = ["local"]
        let mcpService = service
        let alice = try await mcpService.token("alice")
        let admin = try await mcpService.token("root", admin: true)
        try await mcpService.run(surface: .mcp) { mcpClient, _ in
            let port = try #require(mcpClient.port)
            // The MCP surface serves no API, and runs no model.
            #expect(try await mcpClient.send(.get, "/api/v1/tasks", token: alice).status == .notFound)
            #expect(try await mcpClient.send(.get, "/api/v1/readyz", token: nil).status == .ok)
            var api = TestParley(sharingDataWith: mcpService)
            api.configuration.mcp.url = "http://127.0.0.1:\(port)/mcp"
            try await api.run { client in
                let reply = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("add a task to buy milk")).json
                #expect(reply["response"] == "Added task 1: Buy milk.")
                #expect(reply["tool_calls"]?.arrayValue?.first?["result"]?["task"]?["id"] == 1)
                let tasks = try await client.send(.get, "/api/v1/tasks", token: alice).json["tasks"]?.arrayValue
                #expect(tasks?.map { $0["title"] } == ["Buy milk"])
                // The service ran the tool, for alice: its audit names the call.
                let events = try await client.auditEvents(token: admin, query: "action=task.create") { !$0.isEmpty }
                #expect(events.contains { $0["actor"] == "alice" && $0["detail"] == "mcp" })
            }
        }
    }

    @Test func whenTheMCPServiceIsDownTheToolFailsAndNothingChanges() async throws {
        var api = TestParley()
        api.configuration.mcp.url = "http://127.0.0.1:9/mcp"
        // A refused connection may fail only at the deadline (see MCPRemoteToolProvider).
        api.configuration.mcp.timeout = .seconds(2)
        let alice = try await api.token("alice")
        try await api.run { client in
            let reply = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("add a task to buy milk")).json
            #expect(reply["tool_calls"]?.arrayValue?.first?["result"]?["error"]?["code"] == "unavailable")
            #expect(try await client.send(.get, "/api/v1/tasks", token: alice).json["tasks"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test func aServiceThatNeverAnswersCostsTheTurnItsTimeout() async throws {
        // Accepts the call and holds it until the test ends.
        let released = SharedMutex(false)
        let router = Router()
        router.post("mcp") { _, _ -> Response in
            while !released.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(50)) }
            return Response(status: .serviceUnavailable)
        }
        let hanging = try await LoopbackServer.start(router, name: "hanging-mcp")
        var api = TestParley()
        api.configuration.mcp.url = "http://127.0.0.1:\(hanging.port)/mcp"
        api.configuration.mcp.timeout = .seconds(1)
        let alice = try await api.token("alice")
        try await api.run { client in
            let start = ContinuousClock.now
            let reply = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("add a task to buy milk")).json
            let elapsed = ContinuousClock.now - start
            // Without the timeout the turn would wait for as long as the service holds it; the upper
            // bound leaves room for a loaded test machine.
            #expect(elapsed >= .seconds(1) && elapsed < .seconds(15), "\(elapsed)")
            #expect(reply["tool_calls"]?.arrayValue?.first?["result"]?["error"]?["code"] == "unavailable")
            #expect(try await client.send(.get, "/api/v1/tasks", token: alice).json["tasks"]?.arrayValue?.isEmpty == true)
        }
        released.withLock { $0 = true }
        await hanging.stop()
    }
}
