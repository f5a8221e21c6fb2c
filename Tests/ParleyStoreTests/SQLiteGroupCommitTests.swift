import Foundation
import Logging
import Testing

@testable import ParleyStore

/// The writes of one SQLite file share commits; each still gets its own answer, and only what
/// is on disk is acknowledged.
@Suite("SQLite group commit")
struct SQLiteGroupCommitTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-group-\(UUID().uuidString)")

    private func openDatabase() async throws -> SQLiteDatabase {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let database = try await SQLiteDatabase.open(
            path: directory.appendingPathComponent("g.sqlite").path, migrations: [], logger: Logger(label: "test"))
        try await database.query("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
        return database
    }

    @Test func concurrentWritesShareCommitsAndAConstraintFailsOnlyItsOwnWrite() async throws {
        let database = try await openDatabase()
        // 200 inserts at once, 20 of which repeat a name: exactly those fail, the rest commit.
        let names = (0..<180).map { "item \($0)" } + (0..<20).map { "item \($0 * 3)" }
        let outcomes = await withTaskGroup(of: (String, Bool).self) { group in
            for (index, name) in names.enumerated() {
                group.addTask {
                    // The repeats start a little later, so the first insert of each name wins.
                    if index >= 180 { try? await Task.sleep(for: .milliseconds(200)) }
                    do {
                        let rows = try await database.query("INSERT INTO items (name) VALUES (?1) RETURNING id", [.text(name)])
                        return (name, rows.count == 1)
                    } catch {
                        return (name, false)
                    }
                }
            }
            var outcomes: [(String, Bool)] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        #expect(outcomes.filter { $0.1 }.count == 180)
        #expect(outcomes.filter { !$0.1 }.count == 20)
        let stored = try await database.query("SELECT COUNT(*) AS n FROM items")
        #expect(stored.first?.column("n")?.integer == 180)
        try await database.close()
    }

    @Test func aWriteIsReadableOnceItIsAnswered() async throws {
        let database = try await openDatabase()
        for index in 0..<50 {
            try await database.query("INSERT INTO items (name) VALUES (?1)", [.text("n\(index)")])
            // The reader connection sees every write that was acknowledged.
            let rows = try await database.query("SELECT COUNT(*) AS n FROM items")
            #expect(rows.first?.column("n")?.integer == index + 1)
        }
        try await database.close()
    }

    @Test func aUnitCommitsAllOfItsStatementsOrNone() async throws {
        let database = try await openDatabase()
        try await database.query("INSERT INTO items (name) VALUES ('taken')")
        // 100 units of two inserts each, at once; every tenth unit's second insert collides.
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<100 {
                group.addTask {
                    do {
                        try await database.transaction { connection in
                            _ = try connection.query("INSERT INTO items (name) VALUES (?1)", [.text("first \(index)")])
                            let second = index % 10 == 0 ? "taken" : "second \(index)"
                            _ = try connection.query("INSERT INTO items (name) VALUES (?1)", [.text(second)])
                        }
                        return true
                    } catch {
                        return false
                    }
                }
            }
            var outcomes: [Bool] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        #expect(outcomes.filter { $0 }.count == 90)
        // A failed unit left nothing behind: not even its first row.
        let firsts = try await database.query("SELECT name FROM items WHERE name LIKE 'first %'")
        #expect(firsts.count == 90)
        let zero = try await database.query("SELECT name FROM items WHERE name = 'first 0'")
        #expect(zero.isEmpty)
        let all = try await database.query("SELECT COUNT(*) AS n FROM items")
        #expect(all.first?.column("n")?.integer == 181)
        try await database.close()
    }

    @Test func onlySelectsGoToTheReader() {
        #expect(SQLiteDatabase.isRead("SELECT 1"))
        #expect(SQLiteDatabase.isRead("\n   select id FROM tasks"))
        #expect(!SQLiteDatabase.isRead("INSERT INTO items (name) VALUES ('x')"))
        #expect(!SQLiteDatabase.isRead("WITH x AS (SELECT 1) DELETE FROM items"))
        #expect(!SQLiteDatabase.isRead("SELEC"))
        #expect(!SQLiteDatabase.isRead("UPDATE items SET name = 'SELECT'"))
    }
}
