import Foundation
import Logging
import ParleyCore
import PostgresNIO
import Synchronization

extension PostgresDatabase {
    /// Starts the pool and brings the shared schema to the latest version (once per process;
    /// replicas starting together take turns under an advisory lock).
    public static func open(settings: PostgresSettings, logger: Logger) async throws -> PostgresDatabase {
        let database = try PostgresDatabase(settings: settings, logger: logger)
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
    /// Tenants whose schema is known to be migrated in this process, or being checked.
    private let ready = Mutex<[TenantID: Task<QuotedSchema, any Error>]>([:])

    public init(database: PostgresDatabase, logger: Logger) {
        self.database = database
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
            throw error
        }
    }

    /// Looks the tenant up (creating its row and schema when `create`) and migrates its schema,
    /// all in one transaction: a tenant is provisioned completely or not at all.
    private func prepare(_ tenant: TenantID, create: Bool) async throws -> (schema: QuotedSchema, created: Bool) {
        let logger = self.logger
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
