import Foundation
import HTTPTypes
import HummingbirdTesting
import ParleyCore
import ParleyServer
import Testing

/// `POST /chatkit` in Parley's own terms: what each request does to conversations, messages,
/// feedback and tasks. (Conformance to ChatKit's types is checked in `scripts/e2e.sh` with the
/// openai-chatkit package itself.)
@Suite("ChatKit backend")
struct ChatKitTests {
    /// The `data:` events of a ChatKit stream.
    static func events(_ response: TestResponse) throws -> [JSONValue] {
        try response.text.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: ") }.map {
            try JSONDecoder().decode(JSONValue.self, from: Data($0.dropFirst(6).utf8))
        }
    }

    static func input(_ text: String) -> String {
        #"{"content": [{"type": "input_text", "text": "\#(text)"}], "attachments": [], "inference_options": {}}"#
    }

    @Test func aTurnStreamsInChatKitsOrderAndIsStoredAsParleyMessages() async throws {
        let parley = TestParley()
        let alice = try await parley.token("alice")
        let admin = try await parley.token("root", admin: true)
        try await parley.run { client in
            let created = try await client.send(
                .post, "/chatkit", token: alice, json: #"{"type": "threads.create", "params": {"input": \#(Self.input("add a task to buy milk"))}}"#)
            #expect(created.headers[.contentType] == "text/event-stream")
            let events = try Self.events(created)
            let types = events.compactMap { $0["type"]?.stringValue }
            #expect(Array(types.prefix(3)) == ["thread.created", "thread.item.done", "stream_options"])
            #expect(types.last == "thread.item.done")
            let thread = try #require(events.first?["thread"]?["id"]?.stringValue)
            let user = try #require(events[1]["item"]?["id"]?.stringValue)
            let answer = try #require(events.last?["item"])
            let answerID = try #require(answer["id"]?.stringValue)
            #expect(answer["content"]?.arrayValue?.first?["text"] == "Added task 1: Buy milk.")
            let deltas = events.filter { $0["update"]?["type"] == "assistant_message.content_part.text_delta" }
            #expect(deltas.compactMap { $0["update"]?["delta"]?.stringValue }.joined() == "Added task 1: Buy milk.")

            // The same items, read back: the question, the tools its answer used, the answer.
            let items = try await client.send(
                .post, "/chatkit", token: alice, json: #"{"type": "items.list", "params": {"thread_id": "\#(thread)", "order": "asc"}}"#
            ).json
            let ids = items["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            #expect(ids == [user, "wf_\(answerID.dropFirst(4))", answerID])
            #expect(items["data"]?.arrayValue?.dropFirst().first?["workflow"]?["tasks"]?.arrayValue?.first?["title"] == "Added task 1: Buy milk")

            // Feedback lands on the answer.
            let feedback = try await client.send(
                .post, "/chatkit", token: alice,
                json: #"{"type": "items.feedback", "params": {"thread_id": "\#(thread)", "item_ids": ["\#(answerID)"], "kind": "positive"}}"#)
            #expect(feedback.status == .ok)
            let exported = try await client.send(.get, "/api/v1/admin/feedback", token: admin).json["feedback"]?.arrayValue ?? []
            #expect(exported.map { $0["rating"] } == ["up"])

            // A retry replaces the answer: still one question and one answer, and the tool ran again.
            let retried = try Self.events(
                try await client.send(
                    .post, "/chatkit", token: alice,
                    json: #"{"type": "threads.retry_after_item", "params": {"thread_id": "\#(thread)", "item_id": "\#(user)"}}"#))
            #expect(!retried.contains { $0["type"] == "thread.created" })
            #expect(retried.last?["item"]?["content"]?.arrayValue?.first?["text"] == "Added task 2: Buy milk.")
            let history = try await client.send(.get, "/api/v1/chat/history?conversation_id=\(thread.dropFirst(4))", token: alice).json
            #expect(history["messages"]?.arrayValue?.compactMap { $0["content"]?.stringValue } == ["add a task to buy milk", "Added task 2: Buy milk."])

            // Rename and delete: the conversation's title, then nothing.
            let renamed = try await client.send(
                .post, "/chatkit", token: alice, json: #"{"type": "threads.update", "params": {"thread_id": "\#(thread)", "title": "Groceries"}}"#)
            #expect(try renamed.json["title"] == "Groceries")
            #expect(try await client.send(.get, "/api/v1/conversations", token: alice).json["conversations"]?.arrayValue?.first?["title"] == "Groceries")
            #expect(try await client.send(.post, "/chatkit", token: alice, json: #"{"type": "threads.delete", "params": {"thread_id": "\#(thread)"}}"#).status == .ok)
            try await client.send(.post, "/chatkit", token: alice, json: #"{"type": "threads.get_by_id", "params": {"thread_id": "\#(thread)"}}"#)
                .expectProblem(.notFound)
        }
    }

    @Test func badRequestsAreRefusedBeforeAnythingIsStored() async throws {
        let parley = TestParley()
        let alice = try await parley.token("alice")
        try await parley.run { client in
            try await client.send(.post, "/chatkit", token: nil, json: #"{"type": "threads.list", "params": {}}"#).expectProblem(.unauthorized)
            try await client.send(.post, "/chatkit", token: alice, json: #"{"type": "threads.frobnicate", "params": {}}"#)
                .expectProblem(.badRequest, field: "type")
            try await client.send(.post, "/chatkit", token: alice, json: #"{"type": "threads.create", "params": {"input": \#(Self.input("  "))}}"#)
                .expectProblem(.unprocessableContent, field: "params.input.content")
            try await client.send(
                .post, "/chatkit", token: alice, json: #"{"type": "threads.add_user_message", "params": {"thread_id": "thr_99", "input": \#(Self.input("hi"))}}"#
            ).expectProblem(.notFound)
            let withFile = #"{"content": [{"type": "input_text", "text": "hi"}], "attachments": ["atc_1"], "inference_options": {}}"#
            try await client.send(.post, "/chatkit", token: alice, json: #"{"type": "threads.create", "params": {"input": \#(withFile)}}"#)
                .expectProblem(.unprocessableContent, field: "params.input.attachments")
            #expect(try await client.send(.get, "/api/v1/conversations", token: alice).json["conversations"] == [])
        }
    }
}
