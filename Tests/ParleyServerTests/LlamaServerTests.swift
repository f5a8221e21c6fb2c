import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import ParleyCore
import ParleyModels
import ParleyServer
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real llama.cpp `llama-server` with SmolLM2-135M, as `scripts/install-llama.sh` provides it;
/// `scripts/test` exports LLAMA_SERVER and LLAMA_MODEL. Without them the suite fails, it is not
/// skipped: CI always runs it.
enum LocalModel {
    struct Missing: Error, CustomStringConvertible {
        var description: String {
            "LLAMA_SERVER and LLAMA_MODEL must name llama-server and a GGUF model: run scripts/test, or eval \"$(scripts/install-llama.sh)\""
        }
    }

    static func settings() throws -> LlamaServerSettings {
        let environment = ProcessInfo.processInfo.environment
        guard let binary = environment["LLAMA_SERVER"], let model = environment["LLAMA_MODEL"],
            FileManager.default.isExecutableFile(atPath: binary), FileManager.default.fileExists(atPath: model)
        else { throw Missing() }
        // One thread: CI shares two cores with the Swift tests.
        return LlamaServerSettings(binary: binary, modelPath: model, threads: 1, contextSize: 2048, startupTimeout: .seconds(120))
    }

    /// Polls `condition` every 100 ms for up to `seconds`.
    static func wait(seconds: Int, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    static func isRunning(_ pid: Int32) -> Bool { kill(pid, 0) == 0 }
}

@Suite("llama.cpp server", .serialized)
struct LlamaServerTests {
    @Test func plainAndStreamedChatWithARealSmallModel() async throws {
        let supervisor = try LlamaServerSupervisor(name: "smol", settings: try LocalModel.settings(), logger: Logger(label: "test"))
        let running = Task { await supervisor.run() }
        #expect(try await LocalModel.wait(seconds: 120) { supervisor.isHealthy })
        let pid = try #require(supervisor.pid)

        let client = OpenAICompatibleClient(settings: .init(baseURL: supervisor.baseURL, model: "smollm2", timeout: .seconds(60)))
        let request = ChatRequest(messages: [.system("You are a helpful assistant."), .user("Name a fruit.")], maxTokens: 24)
        let plain = try await client.complete(request)
        #expect(!(plain.message.content ?? "").isEmpty)
        #expect((plain.usage?.completionTokens ?? 0) > 0)

        var deltas: [String] = []
        var completed: ChatResponse?
        for try await event in client.stream(request) {
            switch event {
            case .text(let text): deltas.append(text)
            case .completed(let response): completed = response
            }
        }
        #expect(deltas.count > 1)
        #expect(completed?.message.content == deltas.joined())
        try await client.shutdown()

        // Stopping the supervisor stops the server.
        running.cancel()
        await running.value
        #expect(try await LocalModel.wait(seconds: 10) { !LocalModel.isRunning(pid) })
        #expect(supervisor.starts == 1)
    }

    @Test func parleyRunsTheModelInHybridModeRestartsItAndFallsBackWhileItIsDown() async throws {
        let backup = try await TestModelServer.start()
        backup.script([], always: .text("Backup answering."))
        var parley = TestParley()
        var local = ProviderConfiguration(name: "local", kind: .llamacpp, baseURL: "http://127.0.0.1", model: "smollm2")
        local.launch = try LocalModel.settings()
        local.maxTokens = 32
        parley.configuration.providers = [local, ProviderConfiguration(name: "backup", kind: .openai, baseURL: backup.baseURL, model: "model-backup")]
        parley.configuration.modelRoute = ["local", "backup"]
        let alice = try await parley.token("alice")
        try await parley.run { client, services in
            let supervisor = try #require(services.localModels.first)
            // Not ready until the model is loaded; then the probe finds it cannot call tools.
            #expect(try await LocalModel.wait(seconds: 120) { try await client.send(.get, "/api/v1/readyz", token: nil).status == .ok })
            #expect(try await LocalModel.wait(seconds: 60) { services.router?.providers["local"]?.capability == .textOnly })
            let readiness = try await client.send(.get, "/api/v1/readyz", token: nil).json
            #expect(readiness["models"]?["local"]?["server"] == "ready")
            #expect(readiness["models"]?["local"]?["tools"] == "text_only")
            #expect(readiness["models"]?["backup"]?["tools"] == "tools")

            // Hybrid: a task command goes to the basic agent, anything else to the model.
            let add = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("add a task to buy milk")).json
            #expect(add["model"] == "basic")
            #expect(add["fallback_used"] == false)
            #expect(add["tool_calls"]?.arrayValue?.first?["name"] == "add_task")
            let start = ContinuousClock.now
            let joke = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("Tell me a short joke.")).json
            print("chat through llama-server (SmolLM2-135M, -t 1, max 32 tokens): \(ContinuousClock.now - start)")
            #expect(joke["model"] == "smollm2")
            #expect(joke["fallback_used"] == false)
            #expect(joke["response"]?.stringValue?.isEmpty == false)
            #expect(backup.requests.isEmpty)

            // The server dies: the next chat falls through to the backup, and Parley restarts it.
            let pid = try #require(supervisor.pid)
            kill(pid, SIGKILL)
            #expect(try await LocalModel.wait(seconds: 10) { supervisor.pid != pid })
            let fallback = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("Tell me a short joke.")).json
            #expect(fallback["model"] == "model-backup")
            #expect(fallback["fallback_used"] == true)
            // Refused while it is down, 503 "Loading model" once the restart is under way.
            let metrics = try await client.send(.get, "/metrics", token: nil).text
            #expect(
                metrics.contains(#"parley_model_fallbacks_total{provider="local",reason="unreachable"} 1"#)
                    || metrics.contains(#"parley_model_fallbacks_total{provider="local",reason="server_error"} 1"#))

            #expect(try await LocalModel.wait(seconds: 120) { supervisor.isHealthy })
            #expect(supervisor.starts == 2)
            let again = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("Say hello.")).json
            #expect(again["model"] == "smollm2")
            #expect(again["fallback_used"] == false)
        }
        await backup.stop()
    }
}
