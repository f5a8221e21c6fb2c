import Foundation
import Logging
import ParleyCore

/// The stores of a process: the tenants' and the control store, on the backend configured.
public struct Storage: Sendable {
    public let tenants: any TenantStoreProvider
    public let control: any ControlStore
    /// Where the data lives, for messages (the data directory, or the database without its password).
    public let location: String

    /// PostgreSQL when `postgres` is given, else SQLite files under `dataDirectory`.
    public static func open(postgres: PostgresSettings?, dataDirectory: URL, logger: Logger) async throws -> Storage {
        if let postgres {
            let database = try await PostgresDatabase.open(settings: postgres, logger: logger)
            return Storage(
                tenants: PostgresStoreProvider(database: database, logger: logger), control: PostgresControlStore(database: database),
                location: postgres.redacted)
        }
        let tenants = try SQLiteStoreProvider(dataDirectory: dataDirectory, logger: logger)
        let control = try await SQLiteControlStore.open(dataDirectory: dataDirectory, logger: logger)
        return Storage(tenants: tenants, control: control, location: dataDirectory.path)
    }

    public func close() async throws {
        try await tenants.close()
        try await control.close()
    }
}
