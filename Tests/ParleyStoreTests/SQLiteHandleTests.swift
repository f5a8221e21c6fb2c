import Foundation
import Logging
import Testing

@testable import ParleyStore

/// Parley's own SQLite connection: values round-trip exactly, statements are kept and reused,
/// errors say what SQLite said, and two processes may open a new file at the same time.
@Suite("SQLite handle")
final class SQLiteHandleTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-handle-\(UUID().uuidString)")

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }

    private func open() throws -> SQLiteHandle {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let handle = try SQLiteHandle(path: directory.appendingPathComponent("h.sqlite").path)
        try handle.query("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, note TEXT, weight REAL)")
        return handle
    }

    @Test func valuesRoundTripExactly() throws {
        let handle = try open()
        defer { handle.close() }
        let names = ["", "plain", "quote ' and \" and |", "zero\u{0}byte", "ünïcødé 🥛 買牛奶", String(repeating: "long ", count: 5_000)]
        for (index, name) in names.enumerated() {
            let rows = try handle.query(
                "INSERT INTO items (id, name, note, weight) VALUES (?1, ?2, ?3, ?4) RETURNING id, name, note, weight",
                [.integer(index + 1), .text(name), index.isMultiple(of: 2) ? .null : .text("n"), .float(Double(index) / 4)])
            #expect(rows.count == 1)
            #expect(rows[0].column("id") == .integer(index + 1))
            #expect(rows[0].column("name") == .text(name))
            #expect(rows[0].column("note") == (index.isMultiple(of: 2) ? .null : .text("n")))
            #expect(rows[0].column("weight") == .float(Double(index) / 4))
            #expect(rows[0].column("missing") == nil)
        }
        let all = try handle.query("SELECT name FROM items ORDER BY id").compactMap { $0.column("name")?.string }
        #expect(all == names)
        let extremes = try handle.query("SELECT ?1 AS low, ?2 AS high, x'00ff' AS bytes", [.integer(Int.min), .integer(Int.max)])
        #expect(extremes[0].column("low")?.integer == Int.min)
        #expect(extremes[0].column("high")?.integer == Int.max)
        #expect(extremes[0].column("bytes") == .blob([0x00, 0xFF]))
    }

    @Test func keepsStatementsForReuseWithinItsBound() throws {
        let handle = try open()
        defer { handle.close() }
        try handle.query("INSERT INTO items (name) VALUES (?1)", [.text("a")])
        let kept = handle.keptStatements
        // The same text again reuses the kept statement, with fresh bindings each time.
        for name in ["b", "c", "d"] { try handle.query("INSERT INTO items (name) VALUES (?1)", [.text(name)]) }
        #expect(handle.keptStatements == kept)
        #expect(try handle.query("SELECT count(*) AS n FROM items")[0].column("n") == .integer(4))
        // A statement that stopped midway (one row of several read) starts over next time.
        let first = try handle.query("SELECT name FROM items ORDER BY id LIMIT 1")
        let again = try handle.query("SELECT name FROM items ORDER BY id LIMIT 1")
        #expect(first[0].column("name") == again[0].column("name"))
        // Many different statements: the oldest are given up, the count stays bounded.
        for index in 0..<(SQLiteHandle.cachedStatements * 2) {
            _ = try handle.query("SELECT \(index) AS n")
        }
        #expect(handle.keptStatements == SQLiteHandle.cachedStatements)
        // A long statement is used once and not kept.
        let long = "SELECT 1 AS n" + String(repeating: " ", count: SQLiteHandle.cachedLength)
        let before = handle.keptStatements
        _ = try handle.query(long)
        _ = try handle.query("SELECT 'fresh' AS n")
        #expect(handle.keptStatements == before)
    }

    @Test func failuresCarrySQLitesCodeAndLeaveTheStatementUsable() throws {
        let handle = try open()
        defer { handle.close() }
        let insert = "INSERT INTO items (name) VALUES (?1)"
        try handle.query(insert, [.text("taken")])
        do {
            try handle.query(insert, [.text("taken")])
            Issue.record("a duplicate name was stored")
        } catch {
            #expect(error.isConstraint)
            #expect(error.isUniqueViolation)
            #expect(error.code == 2067)  // SQLITE_CONSTRAINT_UNIQUE
            #expect(error.message.contains("UNIQUE"))
        }
        // The kept statement failed, was reset and works again.
        try handle.query(insert, [.text("free")])
        do {
            try handle.query("INSERT INTO items (id, name) VALUES (NULL, NULL)")
            Issue.record("a NULL name was stored")
        } catch {
            #expect(error.isConstraint)
            #expect(!error.isUniqueViolation)
        }
        do {
            try handle.query("SELECT * FROM nowhere")
            Issue.record("a missing table was read")
        } catch {
            #expect(error.isPlainError)
            #expect(error.message.contains("no such table"))
        }
        handle.close()
        #expect(handle.isClosed)
        #expect(throws: SQLiteFailure.self) { try handle.query("SELECT 1") }
    }

    @Test func aWriteLockHeldElsewhereIsWaitedForThenReportedAsBusy() async throws {
        let handle = try open()
        defer { handle.close() }
        try handle.query("PRAGMA journal_mode = WAL")
        let other = try SQLiteHandle(path: directory.appendingPathComponent("h.sqlite").path)
        defer { other.close() }
        try other.query("BEGIN IMMEDIATE")
        // Released within the busy timeout: the second writer waits and gets through.
        Task.detached {
            try? await Task.sleep(for: .milliseconds(100))
            try? other.query("COMMIT")
        }
        let started = ContinuousClock.now
        try handle.query("INSERT INTO items (name) VALUES ('after the lock')")
        #expect(ContinuousClock.now - started >= .milliseconds(50))
    }

    @Test func processesOpeningOneNewFileTogetherAllGetIt() async throws {
        // `parley serve` and `parley mcp` started together on a fresh data directory: each
        // creates, switches to WAL and migrates the same new file at the same moment.
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for round in 0..<5 {
            let path = directory.appendingPathComponent("race-\(round).sqlite").path
            let versions = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        let database = try await SQLiteDatabase.openMigrated(
                            path: path, label: "race", migrations: SQLiteSchema.migrations, logger: Logger(label: "test"))
                        let version = try await database.recordedVersion()
                        try await database.close()
                        return version
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(versions == Array(repeating: SQLiteSchema.latestVersion, count: 6))
        }
    }
}
