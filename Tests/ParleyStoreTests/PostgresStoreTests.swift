import Foundation
import Logging
import ParleyCore
import PostgresNIO
import Testing

@testable import ParleyStore

/// What only the PostgreSQL store has to get right: schemas per tenant, migrations shared by
/// replicas, several processes on one database.
@Suite("PostgreSQL store")
struct PostgresStoreTests {
    let logger = Logger(label: "test")

    @Test func eachTenantGetsItsOwnSchemaAndNothingRunsOutsideIt() async throws {
        let database = try await TestPostgres.shared()
        let fixture = try await Backend.postgres.fixture()
        let tenant = fixture.tenant("acme")
        let store = try await fixture.provider.store(for: tenant, provisioning: .createIfMissing)
        _ = try await store.tasks.create(user: UserID("alice")!, title: "milk", description: nil)

        let rows = try await database.client.query(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = \("tenant_" + tenant.rawValue)", logger: logger
        ).collect()
        #expect(try rows.first?.decode(Int.self) == 7)
        let tasks = try await database.client.query(
            "SELECT title FROM \(unescaped: "\"tenant_\(tenant.rawValue)\"").tasks", logger: logger).collect()
        #expect(try tasks.map { try $0.decode(String.self) } == ["milk"])

        // Outside a tenant's transaction no schema is searched: an unqualified name is an error,
        // never another tenant's (or the shared) table.
        await #expect(throws: (any Error).self) {
            try await database.client.query("SELECT count(*) FROM tasks", logger: logger).collect()
        }
    }

    @Test func longTenantIdsNeverShareASchema() async throws {
        let prefix = "t" + String(repeating: "x", count: 50) + UUID().uuidString.prefix(4).lowercased()
        let first = TenantID(prefix + "_one_a")!
        let second = TenantID(prefix + "_one_b")!
        #expect(first.rawValue.count == 61)
        let names = [QuotedSchema(tenant: first).name, QuotedSchema(tenant: second).name]
        #expect(names[0] != names[1])
        #expect(names.allSatisfy { $0.utf8.count <= 63 })

        let fixture = try await Backend.postgres.fixture()
        let one = try await fixture.provider.store(for: first, provisioning: .createIfMissing)
        let two = try await fixture.provider.store(for: second, provisioning: .createIfMissing)
        _ = try await one.tasks.create(user: UserID("alice")!, title: "first's", description: nil)
        #expect(try await two.tasks.list(user: UserID("alice")!, status: nil).isEmpty)
    }

    @Test func replicasProvisioningOneTenantTogetherCreateItOnce() async throws {
        let pools = [try await TestPostgres.separate(), try await TestPostgres.separate()]
        let tenant = TenantID("together_" + UUID().uuidString.prefix(8).lowercased())!
        let created = try await withThrowingTaskGroup(of: Bool.self) { group in
            for pool in pools {
                group.addTask { try await PostgresStoreProvider(database: pool, logger: logger).provision(tenant) }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(created.sorted { !$0 && $1 } == [false, true])
        for pool in pools { await pool.close() }
    }

    @Test func migratesEveryTenantRollsBackTheLatestAndUsesANewerSchemaAsItIs() async throws {
        let database = try await TestPostgres.isolated()
        let provider = PostgresStoreProvider(database: database, logger: logger)
        _ = try await provider.provision(TenantID("one")!)
        _ = try await provider.provision(TenantID("two")!)
        let latest = PostgresSchema.tenant.last!.version
        #expect(try await provider.migrateAll() == [TenantID("one")!: latest, TenantID("two")!: latest])

        #expect(try await provider.rollbackAll() == [TenantID("one")!: latest - 1, TenantID("two")!: latest - 1])
        let indexes = try await database.client.query(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'tenant_one'", logger: logger
        ).collect().map { try $0.decode(String.self) }
        // The latest migration (the audit checkpoint) is undone, the one before it (turn records) stays.
        let tables = try await database.client.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'tenant_one'", logger: logger
        ).collect().map { try $0.decode(String.self) }
        #expect(!tables.contains("audit_checkpoint") && tables.contains("audit_log"))
        #expect(indexes.contains("audit_log_by_request"))
        let columns = try await database.client.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'tenant_one' AND table_name = 'messages'",
            logger: logger
        ).collect().map { try $0.decode(String.self) }
        #expect(columns.contains("record") && columns.contains("tool_calls"))
        #expect(indexes.contains("audit_log_linear"))
        #expect(indexes.contains("audit_log_by_action"))
        #expect(try await provider.migrateAll() == [TenantID("one")!: latest, TenantID("two")!: latest])

        // A schema the next release migrated (blue-green: it only added) is used as it is, untouched,
        // with migrations on or off.
        try await database.client.query(
            "INSERT INTO parley.schema_migrations (scope, version, name, applied_at) VALUES ('one', 999, 'future', 0)", logger: logger)
        for migration in MigrationPolicy.allCases {
            let another = PostgresStoreProvider(database: database, migration: migration, logger: logger)
            _ = try await another.store(for: TenantID("one")!, provisioning: .existingOnly).tasks.list(user: UserID("u")!, status: nil)
        }
        let version = try await database.client.query(
            "SELECT MAX(version) FROM parley.schema_migrations WHERE scope = 'one'", logger: logger
        ).collect().first?.decode(Int.self)
        #expect(version == 999)
        await database.close()
    }

    @Test func migrationsMatchTheSQLiteOnesVersionForVersion() {
        #expect(PostgresSchema.tenant.map(\.version) == SQLiteSchema.migrations.map(\.version))
        #expect(PostgresSchema.tenant.map(\.name) == SQLiteSchema.migrations.map(\.name))
        #expect(PostgresSchema.control.map(\.version) == SQLiteControlSchema.migrations.map(\.version))
    }

    @Test func controlStoreKeepsFlagsAndTheSystemLog() async throws {
        let database = try await TestPostgres.isolated()
        let control = PostgresControlStore(database: database)
        let scope = FlagScope.tenant(TenantID("acme")!)
        try await control.flags.set(.chatbotAI, to: false, in: scope, by: "admin")
        #expect(try await control.flags.values(in: scope) == [.chatbotAI: false])
        #expect(try await control.flags.values(in: .global).isEmpty)
        try await control.flags.set(.chatbotAI, to: nil, in: scope, by: "admin")
        #expect(try await control.flags.values(in: scope).isEmpty)

        let events = (0..<3).map { AuditEvent(tenant: nil, actor: "anonymous", action: "auth.token", object: "n\($0)", outcome: .denied) }
        let records = try await control.systemAudit.append(events)
        #expect(records.map(\.event.object) == ["n0", "n1", "n2"])
        #expect(try await control.systemAudit.verifyChain().checked == 3)
        #expect(try await control.systemAudit.query(AuditFilter(action: "auth")).count == 3)
        await database.close()
    }

    @Test func anUnreachableDatabaseIsUnavailableNotAnError() async throws {
        var settings = try TestPostgres.settings
        settings.port = 1  // nothing listens there
        settings.timeout = .milliseconds(500)
        let database = try PostgresDatabase(settings: settings, logger: logger)
        let store = PostgresTenantStore(tenant: TenantID("acme")!, schema: QuotedSchema(tenant: TenantID("acme")!), database: database)
        let started = ContinuousClock.now
        await #expect(throws: ParleyError.self) {
            try await store.tasks.list(user: UserID("alice")!, status: nil)
        }
        #expect(ContinuousClock.now - started < .seconds(3))
        await #expect(throws: ParleyError.self) { try await database.checkHealth() }
        await database.close()
    }
}
