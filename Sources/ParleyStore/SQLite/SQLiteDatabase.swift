import Foundation
import Logging
import NIOCore
import NIOPosix
import ParleyCore

/// One SQLite file (a tenant's, or the control database) and its two connections.
///
/// All statements are single statements (multi-row inserts, upserts with RETURNING, triggers),
/// so concurrent requests never interleave transactions. Reads (`SELECT …`) go to a reader
/// connection and never wait behind a write's fsync (WAL lets them run beside the writer).
/// Writes go to the writer connection through a group commit: the writes that arrive while one
/// commit is on its way to disk wait, and then share the next transaction and its one fsync.
/// A write is answered only once its transaction is durable.
/// libsqlite3 runs on NIO's blocking pool, never on an event loop.
final class SQLiteDatabase: Sendable {
    let path: String
    /// The writer: migrations, and every statement that is not a SELECT (through `writes`).
    private let connection: SQLiteHandle
    /// Readers, so that reads on different pool threads do not wait for each other.
    private let readers: [SQLiteHandle]
    let migrations: [Migration]
    private let writes: SQLiteGroupCommit

    /// Reader connections per file. Two let two reads run at once, which was enough to keep
    /// reads even with SQLiteNIO's at 50 connections on 2 cores; each more is another page cache
    /// per open tenant file, so this is not scaled with the blocking pool.
    static let readerCount = 2

    private init(path: String, connection: SQLiteHandle, readers: [SQLiteHandle], migrations: [Migration]) {
        self.path = path
        self.connection = connection
        self.readers = readers
        self.migrations = migrations
        self.writes = SQLiteGroupCommit(connection: connection)
    }

    var latestVersion: Int { migrations.last?.version ?? 0 }

    static func open(path: String, migrations: [Migration], logger: Logger) async throws -> SQLiteDatabase {
        let (connection, readers) = try await NIOThreadPool.singleton.runIfActive {
            let connection = try SQLiteHandle(path: path)
            do {
                // WAL lets readers proceed during a write; FULL makes every commit durable before
                // we acknowledge it (nothing acknowledged is lost, even on power failure).
                try connection.query("PRAGMA journal_mode = WAL")
                try connection.query("PRAGMA synchronous = FULL")
                try connection.query("PRAGMA foreign_keys = ON")
                var readers: [SQLiteHandle] = []
                do {
                    for _ in 0..<Self.readerCount {
                        let reader = try SQLiteHandle(path: path)
                        readers.append(reader)
                        // Nothing but SELECTs are sent here; this makes sure of it.
                        try reader.query("PRAGMA query_only = ON")
                    }
                } catch {
                    for reader in readers { reader.close() }
                    throw error
                }
                return (connection, readers)
            } catch {
                connection.close()
                throw error
            }
        }
        return SQLiteDatabase(path: path, connection: connection, readers: readers, migrations: migrations)
    }

    /// What opening does with a schema older than this build's.
    enum SchemaHandling {
        /// Bring it to the latest version before anyone else uses it.
        case migrate
        /// Refuse the file (503 until `parley migrate` has run).
        case refuseOutdated
        /// Open it as it is (readiness reports it).
        case openAsIs
    }

    /// Opens the file and brings it to the latest schema before anyone else uses it, or refuses
    /// or keeps an older one (`database.migrate = off`). A newer schema is used as it is.
    ///
    /// Processes that open one new file at the same moment (`parley serve` and `parley mcp` on a
    /// fresh data directory) contend for it while it is created, switched to WAL and migrated, and
    /// there SQLite reports some conflicts as busy at once instead of waiting (to avoid a
    /// deadlock). Opening is then tried again from the start, for up to twice the busy timeout:
    /// every step is safe to repeat (a migration checks the version under the write lock).
    static func openMigrated(
        path: String, label: String, migrations: [Migration], schema: SchemaHandling = .migrate, logger: Logger
    ) async throws -> SQLiteDatabase {
        let deadline = ContinuousClock.now + .milliseconds(2 * Int(SQLiteHandle.busyTimeoutMillis))
        while true {
            do {
                return try await openMigratedOnce(path: path, label: label, migrations: migrations, schema: schema, logger: logger)
            } catch let failure as SQLiteFailure where failure.isBusy && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(Int.random(in: 5...50)))
            }
        }
    }

    private static func openMigratedOnce(
        path: String, label: String, migrations: [Migration], schema: SchemaHandling, logger: Logger
    ) async throws -> SQLiteDatabase {
        let database = try await open(path: path, migrations: migrations, logger: logger)
        do {
            let before = try await database.currentVersion()
            if before > database.latestVersion {
                logger.notice(
                    "the schema is newer than this build knows; using it as it is (a release only adds to the schema)",
                    metadata: ["database": "\(label)", "version": "\(before)", "known": "\(database.latestVersion)"])
            }
            switch schema {
            case .migrate:
                let after = try await database.migrate()
                if after != before {
                    logger.info("migrated database", metadata: ["database": "\(label)", "from": "\(before)", "to": "\(after)"])
                }
            case .refuseOutdated where before < database.latestVersion:
                throw StoreError.outdated(OutdatedSchema(database: label, version: before, needed: database.latestVersion))
            case .refuseOutdated, .openAsIs:
                break
            }
        } catch {
            try? await database.close()
            throw error
        }
        return database
    }

    func close() async throws {
        try await NIOThreadPool.singleton.runIfActive {
            for reader in self.readers { reader.close() }
            self.connection.close()
        }
    }

    deinit {
        // A database dropped without close() (a provider that was never shut down) still
        // releases its file, on the pool: the last close checkpoints the WAL (disk I/O).
        let handles = readers + [connection]
        NIOThreadPool.singleton.submit { _ in
            for handle in handles { handle.close() }
        }
    }

    /// Runs one statement: a SELECT on the reader, anything else in the writer's next group commit.
    @discardableResult
    func query(_ sql: String, _ binds: [SQLiteValue] = []) async throws -> [SQLiteRow] {
        try await StoreTracing.span(system: "sqlite", namespace: namespace, sql: sql) {
            if Self.isRead(sql) { return try await read(sql, binds) }
            return try await writes.run(sql, binds)
        }
    }

    /// A SELECT on a free reader (or, if all are busy, on the first), on the blocking pool.
    private func read(_ sql: String, _ binds: [SQLiteValue]) async throws -> [SQLiteRow] {
        try await NIOThreadPool.singleton.runIfActive {
            for reader in self.readers {
                if let rows = try reader.queryIfFree(sql, binds) { return rows }
            }
            return try self.readers[0].query(sql, binds)
        }
    }

    /// The database's name in traces: the tenant (`acme` of `tenants/acme.sqlite`), or `parley`.
    var namespace: String {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        return file.hasSuffix(".sqlite") ? String(file.dropLast(".sqlite".count)) : file
    }

    /// Several writes that commit together or not at all, in the writer's next group commit.
    /// `body` runs its statements on the connection it gets (a later one may use an earlier's rows).
    func transaction<Result: Sendable>(
        _ body: @escaping @Sendable (SQLiteHandle) throws -> Result
    ) async throws -> Result {
        try await StoreTracing.span(system: "sqlite", namespace: namespace, sql: nil) { try await writes.unit(body) }
    }

    /// Whether `sql` only reads: it starts with SELECT (a `WITH` may write, so it counts as a write).
    static func isRead(_ sql: String) -> Bool {
        let start = sql.utf8.drop(while: { $0 == 0x20 || $0 == 0x0A || $0 == 0x09 || $0 == 0x0D }).prefix(6)
        return start.count == 6 && zip(start, "SELECT".utf8).allSatisfy { ($0 & 0xDF) == $1 }
    }

    // MARK: Migrations

    func currentVersion() async throws -> Int {
        try await NIOThreadPool.singleton.runIfActive { try Self.version(on: self.connection) }
    }

    private static func version(on connection: SQLiteHandle) throws -> Int {
        try connection.query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
        )
        let rows = try connection.query("SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations")
        return rows.first?.column("version")?.integer ?? 0
    }

    /// The recorded version, read on the reader (safe while requests write; 0 before any migration).
    func recordedVersion() async throws -> Int {
        let tables = try await read("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'", [])
        guard !tables.isEmpty else { return 0 }
        let rows = try await read("SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations", [])
        return Int(rows.first?.column("version")?.integer ?? 0)
    }

    /// Applies every migration above the recorded version, each in its own transaction.
    /// Runs before the database is handed to requests, so nothing else uses the connection.
    func migrate(to target: Int? = nil) async throws -> Int {
        let target = target ?? latestVersion
        var version = try await currentVersion()
        for migration in migrations where migration.version > version && migration.version <= target {
            try await migrationTransaction(
                migration.up + [
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (\(migration.version), '\(migration.name)', \(Clock.nowMillis()))"
                ], unlessAt: migration.version)
            version = migration.version
        }
        return version
    }

    /// Undoes the latest applied migration; returns the version afterwards.
    func rollbackLatest() async throws -> Int {
        let version = try await currentVersion()
        guard let migration = migrations.first(where: { $0.version == version }) else { return version }
        try await migrationTransaction(migration.down + ["DELETE FROM schema_migrations WHERE version = \(migration.version)"])
        return try await currentVersion()
    }

    /// Runs `statements` in one write transaction. With `unlessAt`: not when the database is at
    /// that version by the time the write lock is held, as when another process (`parley serve`
    /// and `parley mcp` starting together on the same files) migrated it meanwhile.
    /// The transaction is one job on the blocking pool: holding the write lock while waiting for a
    /// pool thread could starve the others' jobs, which block in the busy wait for that lock.
    private func migrationTransaction(_ statements: [String], unlessAt version: Int? = nil) async throws {
        try await NIOThreadPool.singleton.runIfActive {
            let connection = self.connection
            try connection.query("BEGIN IMMEDIATE")
            do {
                if let version, try Self.version(on: connection) >= version {
                    try connection.query("COMMIT")
                    return
                }
                for statement in statements { try connection.query(statement) }
                try connection.query("COMMIT")
            } catch {
                _ = try? connection.query("ROLLBACK")
                throw error
            }
        }
    }
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
