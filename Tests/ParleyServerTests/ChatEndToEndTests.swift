import Foundation
import HTTPTypes
import HummingbirdTesting
import ParleyCore
import Testing

@Suite("Chat over HTTP")
struct ChatEndToEndTests {
    @Test func newcomerAddsAndListsATask() async throws {
        let parley = TestParley()
        let token = try await parley.token("alice")
        try await parley.run { client in
            let added = try await client.send(.post, "/api/v1/chat", token: token, json: chatBody("add a task to buy milk"))
            #expect(added.status == .ok)
            let reply = try added.json
            #expect(reply["response"] == "Added task 1: Buy milk.")
            #expect(reply["tool_calls"]?.arrayValue?.first?["name"] == "add_task")
            #expect(reply["model"] == "basic")
            #expect(reply["fallback_used"] == false)
            let conversation = try #require(reply["conversation_id"]?.intValue)

            let listed = try await client.send(.post, "/api/v1/chat", token: token, json: chatBody("what's on my list?", conversation: conversation))
            let list = try listed.json
            #expect(list["conversation_id"]?.intValue == conversation)
            #expect(list["response"]?.stringValue?.contains("1. Buy milk (pending)") == true)

            let tasks = try await client.send(.get, "/api/v1/tasks", token: token).json
            #expect(tasks["tasks"]?.arrayValue?.map { $0["title"] } == ["Buy milk"])
        }
    }

    @Test func theUserScopedRouteFollowsTheOriginalContract() async throws {
        let parley = TestParley()
        let token = try await parley.token("alice")
        try await parley.run { client in
            let response = try await client.send(.post, "/api/alice/chat", token: token, json: #"{"message": "remind me to call the bank"}"#)
            #expect(response.status == .ok)
            let body = try response.json
            #expect(Set(body.objectValue?.keys.map { $0 } ?? []) == ["conversation_id", "response", "tool_calls"])
            #expect(body["response"] == "Added task 1: Call the bank.")

            try await client.send(.post, "/api/bob/chat", token: token, json: #"{"message": "delete task 1"}"#)
                .expectProblem(.forbidden)
            let tasks = try await client.send(.get, "/api/v1/tasks", token: token).json
            #expect(tasks["tasks"]?.arrayValue?.count == 1)
        }
    }

    @Test func aConversationContinuesAfterARestart() async throws {
        let parley = TestParley()
        let token = try await parley.token("alice")
        let conversation = try await parley.run { client in
            let reply = try await client.send(.post, "/api/v1/chat", token: token, json: chatBody("add a task to renew passport")).json
            return try #require(reply["conversation_id"]?.intValue)
        }
        try await parley.run { client in
            let reply = try await client.send(.post, "/api/v1/chat", token: token, json: chatBody("mark it as done", conversation: conversation)).json
            #expect(reply["conversation_id"]?.intValue == conversation)
            #expect(reply["response"] == "Marked task 1 as complete: Renew passport.")
            let history = try await client.send(.get, "/api/v1/chat/history?conversation_id=\(conversation)", token: token).json
            #expect(history["messages"]?.arrayValue?.map { $0["role"] } == ["user", "assistant", "user", "assistant"])
            #expect(history["messages"]?.arrayValue?.last?["tool_calls"]?.arrayValue?.last?["name"] == "complete_task")
        }
    }

    @Test func historyPagesNewestLast() async throws {
        let parley = TestParley()
        let token = try await parley.token("alice")
        try await parley.run { client in
            var conversation: Int?
            for message in ["hi", "add a task to a", "add a task to b"] {
                let reply = try await client.send(.post, "/api/v1/chat", token: token, json: chatBody(message, conversation: conversation)).json
                conversation = reply["conversation_id"]?.intValue
            }
            let id = try #require(conversation)
            let page = try await client.send(.get, "/api/v1/chat/history?conversation_id=\(id)&limit=2", token: token).json
            let messages = try #require(page["messages"]?.arrayValue)
            #expect(messages.map { $0["content"] } == ["add a task to b", "Added task 2: B."])
            #expect(page["has_more"] == true)
            let before = try #require(messages.first?["id"]?.intValue)
            let older = try await client.send(.get, "/api/v1/chat/history?conversation_id=\(id)&limit=10&before=\(before)", token: token).json
            #expect(older["messages"]?.arrayValue?.count == 4)
            #expect(older["has_more"] == false)

            let conversations = try await client.send(.get, "/api/v1/conversations", token: token).json
            #expect(conversations["conversations"]?.arrayValue?.map { $0["id"]?.intValue } == [id])
            #expect(conversations["conversations"]?.arrayValue?.first?["title"] == "hi")
        }
    }

    @Test func feedbackAndDeletingAConversation() async throws {
        let parley = TestParley()
        let token = try await parley.token("alice")
        try await parley.run { client in
            let reply = try await client.send(.post, "/api/v1/chat", token: token, json: chatBody("hello")).json
            let messageID = try #require(reply["message_id"]?.intValue)
            let conversation = try #require(reply["conversation_id"]?.intValue)

            let feedback = try await client.send(
                .post, "/api/v1/chat/feedback", token: token, json: #"{"message_id": \#(messageID), "rating": "up", "comment": "nice"}"#)
            #expect(feedback.status == .created)
            #expect(try feedback.json["rating"] == "up")
            try await client.send(.post, "/api/v1/chat/feedback", token: token, json: #"{"message_id": \#(messageID), "rating": "meh"}"#)
                .expectProblem(.unprocessableContent, field: "rating")
            // The user's own message is not an assistant message.
            try await client.send(.post, "/api/v1/chat/feedback", token: token, json: #"{"message_id": \#(messageID - 1), "rating": "up"}"#)
                .expectProblem(.notFound)

            #expect(try await client.send(.delete, "/api/v1/conversations/\(conversation)", token: token).status == .noContent)
            try await client.send(.delete, "/api/v1/conversations/\(conversation)", token: token).expectProblem(.notFound)
            try await client.send(.get, "/api/v1/chat/history?conversation_id=\(conversation)", token: token).expectProblem(.notFound)
            try await client.send(.post, "/api/v1/chat", token: token, json: chatBody("hi", conversation: conversation))
                .expectProblem(.notFound)
        }
    }
}
