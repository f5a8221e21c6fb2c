import Foundation
import Logging
import ParleyCore
import PostgresNIO
import Synchronization

extension PostgresDatabase {
    /// Starts the pool and brings the shared schema to the latest version (once per process;
    /// replicas starting together take turns under an advisory lock), unless `migration` is off.
    public static func open(settings: PostgresSettings, migration: MigrationPolicy = .auto, logger: Logger) async throws -> PostgresDatabase {
        let database = try PostgresDatabase(settings: settings, logger: logger)
        guard migration == .auto else { return database }
        do {
            let migrator = PostgresMigrator(scope: PostgresSchema.controlScope, migrations: PostgresSchema.control, label: "schema parley")
            let (before, after) = try await database.bounded {
                try await database.client.withTransaction(logger: logger) { connection in
                    try await PostgresMigrator.bootstrap(connection, logger: logger)
                    try await connection.query("SELECT set_config('search_path', 'parley', true)", logger: logger)
                    return try await migrator.migrate(connection, logger: logger)
                }
            }
            if before != after {
                logger.info("migrated database", metadata: ["database": "schema parley", "from": "\(before)", "to": "\(after)"])
            }
        } catch {
            await database.close()
            throw error
        }
        return database
    }
}

/// Production storage: one PostgreSQL schema per tenant (`tenant_<id>`), listed in the shared
/// `parley.tenants`, created and migrated when the tenant is provisioned, and migrated once per
/// process before it serves a request.
public final class PostgresStoreProvider: TenantStoreProvider {
    let database: PostgresDatabase
    private let logger: Logger
    private let migration: MigrationPolicy
    /// Tenants whose schema is known to be migrated in this process, or being checked.
    private let ready = Mutex<[TenantID: Task<QuotedSchema, any Error>]>([:])

    public init(database: PostgresDatabase, migration: MigrationPolicy = .auto, logger: Logger) {
        self.database = database
        self.migration = migration
        self.logger = logger
    }

    public func store(for tenant: TenantID, provisioning: TenantProvisioning) async throws -> any TenantStore {
        PostgresTenantStore(tenant: tenant, schema: try await schema(for: tenant, provisioning: provisioning), database: database)
    }

    public func provision(_ tenant: TenantID) async throws -> Bool {
        let (schema, created) = try await prepare(tenant, create: true)
        ready.withLock { tasks in
            if tasks[tenant] == nil { tasks[tenant] = Task { schema } }
        }
        return created
    }

    func schema(for tenant: TenantID, provisioning: TenantProvisioning) async throws -> QuotedSchema {
        let preparing = ready.withLock { tasks in
            if let existing = tasks[tenant] { return existing }
            let task = Task { try await self.prepare(tenant, create: provisioning == .createIfMissing).schema }
            tasks[tenant] = task
            return task
        }
        do {
            return try await preparing.value
        } catch {
            // Not cached: an unknown tenant may be provisioned later, a database back up.
            ready.withLock { tasks in _ = tasks.removeValue(forKey: tenant) }
            // The lookup this caller joined may have been one that only opens existing tenants
            // (the audit writer's): a caller that may create the tenant does so now.
            if provisioning == .createIfMissing, case ParleyError.notFound = error {
                return try await prepare(tenant, create: true).schema
            }
            throw error
        }
    }

    /// Looks the tenant up (creating its row and schema when `create`) and migrates its schema,
    /// all in one transaction: a tenant is provisioned completely or not at all. With migrations
    /// off, an existing tenant's older schema is refused instead (a new tenant's is still created).
    private func prepare(_ tenant: TenantID, create: Bool) async throws -> (schema: QuotedSchema, created: Bool) {
        let logger = self.logger
        let migration = self.migration
        let result = try await database.bounded { [database] in
            try await database.client.withTransaction(logger: logger) { connection in
                try await PostgresMigrator.lock("parley.tenant." + tenant.rawValue, connection, logger: logger)
                var created = false
                if create {
                    let name = QuotedSchema(tenant: tenant).name
                    let inserted = try await connection.query(
                        """
                        INSERT INTO parley.tenants (id, schema_name, created_at) VALUES (\(tenant.rawValue), \(name), \(Clock.nowMillis()))
                        ON CONFLICT (id) DO NOTHING RETURNING id
                        """, logger: logger
                    ).collect()
                    created = !inserted.isEmpty
                }
                let rows = try await connection.query(
                    "SELECT schema_name FROM parley.tenants WHERE id = \(tenant.rawValue)", logger: logger
                ).collect()
                guard let stored = try rows.first?.decode(String.self) else { throw ParleyError.notFound("tenant \(tenant)") }
                guard let schema = QuotedSchema(stored: stored) else { throw StoreError.corrupt(column: "tenants.schema_name") }
                // The name is ours and checked; identifiers cannot be bound as parameters.
                try await connection.query("CREATE SCHEMA IF NOT EXISTS \(unescaped: schema.quoted)", logger: logger)
                try await connection.query("SELECT set_config('search_path', \(schema.quoted), true)", logger: logger)
                let migrator = PostgresMigrator(scope: tenant.rawValue, migrations: PostgresSchema.tenant, label: "tenant \(tenant)")
                if migration == .off && !created {
                    let version = try await migrator.currentVersion(connection, logger: logger)
                    if version < migrator.latestVersion {
                        throw StoreError.outdated(OutdatedSchema(database: migrator.label, version: version, needed: migrator.latestVersion))
                    }
                    return (schema, created, version, version)
                }
                let (before, after) = try await migrator.migrate(connection, logger: logger)
                return (schema, created, before, after)
            }
        }
        if result.2 != result.3 {
            logger.info("migrated database", metadata: ["database": "tenant \(tenant)", "from": "\(result.2)", "to": "\(result.3)"])
        }
        return (result.0, result.1)
    }

    public func tenants() async throws -> [TenantID] {
        let logger = self.logger
        return try await database.transaction(in: .control) { connection, _ in
            try await connection.query("SELECT id FROM tenants ORDER BY id", logger: logger).collect()
                .compactMap { TenantID(try $0.decode(String.self)) }
        }
    }

    public func migrateAll() async throws -> [TenantID: Int] {
        var versions: [TenantID: Int] = [:]
        for tenant in try await tenants() {
            _ = try await prepare(tenant, create: false)
            versions[tenant] = try await version(of: tenant)
        }
        return versions
    }

    func version(of tenant: TenantID) async throws -> Int {
        let migrator = PostgresMigrator(scope: tenant.rawValue, migrations: PostgresSchema.tenant, label: "tenant \(tenant)")
        return try await database.transaction(in: .control) { connection, logger in
            try await migrator.currentVersion(connection, logger: logger)
        }
    }

    /// Undoes the latest migration of every tenant (operators only, with the servers stopped).
    public func rollbackAll() async throws -> [TenantID: Int] {
        var versions: [TenantID: Int] = [:]
        for tenant in try await tenants() {
            let schema = try await database.transaction(in: .control) { connection, logger in
                let rows = try await connection.query("SELECT schema_name FROM tenants WHERE id = \(tenant.rawValue)", logger: logger)
                    .collect()
                return try rows.first.flatMap { QuotedSchema(stored: try $0.decode(String.self)) }
            }
            guard let schema else { continue }
            let migrator = PostgresMigrator(scope: tenant.rawValue, migrations: PostgresSchema.tenant, label: "tenant \(tenant)")
            versions[tenant] = try await database.transaction(in: schema) { connection, logger in
                try await migrator.rollbackLatest(connection, logger: logger)
            }
            ready.withLock { tasks in _ = tasks.removeValue(forKey: tenant) }
        }
        return versions
    }

    public func checkHealth() async throws {
        try await database.checkHealth()
    }

    public func close() async throws {
        await database.close()
    }
}

/// The shared schema's and every tenant's recorded version, in one query while any is behind;
/// once all are current it stays so (this process creates new tenants at the latest version).
final class PostgresSchemaStatus: SchemaStatus {
    let database: PostgresDatabase
    private let current = Atomic<Bool>(false)

    init(database: PostgresDatabase) {
        self.database = database
    }

    func outdatedSchemas() async throws -> [OutdatedSchema] {
        if current.load(ordering: .relaxed) { return [] }
        let control = PostgresMigrator(scope: PostgresSchema.controlScope, migrations: PostgresSchema.control, label: "schema parley")
        let tenantLatest = PostgresSchema.tenant.last?.version ?? 0
        let bootstrapped = try await database.run("SELECT to_regclass('parley.schema_migrations') IS NOT NULL AND to_regclass('parley.tenants') IS NOT NULL")
        guard try bootstrapped.first?.decode(Bool.self) == true else {
            return [OutdatedSchema(database: control.label, version: 0, needed: control.latestVersion)]
        }
        let rows = try await database.run(
            """
            SELECT '*', COALESCE((SELECT MAX(version) FROM parley.schema_migrations WHERE scope = '*'), 0)
            UNION ALL
            SELECT t.id, COALESCE(MAX(m.version), 0) FROM parley.tenants t
            LEFT JOIN parley.schema_migrations m ON m.scope = t.id GROUP BY t.id
            """)
        var outdated: [OutdatedSchema] = []
        for row in rows {
            let (scope, version) = try row.decode((String, Int).self)
            if scope == PostgresSchema.controlScope {
                if version < control.latestVersion {
                    outdated.append(OutdatedSchema(database: control.label, version: version, needed: control.latestVersion))
                }
            } else if version < tenantLatest {
                outdated.append(OutdatedSchema(database: "tenant \(scope)", version: version, needed: tenantLatest))
            }
        }
        if outdated.isEmpty { current.store(true, ordering: .relaxed) }
        return outdated
    }
}
