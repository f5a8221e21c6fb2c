import Foundation
import Logging
import ParleyCore
import PostgresNIO
import Synchronization

/// The shared schema: feature flags and the system audit log.
public struct PostgresControlStore: ControlStore {
    let database: PostgresDatabase

    public init(database: PostgresDatabase) {
        self.database = database
    }

    public var flags: any FeatureFlagStore { PostgresFeatureFlagStore(database: database) }
    public var systemAudit: any AuditLogRepository { PostgresAuditLog(database: database, schema: .control, lockKey: "*") }
    public var usage: any UsageLedger { PostgresUsageLedger(database: database) }

    public func close() async throws {
        await database.close()
    }
}

struct PostgresFeatureFlagStore: FeatureFlagStore {
    let database: PostgresDatabase

    func values(in scope: FlagScope) async throws -> [FeatureFlag: JSONValue] {
        let rows = try await database.transaction(in: .control) { connection, logger in
            try await connection.query("SELECT name, value FROM feature_flags WHERE scope = \(scope.storageKey)", logger: logger)
                .collect().map { try $0.decode((String, String).self) }
        }
        var values: [FeatureFlag: JSONValue] = [:]
        for (name, value) in rows {
            // A flag this build no longer knows is ignored, not an error.
            guard let flag = FeatureFlag(rawValue: name) else { continue }
            values[flag] = try JSONDecoder().decode(JSONValue.self, from: Data(value.utf8))
        }
        return values
    }

    func set(_ flag: FeatureFlag, to value: JSONValue?, in scope: FlagScope, by actor: String) async throws {
        let key = scope.storageKey
        guard let value else {
            try await database.transaction(in: .control) { connection, logger in
                try await connection.query(
                    "DELETE FROM feature_flags WHERE scope = \(key) AND name = \(flag.rawValue)", logger: logger)
                return ()
            }
            return
        }
        let json = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
        try await database.transaction(in: .control) { connection, logger in
            try await connection.query(
                """
                INSERT INTO feature_flags (scope, name, value, updated_at, updated_by)
                VALUES (\(key), \(flag.rawValue), \(json), \(Clock.nowMillis()), \(actor))
                ON CONFLICT (scope, name) DO UPDATE
                    SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by
                """, logger: logger)
            return ()
        }
    }
}
