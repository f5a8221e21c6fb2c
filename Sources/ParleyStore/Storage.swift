import Foundation
import Logging
import ParleyCore
import Synchronization

/// The stores of a process: the tenants' and the control store, on the backend configured.
public struct Storage: Sendable {
    public let tenants: any TenantStoreProvider
    public let control: any ControlStore
    /// Where the data lives, for messages (the data directory, or the database without its password).
    public let location: String
    /// Which schemas are older than this build needs (only `parley migrate` changes them when
    /// `migration` is off).
    public let schemas: any SchemaStatus
    /// The connection pool's load and errors (PostgreSQL; SQLite has no pool).
    public let statistics: DatabaseStatistics?

    /// PostgreSQL when `postgres` is given, else SQLite files under `dataDirectory`.
    public static func open(
        postgres: PostgresSettings?, dataDirectory: URL, migration: MigrationPolicy = .auto, logger: Logger
    ) async throws -> Storage {
        if let postgres {
            let database = try await PostgresDatabase.open(settings: postgres, migration: migration, logger: logger)
            return Storage(
                tenants: PostgresStoreProvider(database: database, migration: migration, logger: logger),
                control: PostgresControlStore(database: database), location: postgres.redacted,
                schemas: PostgresSchemaStatus(database: database), statistics: database.statistics)
        }
        let tenants = try SQLiteStoreProvider(dataDirectory: dataDirectory, migration: migration, logger: logger)
        let control = try await SQLiteControlStore.open(dataDirectory: dataDirectory, migration: migration, logger: logger)
        return Storage(
            tenants: tenants, control: control, location: dataDirectory.path, schemas: SQLiteSchemaStatus(control: control, tenants: tenants),
            statistics: nil)
    }

    public func close() async throws {
        try await tenants.close()
        try await control.close()
    }
}

/// What a database's connection pool is doing, for metrics: read at each scrape.
public final class DatabaseStatistics: Sendable {
    /// `postgresql`.
    public let backend: String
    /// Connections the pool may open.
    public let maxConnections: Int
    private let inFlight = Atomic<Int>(0)
    private let failed = Atomic<Int>(0)

    init(backend: String, maxConnections: Int) {
        self.backend = backend
        self.maxConnections = maxConnections
    }

    /// Operations holding or waiting for a connection now.
    public var operationsInFlight: Int { inFlight.load(ordering: .relaxed) }
    /// Operations that failed since start because the database was unavailable or too slow.
    public var errors: Int { failed.load(ordering: .relaxed) }

    func started() { inFlight.add(1, ordering: .relaxed) }
    func finished() { inFlight.subtract(1, ordering: .relaxed) }
    func failedUnavailable() { failed.add(1, ordering: .relaxed) }
}
