import Foundation
import HummingbirdTesting
import Logging
import ParleyCore
import ParleyServer
import ParleyStore
import Testing

/// `database.migrate = off` over HTTP: until `parley migrate` has run, readiness says which schema
/// is behind and that tenant's requests get 503; other tenants are served.
@Suite struct MigrationGateTests {
    @Test func readinessAndRequestsWaitForTheMigration() async throws {
        var parley = TestParley()
        let alice = try await parley.token("alice")
        let bob = try await parley.token("bob", tenants: ["globex"])
        try await parley.run { client in
            let created = try await client.send(.post, "/api/v1/tasks", token: alice, json: #"{"title": "Buy milk"}"#)
            #expect(created.status == .created)
        }
        // The binary was upgraded: acme's schema is one migration behind it.
        let provider = try SQLiteStoreProvider(dataDirectory: parley.directory, logger: Logger(label: "test"))
        _ = try await provider.rollbackAll()
        try await provider.close()

        parley.configuration.migration = .off
        let directory = parley.directory
        try await parley.run { client in
            let ready = try await client.send(.get, "/api/v1/readyz", token: nil)
            #expect(ready.status == .serviceUnavailable)
            let schema = try ready.json["checks"]?["schema"]?.stringValue ?? ""
            #expect(schema.contains("tenant acme has schema version"), "\(schema)")
            #expect(schema.contains("parley migrate"))
            let refused = try await client.send(.get, "/api/v1/tasks", token: alice).expectProblem(.serviceUnavailable)
            #expect(refused["detail"]?.stringValue?.contains("parley migrate") == true)
            // A tenant created now starts at the latest schema.
            #expect(try await client.send(.get, "/api/v1/tasks", token: bob).status == .ok)

            // `parley migrate` in another process; this one serves acme again without a restart.
            let migrator = try SQLiteStoreProvider(dataDirectory: directory, logger: Logger(label: "test"))
            _ = try await migrator.migrateAll()
            try await migrator.close()
            let after = try await client.send(.get, "/api/v1/readyz", token: nil)
            #expect(after.status == .ok)
            #expect(try after.json["checks"]?["schema"]?.stringValue == "ok")
            let tasks = try await client.send(.get, "/api/v1/tasks", token: alice)
            #expect(tasks.status == .ok)
            let titles = try tasks.json["tasks"]?.arrayValue?.map { $0["title"] }
            #expect(titles == ["Buy milk"])
        }
    }
}
