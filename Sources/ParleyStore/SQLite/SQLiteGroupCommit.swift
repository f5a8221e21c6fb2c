import NIOPosix
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
///
/// A group runs as one job on the blocking pool, from BEGIN to COMMIT, its statements back to
/// back on the writer: no thread hop between them.
final class SQLiteGroupCommit: Sendable {
    /// A queued write: `perform` runs its statements (keeping its result), then exactly one of
    /// `acknowledge` (after the commit) or `fail` is called.
    private struct Write: Sendable {
        let isUnit: Bool
        let perform: @Sendable (SQLiteHandle) throws -> Void
        let acknowledge: @Sendable () -> Void
        let fail: @Sendable (any Error) -> Void
    }

    private struct State {
        var queued: [Write] = []
        var draining = false
    }

    /// At most this many writes share a transaction (bounds how long one commit holds the lock).
    static let maxGroup = 256

    private let connection: SQLiteHandle
    private let state = Mutex(State())

    init(connection: SQLiteHandle) {
        self.connection = connection
    }

    /// One statement.
    func run(_ sql: String, _ binds: [SQLiteValue]) async throws -> [SQLiteRow] {
        try await submit(isUnit: false) { connection in try connection.query(sql, binds) }
    }

    /// Several statements that commit together or not at all (a later one may use an earlier
    /// one's rows). `body` must only run statements on the connection it is given.
    func unit<Result: Sendable>(_ body: @escaping @Sendable (SQLiteHandle) throws -> Result) async throws -> Result {
        try await submit(isUnit: true, body)
    }

    private func submit<Result: Sendable>(
        isUnit: Bool, _ body: @escaping @Sendable (SQLiteHandle) throws -> Result
    ) async throws -> Result {
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Result, any Error>) in
            let outcome = Mutex<Result?>(nil)
            let write = Write(
                isUnit: isUnit,
                perform: { connection in
                    let result = try body(connection)
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
            if start { NIOThreadPool.singleton.submit { _ in self.drain() } }
        }
    }

    /// Commits the queued writes as one group; only one drain runs at a time. Blocks. The next
    /// group is a new job at the back of the pool's queue, so that reads waiting for a pool
    /// thread are not held up behind a stream of commits.
    private func drain() {
        let group = state.withLock { state -> [Write] in
            let group = Array(state.queued.prefix(Self.maxGroup))
            state.queued.removeFirst(group.count)
            return group
        }
        if group.count == 1, !group[0].isUnit {
            // A lone statement is its own transaction.
            let write = group[0]
            do {
                try write.perform(connection)
                write.acknowledge()
            } catch {
                write.fail(error)
            }
        } else if !group.isEmpty {
            commit(group)
        }
        let more = state.withLock { state in
            state.draining = !state.queued.isEmpty
            return state.draining
        }
        if more { NIOThreadPool.singleton.submit { _ in self.drain() } }
    }

    private func commit(_ group: [Write]) {
        func abandon(_ error: any Error) {
            _ = try? connection.query("ROLLBACK")
            for write in group { write.fail(error) }
        }
        do {
            try connection.query("BEGIN IMMEDIATE")
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
                    try runUnit(write)
                } else {
                    try write.perform(connection)
                }
            } catch {
                // The failure may have ended the transaction (disk full, I/O, busy), or left a
                // lone unit half done: give up the whole group rather than commit any of that.
                guard shared, Self.undoesStatementOnly(error) else { return abandon(error) }
                failures[index] = error
            }
        }
        do {
            try connection.query("COMMIT")
        } catch {
            // Nothing of this group is on disk: every write fails, none is acknowledged.
            return abandon(error)
        }
        for (index, write) in group.enumerated() {
            if let error = failures[index] { write.fail(error) } else { write.acknowledge() }
        }
    }

    /// A unit inside the group's transaction: a savepoint makes it all-or-nothing.
    private func runUnit(_ write: Write) throws {
        try connection.query("SAVEPOINT unit")
        do {
            try write.perform(connection)
        } catch {
            if Self.undoesStatementOnly(error) {
                try connection.query("ROLLBACK TO unit")
                try connection.query("RELEASE unit")
            }
            throw error
        }
        try connection.query("RELEASE unit")
    }

    /// Errors after which SQLite has undone the failing statement and kept the transaction:
    /// constraint violations (a trigger's RAISE(ABORT) among them) and plain SQL errors.
    static func undoesStatementOnly(_ error: any Error) -> Bool {
        guard let failure = error as? SQLiteFailure else { return false }
        return failure.isConstraint || failure.isPlainError
    }
}
