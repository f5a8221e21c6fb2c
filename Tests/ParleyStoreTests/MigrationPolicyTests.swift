import Foundation
import Logging
import ParleyCore
import Testing

@testable import ParleyStore

/// Blue-green needs two releases on one schema: a release only adds (expand), a later one removes
/// what no release still reads (contract). These hold every migration to the expand half.
@Suite struct ExpandOnlyMigrationTests {
    /// Statements that leave every earlier release working: new tables, indexes and triggers, and
    /// new columns that an older INSERT (which does not name them) can leave out.
    static let expanding = [
        #"^CREATE TABLE \w+ \("#,
        #"^CREATE (UNIQUE )?INDEX \w+ ON \w+ \([\w, ]+\)$"#,
        #"^CREATE TRIGGER \w+ AFTER INSERT ON \w+ BEGIN"#,
        #"^ALTER TABLE \w+ ADD COLUMN \w+ \w+( DEFAULT \S+| NOT NULL DEFAULT \S+)?$"#,
    ]

    static func expands(_ statement: String) -> Bool {
        expanding.contains { statement.range(of: $0, options: .regularExpression) != nil }
    }

    static let all: [(String, [Migration])] = [
        ("SQLite tenant", SQLiteSchema.migrations), ("SQLite control", SQLiteControlSchema.migrations),
        ("PostgreSQL tenant", PostgresSchema.tenant), ("PostgreSQL control", PostgresSchema.control),
    ]

    @Test(arguments: all.map(\.0)) func everyMigrationOnlyAdds(schema: String) throws {
        let migrations = try #require(Self.all.first { $0.0 == schema }?.1)
        for migration in migrations {
            for statement in migration.up {
                let text = statement.trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(
                    Self.expands(text),
                    "\(schema) v\(migration.version) does not only add, so the release before cannot run on it: \(text.prefix(80))")
            }
        }
    }

    @Test func theRuleCatchesWhatWouldBreakTheReleaseBefore() {
        for breaking in [
            "DROP TABLE feedback", "ALTER TABLE tasks RENAME COLUMN title TO name", "ALTER TABLE tasks DROP COLUMN description",
            "ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL", "UPDATE tasks SET status = 'pending'",
        ] {
            #expect(!Self.expands(breaking), "\(breaking) passed as expanding")
        }
    }
}

/// `database.migrate = off`: a serving process never changes a schema; it refuses a tenant whose
/// schema is older (503) and reports it, and still creates new tenants at the latest version.
@Suite struct MigrationPolicyTests {
    @Test func sqliteServesOnlyCurrentSchemas() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-policy-\(UUID().uuidString)")
        let logger = Logger(label: "test")
        // A tenant one migration behind, as after an upgrade of the binary.
        let migrating = try SQLiteStoreProvider(dataDirectory: directory, logger: logger)
        _ = try await migrating.provision(TenantID("old")!)
        _ = try await migrating.rollbackAll()
        try await migrating.close()
        try await SQLiteControlStore.open(dataDirectory: directory, logger: logger).close()

        let control = try await SQLiteControlStore.open(dataDirectory: directory, migration: .off, logger: logger)
        let tenants = try SQLiteStoreProvider(dataDirectory: directory, migration: .off, logger: logger)
        let status = SQLiteSchemaStatus(control: control, tenants: tenants)
        let latest = SQLiteSchema.latestVersion
        #expect(try await status.outdatedSchemas() == [OutdatedSchema(database: "tenant old", version: latest - 1, needed: latest)])
        await #expect(throws: ParleyError.unavailable(OutdatedSchema(database: "tenant old", version: latest - 1, needed: latest).description)) {
            try await tenants.store(for: TenantID("old")!, provisioning: .existingOnly)
        }
        // Nothing was migrated behind the operator's back.
        #expect(try await status.outdatedSchemas().count == 1)
        // A new tenant is created at the latest version.
        let fresh = try await tenants.store(for: TenantID("new")!, provisioning: .createIfMissing)
        _ = try await fresh.tasks.list(user: UserID("u")!, status: nil)

        // `parley migrate` (policy auto) brings it up; then the same process serves it.
        let migrator = try SQLiteStoreProvider(dataDirectory: directory, logger: logger)
        _ = try await migrator.migrateAll()
        try await migrator.close()
        #expect(try await status.outdatedSchemas() == [])
        _ = try await tenants.store(for: TenantID("old")!, provisioning: .existingOnly).tasks.list(user: UserID("u")!, status: nil)
        try await tenants.close()
        try await control.close()
    }

    @Test func sqliteControlDatabaseIsNotCreatedWithMigrationsOff() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-policy-\(UUID().uuidString)")
        let logger = Logger(label: "test")
        let control = try await SQLiteControlStore.open(dataDirectory: directory, migration: .off, logger: logger)
        let tenants = try SQLiteStoreProvider(dataDirectory: directory, migration: .off, logger: logger)
        let needed = SQLiteControlSchema.migrations.last!.version
        #expect(
            try await SQLiteSchemaStatus(control: control, tenants: tenants).outdatedSchemas()
                == [OutdatedSchema(database: "control database", version: 0, needed: needed)])
        try await control.close()
    }

    @Test func postgresServesOnlyCurrentSchemas() async throws {
        let logger = Logger(label: "test")
        let database = try await TestPostgres.isolated()
        let migrating = PostgresStoreProvider(database: database, logger: logger)
        _ = try await migrating.provision(TenantID("old")!)
        _ = try await migrating.rollbackAll()

        let status = PostgresSchemaStatus(database: database)
        let serving = PostgresStoreProvider(database: database, migration: .off, logger: logger)
        let latest = PostgresSchema.tenant.last!.version
        let behind = OutdatedSchema(database: "tenant old", version: latest - 1, needed: latest)
        #expect(try await status.outdatedSchemas() == [behind])
        await #expect(throws: ParleyError.unavailable(behind.description)) {
            try await serving.store(for: TenantID("old")!, provisioning: .existingOnly)
        }
        #expect(try await status.outdatedSchemas() == [behind])
        _ = try await serving.store(for: TenantID("new")!, provisioning: .createIfMissing).tasks.list(user: UserID("u")!, status: nil)

        _ = try await PostgresStoreProvider(database: database, logger: logger).migrateAll()
        #expect(try await status.outdatedSchemas() == [])
        _ = try await serving.store(for: TenantID("old")!, provisioning: .existingOnly).tasks.list(user: UserID("u")!, status: nil)
        await database.close()
    }

    @Test func postgresEmptyDatabaseWaitsForTheMigrationJob() async throws {
        let database = try await TestPostgres.isolated(migration: .off)
        let needed = PostgresSchema.control.last!.version
        #expect(
            try await PostgresSchemaStatus(database: database).outdatedSchemas()
                == [OutdatedSchema(database: "schema parley", version: 0, needed: needed)])
        await database.close()
    }
}
