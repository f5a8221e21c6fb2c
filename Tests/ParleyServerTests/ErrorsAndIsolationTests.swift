import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import ParleyCore
import Testing

@Suite("Errors over HTTP")
struct ErrorTests {
    @Test func everyRefusalIsProblemJSONAndWritesNothing() async throws {
        let parley = TestParley()
        let alice = try await parley.token("alice")
        let multi = try await parley.token("alice", tenants: ["acme", "globex"])
        let noTenant = try await parley.token("nobody", tenants: [])
        try await parley.run { client in
            // 400: malformed input, naming the field.
            try await client.send(.post, "/api/v1/chat", token: alice, json: "{not json").expectProblem(.badRequest)
            try await client.send(.post, "/api/v1/chat", token: alice, json: #"{"message": 42}"#)
                .expectProblem(.badRequest, field: "message")
            try await client.send(.post, "/api/v1/chat", token: alice, json: #"{"conversation_id": 1}"#)
                .expectProblem(.badRequest, field: "message")
            try await client.send(.post, "/api/v1/chat", token: alice, json: "").expectProblem(.badRequest)
            // A number an integer member cannot take is named as such, not as "not valid JSON".
            for number in ["99999999999999999999", "1.5", "-1e300"] {
                let problem = try await client.send(
                    .post, "/api/v1/chat", token: alice, json: #"{"message": "hi", "conversation_id": \#(number)}"#
                ).expectProblem(.badRequest, field: "conversation_id")
                #expect(problem["detail"]?.stringValue?.contains("whole number") == true, "\(number)")
            }
            let syntax = try await client.send(.post, "/api/v1/chat", token: alice, json: #"{"message": "hi""#).expectProblem(.badRequest)
            #expect(syntax["detail"] == "the request body is not valid JSON")
            try await client.send(.get, "/api/v1/tasks", token: alice, tenant: "Not A Tenant!")
                .expectProblem(.badRequest, field: "X-Tenant-ID")
            try await client.send(.get, "/api/v1/tasks", token: multi).expectProblem(.badRequest, field: "X-Tenant-ID")
            try await client.send(.get, "/api/v1/chat/history?limit=0", token: alice).expectProblem(.badRequest, field: "limit")

            // 401: no token, a bad token, a malformed header.
            let unauthorized = try await client.send(.get, "/api/v1/tasks", token: nil)
            try unauthorized.expectProblem(.unauthorized)
            #expect(unauthorized.headers[.wwwAuthenticate] == "Bearer")
            try await client.send(.get, "/api/v1/tasks", token: "garbage").expectProblem(.unauthorized)
            try await client.send(.get, "/api/v1/tasks", token: nil, headers: [.authorization: "Basic YWxpY2U6cHc="])
                .expectProblem(.unauthorized)

            // 403: a tenant the token does not grant, or none at all.
            try await client.send(.get, "/api/v1/tasks", token: alice, tenant: "globex").expectProblem(.forbidden)
            try await client.send(.get, "/api/v1/tasks", token: noTenant).expectProblem(.forbidden)

            // 404: unknown routes and ids.
            try await client.send(.get, "/api/v1/nothing-here", token: alice).expectProblem(.notFound)
            try await client.send(.get, "/api/v1/tasks/999", token: alice).expectProblem(.notFound)
            try await client.send(.get, "/api/v1/tasks/abc", token: alice).expectProblem(.notFound)
            try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("hi", conversation: 12345))
                .expectProblem(.notFound)

            // 413: a body over 64 KiB, refused before it is read.
            let huge = #"{"message": ""# + String(repeating: "a", count: 70_000) + #""}"#
            try await client.send(.post, "/api/v1/chat", token: alice, json: huge).expectProblem(.contentTooLarge)

            // 422: well-formed but invalid.
            try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody(String(repeating: "b", count: 8_001)))
                .expectProblem(.unprocessableContent, field: "message")
            try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("   "))
                .expectProblem(.unprocessableContent, field: "message")
            try await client.send(.post, "/api/v1/tasks", token: alice, json: #"{"title": ""}"#)
                .expectProblem(.unprocessableContent, field: "title")
            try await client.send(.post, "/api/v1/tasks", token: alice, json: #"{"title": "\#(String(repeating: "t", count: 201))"}"#)
                .expectProblem(.unprocessableContent, field: "title")
            try await client.send(.get, "/api/v1/tasks?status=someday", token: alice)
                .expectProblem(.unprocessableContent, field: "status")

            // Nothing of the above was written.
            #expect(try await client.send(.get, "/api/v1/tasks", token: alice).json["tasks"] == [])
            #expect(try await client.send(.get, "/api/v1/conversations", token: alice).json["conversations"] == [])
            #expect(try await client.send(.get, "/api/v1/chat/history", token: alice).json["messages"] == [])
        }
    }

    @Test func aBodyOfTheWrongKindAndTextWithNULAreRefusedAndWriteNothing() async throws {
        let parley = TestParley()
        let alice = try await parley.token("alice")
        let admin = try await parley.token("root", admin: true)
        try await parley.run { client in
            for body in ["null", "[1]", "42", #""text""#] {
                let problem = try await client.send(.post, "/api/v1/tasks", token: alice, json: body).expectProblem(.badRequest)
                #expect(problem["field"] == nil, "\(body)")
                let detail = problem["detail"]?.stringValue ?? ""
                #expect(detail.hasPrefix("the request body must be a JSON object"), "\(body): \(detail)")
            }
            // U+0000 cannot be stored (PostgreSQL refuses it, SQLite would cut the text): refused, naming the member.
            try await client.send(.post, "/api/v1/tasks", token: alice, json: #"{"title": "a\u0000b"}"#)
                .expectProblem(.badRequest, field: "title")
            try await client.send(.post, "/api/v1/chat", token: alice, json: #"{"message": "hi\u0000"}"#)
                .expectProblem(.badRequest, field: "message")
            try await client.send(.post, "/chatkit", token: alice, json: #"{"type": "a\u0000b", "params": {}}"#)
                .expectProblem(.badRequest, field: "type")
            let bare = try await client.send(.post, "/api/v1/tasks", token: alice, json: #""\u0000""#).expectProblem(.badRequest)
            #expect(bare["field"] == nil)
            #expect(bare["detail"]?.stringValue == "the request body must not contain the NUL character (U+0000)")
            try await client.send(.get, "/api/v1/admin/audit?actor=a%00b", token: admin).expectProblem(.badRequest)
            // A flag with an empty name: 422 that names no field (found by schemathesis).
            let unnamed = try await client.send(.patch, "/api/v1/admin/flags/global", token: admin, json: #"{"": true}"#)
                .expectProblem(.unprocessableContent)
            #expect(unnamed["field"] == nil)
            #expect(unnamed["detail"]?.stringValue?.hasPrefix("the member with an empty name is not a flag") == true)
            // An escaped backslash before "u0000" is ordinary text.
            let kept = try await client.send(.post, "/api/v1/tasks", token: alice, json: #"{"title": "a\\u0000b"}"#)
            #expect(kept.status == .created)
            let tasks = try await client.send(.get, "/api/v1/tasks", token: alice)
            let titles = try JSONDecoder().decode(JSONValue.self, from: Data(buffer: tasks.body))["tasks"]?.arrayValue?
                .compactMap { $0["title"]?.stringValue }
            #expect(titles == [#"a\u0000b"#])
        }
    }

    @Test func messagesOfExactly8000CharactersAreAccepted() async throws {
        let parley = TestParley()
        let alice = try await parley.token("alice")
        try await parley.run { client in
            let response = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody(String(repeating: "é", count: 8_000)))
            #expect(response.status == .ok)
        }
    }

    @Test func devAuthOffTrustsNoDevTokens() async throws {
        var parley = TestParley()
        parley.devAuth = false
        let alice = try await parley.token("alice")
        try await parley.run { client in
            try await client.send(.get, "/api/v1/tasks", token: alice).expectProblem(.unauthorized)
            try await client.send(.get, "/.well-known/jwks.json", token: nil).expectProblem(.notFound)
        }
    }
}

@Suite("Isolation over HTTP")
struct IsolationTests {
    @Test func anotherUsersAndAnotherTenantsDataIsUnreachable() async throws {
        let parley = TestParley()
        let alice = try await parley.token("alice", tenants: ["acme", "globex"])
        let bob = try await parley.token("bob", tenants: ["acme"])
        try await parley.run { client in
            let chat = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("add a task to file taxes"), tenant: "acme").json
            let conversation = try #require(chat["conversation_id"]?.intValue)
            let message = try #require(chat["message_id"]?.intValue)

            // Bob, same tenant: every one of Alice's ids is "not found", and nothing changes.
            try await client.send(.get, "/api/v1/tasks/1", token: bob).expectProblem(.notFound)
            try await client.send(.patch, "/api/v1/tasks/1", token: bob, json: #"{"title": "pwned"}"#).expectProblem(.notFound)
            try await client.send(.delete, "/api/v1/tasks/1", token: bob).expectProblem(.notFound)
            try await client.send(.get, "/api/v1/chat/history?conversation_id=\(conversation)", token: bob).expectProblem(.notFound)
            try await client.send(.post, "/api/v1/chat", token: bob, json: chatBody("delete task 1", conversation: conversation))
                .expectProblem(.notFound)
            try await client.send(.delete, "/api/v1/conversations/\(conversation)", token: bob).expectProblem(.notFound)
            try await client.send(.post, "/api/v1/chat/feedback", token: bob, json: #"{"message_id": \#(message), "rating": "down"}"#)
                .expectProblem(.notFound)
            #expect(try await client.send(.get, "/api/v1/tasks", token: bob).json["tasks"] == [])
            #expect(try await client.send(.get, "/api/v1/conversations", token: bob).json["conversations"] == [])
            // Bob's own chat about "task 1" touches only Bob's list.
            let bobs = try await client.send(.post, "/api/v1/chat", token: bob, json: chatBody("delete task 1")).json
            #expect(bobs["response"] == "I couldn't find task 1.")

            // Alice in another tenant sees none of her acme data.
            #expect(try await client.send(.get, "/api/v1/tasks", token: alice, tenant: "globex").json["tasks"] == [])
            try await client.send(.get, "/api/v1/chat/history?conversation_id=\(conversation)", token: alice, tenant: "globex")
                .expectProblem(.notFound)

            // Alice's data is intact.
            let tasks = try await client.send(.get, "/api/v1/tasks", token: alice, tenant: "acme").json
            #expect(tasks["tasks"]?.arrayValue?.map { $0["title"] } == ["File taxes"])
            let history = try await client.send(.get, "/api/v1/chat/history?conversation_id=\(conversation)", token: alice, tenant: "acme").json
            #expect(history["messages"]?.arrayValue?.count == 2)
        }
    }
}

@Suite("Operations over HTTP")
struct OperationsTests {
    @Test func healthReadinessMetricsJWKSAndRequestIDs() async throws {
        let parley = TestParley()
        let alice = try await parley.token("alice")
        try await parley.run { client in
            #expect(try await client.send(.get, "/api/v1/healthz", token: nil).json["status"] == "ok")
            let ready = try await client.send(.get, "/api/v1/readyz", token: nil)
            #expect(ready.status == .ok)
            #expect(try ready.json["checks"]?["database"] == "ok")

            let echoed = try await client.send(.get, "/api/v1/tasks", token: alice, headers: [HTTPField.Name("X-Request-ID")!: "trace-123"])
            #expect(echoed.headers[HTTPField.Name("X-Request-ID")!] == "trace-123")
            let generated = try await client.send(.get, "/api/v1/tasks", token: alice, headers: [HTTPField.Name("X-Request-ID")!: "bad id with spaces"])
            let id = try #require(generated.headers[HTTPField.Name("X-Request-ID")!])
            #expect(id != "bad id with spaces" && id.count == 36)

            _ = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("add a task to buy milk"))
            let metrics = try await client.send(.get, "/metrics", token: nil).text
            #expect(metrics.contains(#"parley_http_requests_total{method="POST",route="/api/v1/chat",status="200"} 1"#))
            #expect(metrics.contains(#"parley_http_requests_total{method="GET",route="/api/v1/tasks",status="200"} 2"#))
            #expect(metrics.contains("parley_http_request_duration_seconds_bucket"))
            #expect(metrics.contains(#"parley_tool_calls_total{tool="add_task",outcome="ok"} 1"#))

            let jwks = try await client.send(.get, "/.well-known/jwks.json", token: nil).json
            #expect(jwks["keys"]?.arrayValue?.first?["kty"] == "OKP")
            #expect(jwks["keys"]?.arrayValue?.first?["d"] == nil)
        }
    }

    @Test func theRESTTaskRoutesFollowTheTaskRules() async throws {
        let parley = TestParley()
        let alice = try await parley.token("alice")
        try await parley.run { client in
            let created = try await client.send(.post, "/api/v1/tasks", token: alice, json: #"{"title": "  Write report ", "description": "Q3"}"#)
            #expect(created.status == .created)
            #expect(try created.json["title"] == "Write report")
            #expect(try created.json["id"]?.intValue == 1)
            let done = try await client.send(.patch, "/api/v1/tasks/1", token: alice, json: #"{"status": "completed"}"#).json
            #expect(done["status"] == "completed")
            #expect(done["completed_at"]?.stringValue != nil)
            #expect(try await client.send(.get, "/api/v1/tasks?status=pending", token: alice).json["tasks"] == [])
            #expect(try await client.send(.delete, "/api/v1/tasks/1", token: alice).status == .noContent)
            let again = try await client.send(.post, "/api/v1/tasks", token: alice, json: #"{"title": "Next"}"#).json
            #expect(again["id"]?.intValue == 2)
        }
    }
}
