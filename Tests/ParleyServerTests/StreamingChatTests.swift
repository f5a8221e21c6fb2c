import Foundation
import HTTPTypes
import HummingbirdTesting
import ParleyCore
import ParleyModels
import ParleyServer
import Testing

/// One Server-Sent Event of a streamed chat turn.
struct ChatEvent {
    let name: String
    let data: JSONValue
}

extension TestResponse {
    /// The body as Server-Sent Events.
    var events: [ChatEvent] {
        get throws {
            // Comment frames (": stream open") carry no event.
            try text.components(separatedBy: "\n\n").filter { $0.contains("data: ") }.map { frame in
                var name = ""
                var data = ""
                for line in frame.split(separator: "\n") {
                    if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
                    if line.hasPrefix("data: ") { data += line.dropFirst(6) }
                }
                return ChatEvent(name: name, data: try JSONDecoder().decode(JSONValue.self, from: Data(data.utf8)))
            }
        }
    }
}

extension [ChatEvent] {
    /// The text as a client assembles it: deltas joined, dropped at each restart.
    var assembledText: String {
        reduce(into: "") { text, event in
            if event.name == "restart" { text = "" }
            if event.name == "delta" { text += event.data["text"]?.stringValue ?? "" }
        }
    }
}

@Suite("Streaming chat")
struct StreamingChatTests {
    func streamBody(_ message: String) -> String { #"{"message": "\#(message)", "stream": true}"# }

    @Test func theBasicAgentStreamsToolEventsTextAndTheFinalObject() async throws {
        let parley = TestParley()
        let alice = try await parley.token("alice")
        try await parley.run { client in
            let response = try await client.send(.post, "/api/v1/chat", token: alice, json: streamBody("add a task to buy milk"))
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/event-stream")
            let events = try response.events
            #expect(events.map(\.name) == ["tool_call", "tool_result", "delta", "done"])
            #expect(events[0].data["name"] == "add_task")
            #expect(events[0].data["arguments"]?["title"] == "Buy milk")
            #expect(events[1].data["result"]?["task"]?["id"] == 1)
            let done = events[3].data
            #expect(done["response"]?.stringValue == events.assembledText)
            #expect(done["response"] == "Added task 1: Buy milk.")
            #expect(done["tool_calls"]?.arrayValue?.count == 1)
            #expect(done["model"] == "basic")

            // Accept: text/event-stream asks for the same; the stored answer is what was streamed.
            let conversation = try #require(done["conversation_id"]?.intValue)
            let listed = try await client.send(
                .post, "/api/v1/chat", token: alice, json: chatBody("what's on my list?", conversation: conversation),
                headers: [.accept: "text/event-stream"])
            let listEvents = try listed.events
            #expect(listEvents.last?.name == "done")
            let history = try await client.send(.get, "/api/v1/chat/history?conversation_id=\(conversation)", token: alice).json
            #expect(history["messages"]?.arrayValue?.last?["content"]?.stringValue == listEvents.assembledText)
        }
    }

    @Test func refusalsBeforeTheTurnAreStillPlainProblems() async throws {
        let parley = TestParley()
        let alice = try await parley.token("alice")
        try await parley.run { client in
            try await client.send(.post, "/api/v1/chat", token: alice, json: #"{"message": "hi", "stream": true, "conversation_id": 99}"#)
                .expectProblem(.notFound)
            try await client.send(.post, "/api/v1/chat", token: alice, json: #"{"message": " ", "stream": true}"#)
                .expectProblem(.unprocessableContent, field: "message")
            #expect(try await client.send(.get, "/api/v1/conversations", token: alice).json["conversations"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test func aModelsAnswerStreamsInPiecesAfterItsToolCalls() async throws {
        let server = try await TestModelServer.start()
        server.script([
            .toolCalls([("add_task", #"{"title": "Buy milk"}"#)]),
            .pieces("Added Buy milk to your list.", size: 4),
        ])
        var parley = TestParley()
        parley.configuration.providers = [ProviderConfiguration(name: "local", kind: .llamacpp, baseURL: server.baseURL, model: "model-one")]
        parley.configuration.modelRoute = ["local"]
        let alice = try await parley.token("alice")
        try await parley.run { client in
            let events = try await client.send(.post, "/api/v1/chat", token: alice, json: streamBody("put milk on my list")).events
            #expect(events.first.map { [$0.name] } == ["tool_call"])
            #expect(events.filter { $0.name == "delta" }.count == 7)
            #expect(events.assembledText == "Added Buy milk to your list.")
            let done = try #require(events.last)
            #expect(done.name == "done")
            #expect(done.data["response"]?.stringValue == events.assembledText)
            #expect(done.data["model"] == "model-one")
            let history = try await client.send(.get, "/api/v1/chat/history", token: alice).json["messages"]?.arrayValue
            #expect(history?.last?["content"]?.stringValue == events.assembledText)
        }
        #expect(server.requests.allSatisfy { $0.body["stream"] == true })
        await server.stop()
    }

    @Test func openStreamsAreCappedPerUserAndPerTenant() async throws {
        let server = try await TestModelServer.start()
        // The first model call hangs (until the 5 s provider timeout): alice's stream stays open.
        server.script([.hang], always: .text("Here is your answer."))
        var provider = ProviderConfiguration(name: "local", kind: .llamacpp, baseURL: server.baseURL, model: "model-one")
        provider.timeout = .seconds(5)
        provider.declaredTools = .tools
        var parley = TestParley()
        parley.configuration.providers = [provider]
        parley.configuration.modelRoute = ["local"]
        parley.configuration.maxStreamsPerUser = 1
        parley.configuration.maxStreamsPerTenant = 1
        let alice = try await parley.token("alice")
        let bob = try await parley.token("bob")
        let carol = try await parley.token("carol", tenants: ["globex"])
        try await parley.run { client in
            // alice's stream, on a connection of its own, left unread while the model hangs.
            let held = try RawConnection(port: try #require(client.port))
            let body = streamBody("what is on my list?")
            await held.send(
                "POST /api/v1/chat HTTP/1.1\r\nHost: parley\r\nAuthorization: Bearer \(alice)\r\nContent-Type: application/json\r\n"
                    + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
            // Its turn has reached the (hanging) model, so it holds its slot. The response head has
            // come already, before any event.
            for _ in 0..<200 where server.requests.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
            #expect(server.requests.count == 1)
            let head = await held.read(until: ": stream open\n\n", within: 2)
            #expect(head.hasPrefix("HTTP/1.1 200") && head.contains("text/event-stream"), "\(head.prefix(300))")
            #expect(!head.contains("event:"), "no event yet while the model hangs")
            let again = try await client.send(.post, "/api/v1/chat", token: alice, json: streamBody("hello"))
            let perUser = try again.expectProblem(.tooManyRequests)
            #expect(perUser["detail"]?.stringValue?.contains("chat.maxStreamsPerUser") == true)
            #expect(again.headers[.retryAfter] == "1")
            let other = try await client.send(.post, "/api/v1/chat", token: bob, json: streamBody("hello"))
            #expect(try other.expectProblem(.tooManyRequests)["detail"]?.stringValue?.contains("chat.maxStreamsPerTenant") == true)
            // Another tenant, and a plain (not streamed) chat, are not held back.
            #expect(try await client.send(.post, "/api/v1/chat", token: carol, json: streamBody("hello")).events.last?.name == "done")
            #expect(try await client.send(.post, "/api/v1/chat", token: bob, json: chatBody("hello")).status == .ok)

            // Once alice's stream has ended (the model timed out, the fallback answered), the slots are free again.
            let ended = await held.read(until: "\r\n0\r\n\r\n", within: 30)  // the chunked body's end
            #expect(ended.contains("event: done"), "\(ended.suffix(400))")
            #expect(try await client.send(.post, "/api/v1/chat", token: bob, json: streamBody("hello")).events.last?.name == "done")
        }
        await server.stop()
    }

    @Test func aProviderThatBreaksMidAnswerIsRestartedOnTheNext() async throws {
        let first = try await TestModelServer.start()
        let second = try await TestModelServer.start()
        first.script([.brokenStream("This answer will never be finished, sadly.")])
        second.script([.text("A whole answer.")])
        var parley = TestParley()
        parley.configuration.providers = [
            ProviderConfiguration(name: "first", kind: .llamacpp, baseURL: first.baseURL, model: "model-one"),
            ProviderConfiguration(name: "second", kind: .llamacpp, baseURL: second.baseURL, model: "model-two"),
        ]
        parley.configuration.modelRoute = ["first", "second"]
        let alice = try await parley.token("alice")
        try await parley.run { client in
            let events = try await client.send(.post, "/api/v1/chat", token: alice, json: streamBody("tell me something")).events
            let names = events.map(\.name)
            let restart = try #require(names.firstIndex(of: "restart"))
            #expect(names[..<restart].contains("delta"))
            #expect(events.assembledText == "A whole answer.")
            #expect(events.last?.data["response"] == "A whole answer.")
            #expect(events.last?.data["model"] == "model-two")
            #expect(events.last?.data["fallback_used"] == true)
            let history = try await client.send(.get, "/api/v1/chat/history", token: alice).json["messages"]?.arrayValue
            #expect(history?.last?["content"] == "A whole answer.")
        }
        await first.stop()
        await second.stop()
    }

    @Test func placeholdersSplitAcrossPiecesAreRestoredBeforeTheyAreStreamed() async throws {
        let server = try await TestModelServer.start()
        server.script([.pieces("I will email <EMAIL_1> and call <PERSON_1> today.", size: 3)])
        var parley = TestParley()
        parley.configuration.providers = [ProviderConfiguration(name: "cloud", kind: .openai, baseURL: server.baseURL, model: "gpt-test")]
        parley.configuration.modelRoute = ["cloud"]
        let alice = try await parley.token("alice")
        try await parley.run { client in
            let message = "Remind me to email jane.doe@example.com and to call Anna Schmidt"
            let events = try await client.send(.post, "/api/v1/chat", token: alice, json: streamBody(message)).events
            #expect(events.assembledText == "I will email jane.doe@example.com and call Anna Schmidt today.")
            #expect(!events.contains { $0.name == "delta" && $0.data["text"]?.stringValue?.contains("<") == true })
            #expect(events.last?.data["response"]?.stringValue == events.assembledText)
        }
        let sent = try #require(server.requests.first?.body["messages"]?.arrayValue?.last?["content"]?.stringValue)
        #expect(sent == "Remind me to email <EMAIL_1> and to call <PERSON_1>")
        await server.stop()
    }
}
