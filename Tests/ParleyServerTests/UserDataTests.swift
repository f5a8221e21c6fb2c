import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import ParleyCore
import ParleyModels
import ParleyRedis
import ParleyServer
import Testing

/// A user's own data: the export, and erasure by the user and by an admin, on SQLite and on
/// PostgreSQL with Redis (whose context cache must keep nothing of an erased user).
@Suite("A user's data: export and erasure", .serialized)
struct UserDataTests {
    enum Setup: String, CaseIterable, CustomTestStringConvertible {
        case sqlite
        case postgresAndRedis

        var testDescription: String { rawValue }
    }

    func parley(_ setup: Setup) async throws -> (TestParley, RedisConnectionPool?) {
        switch setup {
        case .sqlite: return (TestParley(), nil)
        case .postgresAndRedis: return try await ProductionBackendTests.production(redisDatabase: 12)
        }
    }

    /// The Redis keys of the context cache that name `user`.
    func cachedKeys(_ pool: RedisConnectionPool?, user: String) async throws -> [String] {
        guard let pool else { return [] }
        let reply = try await pool.send(RESPCommand("KEYS", .string("parley:ctx*:*:\(user):*")))
        return reply.array?.compactMap(\.string) ?? []
    }

    @Test(arguments: Setup.allCases)
    func aUserExportsEverythingThenErasesItAndStartsFromNothing(setup: Setup) async throws {
        let (parley, pool) = try await parley(setup)
        let alice = try await parley.token("alice")
        let bob = try await parley.token("bob")
        let admin = try await parley.token("root", admin: true)
        try await parley.run { client in
            // Alice: two tasks (one through chat), a conversation of two turns, a rating.
            _ = try await client.send(.post, "/api/v1/tasks", token: alice, json: #"{"title": "Buy milk", "description": "2 litres"}"#)
            let first = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("add a task to call mom")).json
            let conversation = first["conversation_id"]?.intValue ?? 0
            _ = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("list my tasks", conversation: conversation))
            let answer = first["message_id"]?.intValue ?? 0
            let rated = try await client.send(
                .post, "/api/v1/chat/feedback", token: alice, json: #"{"message_id": \#(answer), "rating": "up", "comment": "great"}"#)
            #expect(rated.status == .ok || rated.status == .created)
            // Bob's data must survive Alice's erasure.
            _ = try await client.send(.post, "/api/v1/tasks", token: bob, json: #"{"title": "Bob's task"}"#)
            _ = try await client.send(.post, "/api/v1/chat", token: bob, json: chatBody("hello"))
            // The history read filled the cache (with Redis).
            _ = try await client.send(.get, "/api/v1/chat/history?conversation_id=\(conversation)", token: alice)

            let exported = try await client.send(.get, "/api/v1/me/export", token: alice)
            #expect(exported.status == .ok)
            #expect(exported.headers[.contentDisposition]?.hasPrefix("attachment") == true)
            let document = try exported.json
            #expect(document["user_id"] == "alice")
            #expect(document["tenant"] == "acme")
            #expect(document["tasks"]?.arrayValue?.compactMap { $0["title"]?.stringValue } == ["Buy milk", "Call mom"])
            #expect(document["tasks"]?.arrayValue?.first?["description"] == "2 litres")
            let conversations = document["conversations"]?.arrayValue ?? []
            #expect(conversations.count == 1)
            #expect(conversations.first?["id"]?.intValue == conversation)
            let messages = conversations.first?["messages"]?.arrayValue ?? []
            #expect(messages.compactMap { $0["role"]?.stringValue } == ["user", "assistant", "user", "assistant"])
            #expect(messages[1]["tool_calls"]?.arrayValue?.first?["name"] == "add_task")
            #expect(document["feedback"]?.arrayValue?.first?["comment"] == "great")
            #expect(document["feedback"]?.arrayValue?.first?["message_id"]?.intValue == answer)
            // Nothing of Bob's.
            #expect(!exported.text.contains("Bob's task"))
            if pool != nil { #expect(try await !cachedKeys(pool, user: "alice").isEmpty) }

            let erased = try await client.send(.delete, "/api/v1/me", token: alice)
            #expect(erased.status == .ok)
            let result = try erased.json
            #expect(result["removed"] == ["tasks": 2, "conversations": 1, "messages": 4, "feedback": 1])
            let pseudonym = result["erased"]?.stringValue ?? ""
            #expect(pseudonym.hasPrefix("erased-") && pseudonym.count == "erased-".count + 16)

            // Alice starts from nothing: no tasks, no conversations, task numbers from 1 again.
            #expect(try await client.send(.get, "/api/v1/tasks", token: alice).json["tasks"] == [])
            #expect(try await client.send(.get, "/api/v1/conversations", token: alice).json["conversations"] == [])
            #expect(
                try await client.send(.get, "/api/v1/chat/history?conversation_id=\(conversation)", token: alice).status == .notFound)
            let again = try await client.send(.post, "/api/v1/tasks", token: alice, json: #"{"title": "Fresh start"}"#).json
            #expect(again["id"] == 1)
            #expect(try await cachedKeys(pool, user: "alice").isEmpty)
            // Bob is untouched.
            #expect(try await client.send(.get, "/api/v1/tasks", token: bob).json["tasks"]?.arrayValue?.count == 1)
            #expect(try await client.send(.get, "/api/v1/conversations", token: bob).json["conversations"]?.arrayValue?.count == 1)

            // The audit log keeps that it happened, under the pseudonym, with no content.
            var events: [JSONValue] = []
            for _ in 0..<50 {
                events = try await client.send(.get, "/api/v1/admin/audit?action=user", token: admin).json["events"]?.arrayValue ?? []
                if events.count >= 2 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let erasure = events.first { $0["action"] == "user.erase" }
            #expect(erasure?["actor"]?.stringValue == pseudonym)
            #expect(erasure?["object"]?.stringValue == "user:\(pseudonym)")
            #expect(erasure?["detail"] == "erased 2 tasks, 1 conversations, 4 messages, 1 feedback")
            #expect(events.contains { $0["action"] == "user.export" && $0["actor"] == "alice" })
            #expect(!(erasure.map { "\($0)" } ?? "").contains("milk"))

            // An admin erases Bob; a plain user cannot erase anyone else.
            #expect(try await client.send(.delete, "/api/v1/admin/users/bob", token: alice).status == .forbidden)
            let byAdmin = try await client.send(.delete, "/api/v1/admin/users/bob", token: admin)
            #expect(byAdmin.status == .ok)
            #expect(try byAdmin.json["removed"] == ["tasks": 1, "conversations": 1, "messages": 2, "feedback": 0])
            #expect(try await client.send(.get, "/api/v1/tasks", token: bob).json["tasks"] == [])
            // Erasing again finds nothing, and says so.
            #expect(try await client.send(.delete, "/api/v1/admin/users/bob", token: admin).json["removed"]?["messages"] == 0)
        }
    }
}
