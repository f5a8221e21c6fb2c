import Foundation
import Logging
import ParleyCore
import Synchronization

/// Embedded storage: one SQLite file per tenant under `<data>/tenants/`, opened on first use,
/// migrated before it serves a request, and kept open for the life of the process.
public final class SQLiteStoreProvider: TenantStoreProvider {
    private let tenantsDirectory: URL
    private let logger: Logger
    /// Open databases, and opens in flight (so two first requests open a file once).
    private let open = Mutex<[TenantID: Task<SQLiteTenantDatabase, any Error>]>([:])

    public init(dataDirectory: URL, logger: Logger) throws {
        self.tenantsDirectory = dataDirectory.appendingPathComponent("tenants", isDirectory: true)
        self.logger = logger
        try FileManager.default.createDirectory(at: tenantsDirectory, withIntermediateDirectories: true)
    }

    func path(for tenant: TenantID) -> String {
        tenantsDirectory.appendingPathComponent("\(tenant.rawValue).sqlite").path
    }

    public func store(for tenant: TenantID, provisioning: TenantProvisioning) async throws -> any TenantStore {
        SQLiteTenantStore(database: try await database(for: tenant, provisioning: provisioning))
    }

    func database(for tenant: TenantID, provisioning: TenantProvisioning) async throws -> SQLiteTenantDatabase {
        if let opening = open.withLock({ $0[tenant] }) {
            return try await opening.value
        }
        let path = path(for: tenant)
        if provisioning == .existingOnly, !FileManager.default.fileExists(atPath: path) {
            throw ParleyError.notFound("tenant \(tenant)")
        }
        let logger = self.logger
        let opening = open.withLock { tasks in
            if let existing = tasks[tenant] { return existing }
            let task = Task {
                let database = try await SQLiteTenantDatabase.open(tenant: tenant, path: path, logger: logger)
                do {
                    let before = try await database.currentVersion()
                    guard before <= SQLiteSchema.latestVersion else {
                        throw StoreError.schemaTooNew(tenant: tenant.rawValue, version: before)
                    }
                    let after = try await database.migrate()
                    if after != before {
                        logger.info("migrated tenant database", metadata: ["tenant": "\(tenant)", "from": "\(before)", "to": "\(after)"])
                    }
                } catch {
                    try? await database.close()
                    throw error
                }
                return database
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
            let database = try await SQLiteTenantDatabase.open(tenant: tenant, path: path(for: tenant), logger: logger)
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
