import Foundation
import HTTPTypes
import HummingbirdTesting
import ParleyCore
import ParleyModels
import ParleyServer
import Testing

/// PII never reaches an external provider; the user never sees a placeholder.
@Suite("PII pseudonymization")
struct PseudonymizationTests {
    struct CorpusLine: Decodable {
        struct Entity: Decodable {
            let type: String
            let value: String
        }

        let text: String
        let entities: [Entity]
    }

    /// The labelled corpus of `eval/pii_eval.py`.
    static func corpus() throws -> [CorpusLine] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../eval/pii/corpus.jsonl")
        return try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map {
            try JSONDecoder().decode(CorpusLine.self, from: Data($0.utf8))
        }
    }

    func parley(_ server: TestModelServer, external: Bool = true) -> TestParley {
        var parley = TestParley()
        parley.configuration.providers = [
            ProviderConfiguration(name: "cloud", kind: .openai, baseURL: server.baseURL, model: "gpt-test", external: external)
        ]
        parley.configuration.modelRoute = ["cloud"]
        return parley
    }

    /// Every text a request carried: message contents and tool-call arguments.
    static func texts(of request: JSONValue) -> [String] {
        (request["messages"]?.arrayValue ?? []).flatMap { message in
            [message["content"]?.stringValue].compactMap { $0 }
                + (message["tool_calls"]?.arrayValue ?? []).compactMap { $0["function"]?["arguments"]?.stringValue }
        }
    }

    /// `value` stands in `text` as a whole (a name "tom" is not leaked by "tomorrow").
    static func mentions(_ text: String, _ value: String) -> Bool {
        var searchRange = text.startIndex..<text.endIndex
        while let found = text.range(of: value, range: searchRange) {
            let before = found.lowerBound == text.startIndex ? nil : text[text.index(before: found.lowerBound)]
            let after = found.upperBound == text.endIndex ? nil : text[found.upperBound]
            if !(before?.isLetter ?? false || before?.isNumber ?? false) && !(after?.isLetter ?? false || after?.isNumber ?? false) {
                return true
            }
            searchRange = found.upperBound..<text.endIndex
        }
        return false
    }

    @Test func noLabelledValueOfTheCorpusReachesAnExternalProvider() async throws {
        let lines = try Self.corpus().filter { !$0.entities.isEmpty }
        #expect(lines.count > 300)
        let server = try await TestModelServer.start()
        server.script([], always: .text("Noted."))
        let parley = parley(server)
        let alice = try await parley.token("alice")
        try await parley.run { client in
            // Eight messages per conversation, so earlier messages (with their PII) go out as context too.
            var conversation: Int?
            for (index, line) in lines.enumerated() {
                if index % 8 == 0 { conversation = nil }
                let reply = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody(line.text, conversation: conversation)).json
                conversation = reply["conversation_id"]?.intValue
            }
        }
        let sent = server.requests.flatMap { Self.texts(of: $0.body) }
        #expect(server.requests.count == lines.count)
        var leaks: [String] = []
        for line in lines {
            for entity in line.entities where sent.contains(where: { Self.mentions($0, entity.value) }) {
                leaks.append("\(entity.type): \(entity.value)")
            }
        }
        #expect(leaks.isEmpty, "reached the provider: \(leaks.prefix(20))")
        // The placeholders did go out (the test would pass vacuously if the text never did).
        #expect(sent.contains { $0.contains("<EMAIL_1>") } && sent.contains { $0.contains("<PERSON_1>") })
        await server.stop()
    }

    @Test func placeholdersAreMappedBackInRepliesToolCallsAndHistory() async throws {
        let server = try await TestModelServer.start()
        server.script([
            .toolCalls([("add_task", #"{"title": "Email <EMAIL_1> the contract"}"#)]),
            .text("Added a task to email <EMAIL_1> for you, <PERSON_1>."),
        ])
        let parley = parley(server)
        let alice = try await parley.token("alice")
        try await parley.run { client in
            let message = "My name is Anna Schmidt. Add a task to email jane.doe@example.com the contract"
            let reply = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody(message)).json
            #expect(reply["response"] == "Added a task to email jane.doe@example.com for you, Anna Schmidt.")
            #expect(reply["tool_calls"]?.arrayValue?.first?["arguments"]?["title"] == "Email jane.doe@example.com the contract")
            let tasks = try await client.send(.get, "/api/v1/tasks", token: alice).json["tasks"]?.arrayValue
            #expect(tasks?.first?["title"] == "Email jane.doe@example.com the contract")
            let history = try await client.send(.get, "/api/v1/chat/history", token: alice).json["messages"]?.arrayValue
            #expect(history?.last?["content"] == "Added a task to email jane.doe@example.com for you, Anna Schmidt.")

            // What the provider saw: placeholders, in the message and in the tool result sent back.
            let first = Self.texts(of: try #require(server.requests.first?.body))
            #expect(first.last == "My name is <PERSON_1>. Add a task to email <EMAIL_1> the contract")
            let second = try #require(server.requests.last?.body["messages"]?.arrayValue)
            let toolResult = try #require(second.first { $0["role"] == "tool" }?["content"]?.stringValue)
            #expect(toolResult.contains("Email <EMAIL_1> the contract"))
            #expect(!Self.texts(of: try #require(server.requests.last?.body)).contains { $0.contains("jane.doe@example.com") })
        }
        await server.stop()
    }

    @Test func aLocalProviderSeesTheRealText() async throws {
        let server = try await TestModelServer.start()
        server.script([], always: .text("Noted."))
        let parley = parley(server, external: false)
        let alice = try await parley.token("alice")
        try await parley.run { client in
            _ = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("Please call Anna Schmidt at +49 30 1234567"))
        }
        #expect(Self.texts(of: try #require(server.requests.first?.body)).last == "Please call Anna Schmidt at +49 30 1234567")
        await server.stop()
    }
}
