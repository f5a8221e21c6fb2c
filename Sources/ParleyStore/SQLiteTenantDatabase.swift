import Foundation
import Logging
import NIOCore
import NIOPosix
import ParleyCore
import SQLiteNIO

/// One tenant's SQLite file and its connection.
///
/// All statements are single statements (multi-row inserts, upserts with RETURNING, triggers),
/// so concurrent requests can share the connection without interleaving transactions.
/// libsqlite3 runs on NIO's thread pool, never on an event loop.
final class SQLiteTenantDatabase: Sendable {
    let tenant: TenantID
    let path: String
    let connection: SQLiteConnection

    private init(tenant: TenantID, path: String, connection: SQLiteConnection) {
        self.tenant = tenant
        self.path = path
        self.connection = connection
    }

    static func open(tenant: TenantID, path: String, logger: Logger) async throws -> SQLiteTenantDatabase {
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        do {
            // WAL lets readers proceed during a write; FULL makes every commit durable before we
            // acknowledge it (nothing acknowledged is lost, even on power failure).
            _ = try await connection.query("PRAGMA journal_mode = WAL")
            _ = try await connection.query("PRAGMA synchronous = FULL")
            _ = try await connection.query("PRAGMA foreign_keys = ON")
            _ = try await connection.query("PRAGMA busy_timeout = 5000")
        } catch {
            try? await connection.close()
            throw error
        }
        return SQLiteTenantDatabase(tenant: tenant, path: path, connection: connection)
    }

    func close() async throws {
        try await connection.close()
    }

    deinit {
        // A database dropped without close() (a provider that was never shut down) still
        // releases its file; the close keeps the connection alive until it has run.
        if !connection.isClosed { _ = connection.close() }
    }

    @discardableResult
    func query(_ sql: String, _ binds: [SQLiteData] = []) async throws -> [SQLiteRow] {
        try await connection.query(sql, binds)
    }

    // MARK: Migrations

    func currentVersion() async throws -> Int {
        try await query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
        )
        let rows = try await query("SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations")
        return Int(rows.first?.column("version")?.integer ?? 0)
    }

    /// Applies every migration above the recorded version, each in its own transaction.
    /// Runs before the database is handed to requests, so nothing else uses the connection.
    func migrate(to target: Int = SQLiteSchema.latestVersion) async throws -> Int {
        var version = try await currentVersion()
        for migration in SQLiteSchema.migrations where migration.version > version && migration.version <= target {
            try await transaction(migration.up + [
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (\(migration.version), '\(migration.name)', \(Clock.nowMillis()))"
            ])
            version = migration.version
        }
        return version
    }

    /// Undoes the latest applied migration; returns the version afterwards.
    func rollbackLatest() async throws -> Int {
        let version = try await currentVersion()
        guard let migration = SQLiteSchema.migrations.first(where: { $0.version == version }) else { return version }
        try await transaction(migration.down + ["DELETE FROM schema_migrations WHERE version = \(migration.version)"])
        return try await currentVersion()
    }

    private func transaction(_ statements: [String]) async throws {
        try await query("BEGIN IMMEDIATE")
        do {
            for statement in statements { try await query(statement) }
            try await query("COMMIT")
        } catch {
            _ = try? await query("ROLLBACK")
            throw error
        }
    }
}

enum Clock {
    static func nowMillis() -> Int { Int((Date().timeIntervalSince1970 * 1000).rounded()) }
    static func date(_ millis: Int) -> Date { Date(timeIntervalSince1970: Double(millis) / 1000) }
}

extension SQLiteRow {
    func int(_ name: String) throws -> Int {
        guard let value = column(name)?.integer else { throw StoreError.corrupt(column: name) }
        return Int(value)
    }

    func string(_ name: String) throws -> String {
        guard let value = column(name)?.string else { throw StoreError.corrupt(column: name) }
        return value
    }

    func optionalString(_ name: String) -> String? {
        guard let data = column(name), !data.isNull else { return nil }
        return data.string
    }

    func date(_ name: String) throws -> Date { Clock.date(try int(name)) }

    func optionalDate(_ name: String) -> Date? {
        guard let data = column(name), !data.isNull, let millis = data.integer else { return nil }
        return Clock.date(Int(millis))
    }
}

public enum StoreError: Error, CustomStringConvertible {
    case corrupt(column: String)
    case schemaTooNew(tenant: String, version: Int)

    public var description: String {
        switch self {
        case .corrupt(let column): "stored row has an unreadable column \(column)"
        case .schemaTooNew(let tenant, let version):
            "tenant \(tenant) has schema version \(version), newer than this build knows; upgrade Parley"
        }
    }
}
