import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import ParleyCore
import ParleyRedis
import ParleyServer
import ParleyStore
import Testing

/// The server on PostgreSQL and Redis (the servers `scripts/test` starts): the audit queue in
/// a Redis Stream with its dead letters, rate limits and the context cache shared through Redis.
@Suite("On PostgreSQL and Redis", .serialized)
struct ProductionBackendTests {
    /// A Parley on a fresh PostgreSQL database and its own Redis database, emptied.
    static func production(redisDatabase: Int) async throws -> (TestParley, RedisConnectionPool) {
        guard let databaseURL = ProcessInfo.processInfo.environment["PARLEY_TEST_DATABASE_URL"],
            let redisURL = ProcessInfo.processInfo.environment["PARLEY_TEST_REDIS_URL"],
            var postgres = PostgresSettings(url: databaseURL)
        else {
            throw MissingServers()
        }
        let name = "parley_server_" + UUID().uuidString.prefix(8).lowercased()
        let admin = try await PostgresDatabase.open(settings: postgres, logger: Logger(label: "test"))
        try await admin.createDatabase(named: name)
        await admin.close()
        postgres.database = name
        var connection = try RedisConfiguration(url: redisURL)
        connection.database = redisDatabase
        let pool = RedisConnectionPool(configuration: connection, logger: Logger(label: "test"))
        _ = try await pool.send(RESPCommand("FLUSHDB"))
        var parley = TestParley()
        parley.configuration.postgres = postgres
        var redis = RedisSettings(connection: connection)
        redis.consumer.claimInterval = .milliseconds(100)
        parley.configuration.redis = redis
        return (parley, pool)
    }

    struct MissingServers: Error, CustomStringConvertible {
        var description: String { "PARLEY_TEST_DATABASE_URL and PARLEY_TEST_REDIS_URL must be set (scripts/test starts both servers)" }
    }

    @Test func deadLettersAreListedPerTenantAndReplayedOnce() async throws {
        let (parley, pool) = try await Self.production(redisDatabase: 7)
        let admin = try await parley.token("root", tenants: ["acme"], admin: true)
        let alice = try await parley.token("alice")
        // Two events a worker gave up on: one of acme's, one of another tenant's.
        func deadLetter(_ tenant: String, object: String) async throws -> String {
            let event = AuditEvent(
                tenant: TenantID(tenant)!, actor: "alice", action: "task.create", object: object, outcome: .success,
                id: UUID().uuidString)
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .millisecondsSince1970
            let json = String(decoding: try encoder.encode(event), as: UTF8.self)
            return try await pool.xadd(RedisAuditKeys.deadLetters, fields: [("event", json), ("reason", "database down"), ("source", "1-0")])
        }
        let ours = try await deadLetter("acme", object: "task:41")
        _ = try await deadLetter("globex", object: "task:99")
        try await parley.run { client in
            // acme exists once alice has used it.
            #expect(try await client.send(.get, "/api/v1/tasks", token: alice).status == .ok)
            try await client.send(.get, "/api/v1/admin/audit/dead-letters", token: alice).expectProblem(.forbidden)
            let listed = try await client.send(.get, "/api/v1/admin/audit/dead-letters", token: admin).json["dead_letters"]?.arrayValue ?? []
            #expect(listed.map { $0["id"]?.stringValue } == [ours])
            #expect(listed.first?["reason"]?.stringValue == "database down")
            #expect(listed.first?["event"]?["object"]?.stringValue == "task:41")

            try await client.send(.post, "/api/v1/admin/audit/dead-letters/1-0/replay", token: admin).expectProblem(.notFound)
            try await client.send(.post, "/api/v1/admin/audit/dead-letters/not-an-id/replay", token: admin).expectProblem(
                .unprocessableContent, field: "id")
            #expect(try await client.send(.post, "/api/v1/admin/audit/dead-letters/\(ours)/replay", token: admin).status == .ok)
            try await client.send(.post, "/api/v1/admin/audit/dead-letters/\(ours)/replay", token: admin).expectProblem(.notFound)
            let events = try await client.auditEvents(token: admin, query: "action=task.create") { events in
                events.contains { $0["object"]?.stringValue == "task:41" }
            }
            #expect(events.filter { $0["object"]?.stringValue == "task:41" }.count == 1)
            #expect(try await client.send(.get, "/api/v1/admin/audit/dead-letters", token: admin).json["dead_letters"]?.arrayValue?.isEmpty == true)
        }
        #expect(try await pool.xlen(RedisAuditKeys.deadLetters) == 1)  // globex's, not acme's to touch
        await pool.shutdown()
    }

    @Test func aConversationAndItsTasksLiveInPostgreSQLAndEveryEventIsAuditedOnce() async throws {
        let (parley, pool) = try await Self.production(redisDatabase: 8)
        let alice = try await parley.token("alice")
        let admin = try await parley.token("root", admin: true)
        try await parley.run { client in
            let first = try await client.send(.post, "/api/v1/chat", token: alice, json: chatBody("add a task to buy milk")).json
            #expect(first["response"]?.stringValue == "Added task 1: Buy milk.")
            let conversation = try #require(first["conversation_id"]?.intValue)
            let second = try await client.send(
                .post, "/api/v1/chat", token: alice, json: #"{"message": "mark it as done", "conversation_id": \#(conversation)}"#
            ).json
            #expect(second["response"]?.stringValue == "Marked task 1 as complete: Buy milk.")
            let events = try await client.auditEvents(token: admin, query: "action=chat") { $0.count >= 2 }
            #expect(events.count == 2)
            #expect(Set(events.compactMap { $0["request_id"]?.stringValue }).count == 2)
        }
        await pool.shutdown()
    }
}
