import SQLiteNIO
import Synchronization

/// The writes of one SQLite file, committed in groups: while one commit waits for its fsync,
/// the writes that arrive queue up, and the next transaction takes them all (one fsync for the
/// lot instead of one each). A lone write runs as it is, in its own transaction.
///
/// A write is one statement, or a unit of several (`unit`), which runs inside a savepoint so it
/// stays all-or-nothing inside the group. Each write answers only after its transaction
/// commits: with its result, or with its own error when SQLite undid just that write (a
/// constraint), so the others in the group still commit. After any other failure, or if the
/// commit itself fails, the group is rolled back and every write of it fails: nothing is
/// acknowledged that is not on disk.
final class SQLiteGroupCommit: Sendable {
    /// A queued write: `perform` runs its statements (keeping its result), then exactly one of
    /// `acknowledge` (after the commit) or `fail` is called.
    private struct Write: Sendable {
        let isUnit: Bool
        let perform: @Sendable (SQLiteConnection) async throws -> Void
        let acknowledge: @Sendable () -> Void
        let fail: @Sendable (any Error) -> Void
    }

    private struct State {
        var queued: [Write] = []
        var draining = false
    }

    /// At most this many writes share a transaction (bounds how long one commit holds the lock).
    static let maxGroup = 256

    private let connection: SQLiteConnection
    private let state = Mutex(State())

    init(connection: SQLiteConnection) {
        self.connection = connection
    }

    /// One statement.
    func run(_ sql: String, _ binds: [SQLiteData]) async throws -> [SQLiteRow] {
        try await submit(isUnit: false) { connection in try await connection.query(sql, binds) }
    }

    /// Several statements that commit together or not at all (a later one may use an earlier
    /// one's rows). `body` must only run statements on the connection it is given.
    func unit<Result: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) async throws -> Result) async throws -> Result {
        try await submit(isUnit: true, body)
    }

    private func submit<Result: Sendable>(
        isUnit: Bool, _ body: @escaping @Sendable (SQLiteConnection) async throws -> Result
    ) async throws -> Result {
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Result, any Error>) in
            let outcome = Mutex<Result?>(nil)
            let write = Write(
                isUnit: isUnit,
                perform: { connection in
                    let result = try await body(connection)
                    outcome.withLock { $0 = result }
                },
                acknowledge: { done.resume(returning: outcome.withLock { $0! }) },
                fail: { done.resume(throwing: $0) })
            let start = state.withLock { state in
                state.queued.append(write)
                guard !state.draining else { return false }
                state.draining = true
                return true
            }
            if start { Task(executorPreference: SQLiteWriterExecutor.shared) { await self.drain() } }
        }
    }

    /// Commits groups until nothing is queued; only one drain runs at a time.
    private func drain() async {
        while true {
            let group = state.withLock { state -> [Write] in
                guard !state.queued.isEmpty else {
                    state.draining = false
                    return []
                }
                let group = Array(state.queued.prefix(Self.maxGroup))
                state.queued.removeFirst(group.count)
                return group
            }
            if group.isEmpty { return }
            if group.count == 1, !group[0].isUnit {
                // A lone statement is its own transaction.
                let write = group[0]
                do {
                    try await write.perform(connection)
                    write.acknowledge()
                } catch {
                    write.fail(error)
                }
            } else {
                await commit(group)
            }
        }
    }

    private func commit(_ group: [Write]) async {
        func abandon(_ error: any Error) async {
            _ = try? await connection.query("ROLLBACK", [])
            for write in group { write.fail(error) }
        }
        do {
            _ = try await connection.query("BEGIN IMMEDIATE", [])
        } catch {
            for write in group { write.fail(error) }
            return
        }
        // A unit needs a savepoint only when others share its transaction.
        let shared = group.count > 1
        var failures: [Int: any Error] = [:]
        for (index, write) in group.enumerated() {
            do {
                if write.isUnit && shared {
                    try await runUnit(write)
                } else {
                    try await write.perform(connection)
                }
            } catch {
                // The failure may have ended the transaction (disk full, I/O, busy), or left a
                // lone unit half done: give up the whole group rather than commit any of that.
                guard shared, Self.undoesStatementOnly(error) else { return await abandon(error) }
                failures[index] = error
            }
        }
        do {
            _ = try await connection.query("COMMIT", [])
        } catch {
            // Nothing of this group is on disk: every write fails, none is acknowledged.
            return await abandon(error)
        }
        for (index, write) in group.enumerated() {
            if let error = failures[index] { write.fail(error) } else { write.acknowledge() }
        }
    }

    /// A unit inside the group's transaction: a savepoint makes it all-or-nothing.
    private func runUnit(_ write: Write) async throws {
        _ = try await connection.query("SAVEPOINT unit", [])
        do {
            try await write.perform(connection)
        } catch {
            if Self.undoesStatementOnly(error) {
                _ = try await connection.query("ROLLBACK TO unit", [])
                _ = try await connection.query("RELEASE unit", [])
            }
            throw error
        }
        _ = try await connection.query("RELEASE unit", [])
    }

    /// Errors after which SQLite has undone the failing statement and kept the transaction:
    /// constraint violations (a trigger's RAISE(ABORT) among them) and plain SQL errors.
    static func undoesStatementOnly(_ error: any Error) -> Bool {
        guard let error = error as? SQLiteError else { return false }
        if case .error = error.reason { return true }
        return String(describing: error.reason).hasPrefix("constraint")
    }
}
