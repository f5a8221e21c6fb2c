import Foundation
import Logging
import ParleyCore

/// The control database, `<data>/parley.sqlite`: feature flags and the system audit log.
public final class SQLiteControlStore: ControlStore {
    public static let fileName = "parley.sqlite"

    let database: SQLiteDatabase

    private init(database: SQLiteDatabase) {
        self.database = database
    }

    public static func open(dataDirectory: URL, migration: MigrationPolicy = .auto, logger: Logger) async throws -> SQLiteControlStore {
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        let path = dataDirectory.appendingPathComponent(fileName).path
        return SQLiteControlStore(
            database: try await SQLiteDatabase.openMigrated(
                path: path, label: Self.label, migrations: SQLiteControlSchema.migrations,
                schema: migration == .auto ? .migrate : .openAsIs, logger: logger))
    }

    static let label = "control database"

    public var flags: any FeatureFlagStore { SQLiteFeatureFlagStore(database: database) }
    public var systemAudit: any AuditLogRepository { SQLiteAuditLog(database: database) }
    public var usage: any UsageLedger { SQLiteUsageLedger(database: database) }

    public func close() async throws {
        try await database.close()
    }
}

/// The control database's version and every tenant file's.
struct SQLiteSchemaStatus: SchemaStatus {
    let control: SQLiteControlStore
    let tenants: SQLiteStoreProvider

    func outdatedSchemas() async throws -> [OutdatedSchema] {
        var outdated: [OutdatedSchema] = []
        let version = try await control.database.recordedVersion()
        if version < control.database.latestVersion {
            outdated.append(OutdatedSchema(database: SQLiteControlStore.label, version: version, needed: control.database.latestVersion))
        }
        return outdated + (try await tenants.outdatedTenants())
    }
}

struct SQLiteFeatureFlagStore: FeatureFlagStore {
    let database: SQLiteDatabase

    func values(in scope: FlagScope) async throws -> [FeatureFlag: JSONValue] {
        let rows = try await database.query("SELECT name, value FROM feature_flags WHERE scope = ?1", [.text(scope.storageKey)])
        var values: [FeatureFlag: JSONValue] = [:]
        for row in rows {
            // A flag this build no longer knows is ignored, not an error.
            guard let flag = FeatureFlag(rawValue: try row.string("name")) else { continue }
            values[flag] = try JSONDecoder().decode(JSONValue.self, from: Data(try row.string("value").utf8))
        }
        return values
    }

    func set(_ flag: FeatureFlag, to value: JSONValue?, in scope: FlagScope, by actor: String) async throws {
        guard let value else {
            try await database.query(
                "DELETE FROM feature_flags WHERE scope = ?1 AND name = ?2", [.text(scope.storageKey), .text(flag.rawValue)])
            return
        }
        let json = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
        try await database.query(
            """
            INSERT INTO feature_flags (scope, name, value, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4, ?5)
            ON CONFLICT (scope, name) DO UPDATE
                SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by
            """,
            [.text(scope.storageKey), .text(flag.rawValue), .text(json), .integer(Clock.nowMillis()), .text(actor)])
    }
}
