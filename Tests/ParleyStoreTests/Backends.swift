import Foundation
import Logging
import ParleyCore
import Testing

@testable import ParleyStore

/// The storage backends every storage test runs against.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    func fixture() async throws -> StoreFixture {
        switch self {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-store-\(UUID().uuidString)")
            return StoreFixture(
                provider: try SQLiteStoreProvider(dataDirectory: directory, logger: Logger(label: "test")), suffix: "")
        case .postgres:
            // One database for every test; each test works in tenants of its own (a fresh schema
            // each), so tests run in parallel and nothing needs cleaning up.
            let database = try await TestPostgres.shared()
            let suffix = "_" + UUID().uuidString.prefix(8).lowercased()
            return StoreFixture(provider: PostgresStoreProvider(database: database, logger: Logger(label: "test")), suffix: suffix)
        }
    }
}

extension Backend {
    /// Two providers on one storage, as two processes would have, and a tenant of this test.
    func twoProcesses() async throws -> (any TenantStoreProvider, any TenantStoreProvider, TenantID) {
        let tenant = TenantID("shared_" + UUID().uuidString.prefix(8).lowercased())!
        switch self {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-store-\(UUID().uuidString)")
            return (
                try SQLiteStoreProvider(dataDirectory: directory, logger: Logger(label: "test")),
                try SQLiteStoreProvider(dataDirectory: directory, logger: Logger(label: "test")), tenant
            )
        case .postgres:
            return (
                PostgresStoreProvider(database: try await TestPostgres.separate(), logger: Logger(label: "test")),
                PostgresStoreProvider(database: try await TestPostgres.separate(), logger: Logger(label: "test")), tenant
            )
        }
    }
}

struct StoreFixture {
    let provider: any TenantStoreProvider
    /// Appended to tenant ids, so that tests sharing one PostgreSQL database never meet.
    let suffix: String

    func tenant(_ name: String) -> TenantID {
        TenantID(name + suffix)!
    }
}

/// The PostgreSQL the tests use: `PARLEY_TEST_DATABASE_URL`, set by `scripts/test` after it has
/// started one with `scripts/start-postgres.sh`.
enum TestPostgres {
    static var settings: PostgresSettings {
        get throws {
            guard let url = ProcessInfo.processInfo.environment["PARLEY_TEST_DATABASE_URL"] else {
                throw Missing()
            }
            guard let settings = PostgresSettings(url: url, poolSize: 8) else { throw Missing() }
            return settings
        }
    }

    struct Missing: Error, CustomStringConvertible {
        var description: String {
            "PARLEY_TEST_DATABASE_URL is not set to a postgres:// URL: run scripts/test, or start one with "
                + "`eval \"$(scripts/start-postgres.sh)\"` and export PARLEY_TEST_DATABASE_URL=$DATABASE_URL"
        }
    }

    private static let opening = Task { try await PostgresDatabase.open(settings: try settings, logger: Logger(label: "test")) }

    static func shared() async throws -> PostgresDatabase {
        try await opening.value
    }

    /// A pool of its own: another process, as far as PostgreSQL can tell.
    static func separate() async throws -> PostgresDatabase {
        try await PostgresDatabase.open(settings: try settings, logger: Logger(label: "test"))
    }
}

extension TestPostgres {
    /// A fresh database of its own, for tests that act on every tenant (migrate, roll back).
    static func isolated(migration: MigrationPolicy = .auto) async throws -> PostgresDatabase {
        let name = "parley_" + UUID().uuidString.prefix(8).lowercased()
        let shared = try await shared()
        try await shared.createDatabase(named: name)
        var settings = try settings
        settings.database = name
        return try await PostgresDatabase.open(settings: settings, migration: migration, logger: Logger(label: "test"))
    }
}
