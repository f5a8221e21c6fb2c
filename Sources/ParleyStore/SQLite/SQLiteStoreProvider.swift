import Foundation
import Logging
import ParleyCore
import Synchronization

/// Embedded storage: one SQLite file per tenant under `<data>/tenants/`, opened on first use,
/// migrated before it serves a request, and kept open for the life of the process.
public final class SQLiteStoreProvider: TenantStoreProvider {
    private let tenantsDirectory: URL
    private let logger: Logger
    private let migration: MigrationPolicy
    /// Open databases, and opens in flight (so two first requests open a file once).
    private let open = Mutex<[TenantID: Task<SQLiteDatabase, any Error>]>([:])

    public init(dataDirectory: URL, migration: MigrationPolicy = .auto, logger: Logger) throws {
        self.tenantsDirectory = dataDirectory.appendingPathComponent("tenants", isDirectory: true)
        self.migration = migration
        self.logger = logger
        try FileManager.default.createDirectory(at: tenantsDirectory, withIntermediateDirectories: true)
    }

    func path(for tenant: TenantID) -> String {
        tenantsDirectory.appendingPathComponent("\(tenant.rawValue).sqlite").path
    }

    public func store(for tenant: TenantID, provisioning: TenantProvisioning) async throws -> any TenantStore {
        SQLiteTenantStore(tenant: tenant, database: try await database(for: tenant, provisioning: provisioning))
    }

    public func provision(_ tenant: TenantID) async throws -> Bool {
        let existed = FileManager.default.fileExists(atPath: path(for: tenant))
        _ = try await database(for: tenant, provisioning: .createIfMissing)
        return !existed
    }

    func database(for tenant: TenantID, provisioning: TenantProvisioning) async throws -> SQLiteDatabase {
        if let opening = open.withLock({ $0[tenant] }) {
            return try await opening.value
        }
        let path = path(for: tenant)
        if provisioning == .existingOnly, !FileManager.default.fileExists(atPath: path) {
            throw ParleyError.notFound("tenant \(tenant)")
        }
        let logger = self.logger
        // With migrations off an existing file must already be current; a new tenant's is created.
        let schema: SQLiteDatabase.SchemaHandling =
            migration == .auto || !FileManager.default.fileExists(atPath: path) ? .migrate : .refuseOutdated
        let opening = open.withLock { tasks in
            if let existing = tasks[tenant] { return existing }
            let task = Task {
                try await SQLiteDatabase.openMigrated(
                    path: path, label: "tenant \(tenant)", migrations: SQLiteSchema.migrations, schema: schema, logger: logger)
            }
            tasks[tenant] = task
            return task
        }
        do {
            return try await opening.value
        } catch {
            // A failed open is not cached: the next request tries again.
            open.withLock { tasks in _ = tasks.removeValue(forKey: tenant) }
            throw error
        }
    }

    public func tenants() async throws -> [TenantID] {
        let names = try FileManager.default.contentsOfDirectory(atPath: tenantsDirectory.path)
        return names.compactMap { name in
            guard name.hasSuffix(".sqlite") else { return nil }
            return TenantID(String(name.dropLast(".sqlite".count)))
        }.sorted { $0.rawValue < $1.rawValue }
    }

    public func migrateAll() async throws -> [TenantID: Int] {
        var versions: [TenantID: Int] = [:]
        for tenant in try await tenants() {
            let database = try await database(for: tenant, provisioning: .existingOnly)
            versions[tenant] = try await database.currentVersion()
        }
        return versions
    }

    /// Undoes the latest migration of every tenant (operators only, with the server stopped).
    public func rollbackAll() async throws -> [TenantID: Int] {
        var versions: [TenantID: Int] = [:]
        for tenant in try await tenants() {
            let database = try await SQLiteDatabase.open(path: path(for: tenant), migrations: SQLiteSchema.migrations, logger: logger)
            do {
                versions[tenant] = try await database.rollbackLatest()
            } catch {
                try? await database.close()
                throw error
            }
            try await database.close()
        }
        return versions
    }

    /// Tenants whose file has an older schema than this build's. Files open in this process are
    /// current (they were migrated or checked when opened); the others are read and closed.
    func outdatedTenants() async throws -> [OutdatedSchema] {
        let opened = open.withLock { Set($0.keys) }
        var outdated: [OutdatedSchema] = []
        for tenant in try await tenants() where !opened.contains(tenant) {
            let database = try await SQLiteDatabase.open(path: path(for: tenant), migrations: SQLiteSchema.migrations, logger: logger)
            let version = try await database.recordedVersion()
            try? await database.close()
            if version < SQLiteSchema.latestVersion {
                outdated.append(OutdatedSchema(database: "tenant \(tenant)", version: version, needed: SQLiteSchema.latestVersion))
            }
        }
        return outdated
    }

    public func checkHealth() async throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: tenantsDirectory.path, isDirectory: &isDirectory), isDirectory.boolValue,
            FileManager.default.isWritableFile(atPath: tenantsDirectory.path)
        else {
            throw ParleyError.unavailable("data directory \(tenantsDirectory.path) is not writable")
        }
    }

    public func close() async throws {
        let tasks = open.withLock { tasks in
            defer { tasks.removeAll() }
            return Array(tasks.values)
        }
        for task in tasks {
            if let database = try? await task.value { try? await database.close() }
        }
    }
}
