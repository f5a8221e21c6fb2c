import Foundation
import Logging
import ParleyCore

/// The stores of a process: the tenants' and the control store, on the backend configured.
public struct Storage: Sendable {
    public let tenants: any TenantStoreProvider
    public let control: any ControlStore
    /// Where the data lives, for messages (the data directory, or the database without its password).
    public let location: String
    /// Which schemas are older than this build needs (only `parley migrate` changes them when
    /// `migration` is off).
    public let schemas: any SchemaStatus

    /// PostgreSQL when `postgres` is given, else SQLite files under `dataDirectory`.
    public static func open(
        postgres: PostgresSettings?, dataDirectory: URL, migration: MigrationPolicy = .auto, logger: Logger
    ) async throws -> Storage {
        if let postgres {
            let database = try await PostgresDatabase.open(settings: postgres, migration: migration, logger: logger)
            return Storage(
                tenants: PostgresStoreProvider(database: database, migration: migration, logger: logger),
                control: PostgresControlStore(database: database), location: postgres.redacted,
                schemas: PostgresSchemaStatus(database: database))
        }
        let tenants = try SQLiteStoreProvider(dataDirectory: dataDirectory, migration: migration, logger: logger)
        let control = try await SQLiteControlStore.open(dataDirectory: dataDirectory, migration: migration, logger: logger)
        return Storage(
            tenants: tenants, control: control, location: dataDirectory.path, schemas: SQLiteSchemaStatus(control: control, tenants: tenants))
    }

    public func close() async throws {
        try await tenants.close()
        try await control.close()
    }
}
