import SQLiteNIO
import Synchronization

/// The writes of one SQLite file, committed in groups: while one commit waits for its fsync,
/// the writes that arrive queue up, and the next transaction takes them all (one fsync for the
/// lot instead of one each). A lone write runs as it is, in its own implicit transaction.
///
/// Each write is one statement, and answers only after its transaction commits: on success
/// with its rows, or with its own error when SQLite undid just that statement (a constraint),
/// so the others in the group still commit. After any other failure, or if the commit itself
/// fails, the group is rolled back and every write of it fails: none is acknowledged.
final class SQLiteGroupCommit: Sendable {
    private struct Write {
        let sql: String
        let binds: [SQLiteData]
        let done: CheckedContinuation<[SQLiteRow], any Error>
    }

    private struct State {
        var queued: [Write] = []
        var draining = false
    }

    /// At most this many statements share a transaction (bounds how long one commit holds the lock).
    static let maxGroup = 256

    private let connection: SQLiteConnection
    private let state = Mutex(State())

    init(connection: SQLiteConnection) {
        self.connection = connection
    }

    func run(_ sql: String, _ binds: [SQLiteData]) async throws -> [SQLiteRow] {
        try await withCheckedThrowingContinuation { done in
            let start = state.withLock { state in
                state.queued.append(Write(sql: sql, binds: binds, done: done))
                guard !state.draining else { return false }
                state.draining = true
                return true
            }
            if start { Task { await drain() } }
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
            if group.count == 1 {
                let write = group[0]
                do {
                    write.done.resume(returning: try await connection.query(write.sql, write.binds))
                } catch {
                    write.done.resume(throwing: error)
                }
            } else {
                await commit(group)
            }
        }
    }

    private func commit(_ group: [Write]) async {
        var results: [Result<[SQLiteRow], any Error>] = []
        results.reserveCapacity(group.count)
        do {
            _ = try await connection.query("BEGIN IMMEDIATE", [])
        } catch {
            for write in group { write.done.resume(throwing: error) }
            return
        }
        for write in group {
            do {
                results.append(.success(try await connection.query(write.sql, write.binds)))
            } catch {
                guard Self.undoesStatementOnly(error) else {
                    // The failure may have ended the transaction (disk full, I/O, busy): give up
                    // the whole group rather than let the rest run outside a transaction.
                    _ = try? await connection.query("ROLLBACK", [])
                    for write in group { write.done.resume(throwing: error) }
                    return
                }
                results.append(.failure(error))
            }
        }
        do {
            _ = try await connection.query("COMMIT", [])
        } catch {
            // Nothing of this group is on disk: every write fails, none is acknowledged.
            _ = try? await connection.query("ROLLBACK", [])
            for write in group { write.done.resume(throwing: error) }
            return
        }
        for (write, result) in zip(group, results) { write.done.resume(with: result) }
    }

    /// Errors after which SQLite has undone the failing statement and kept the transaction:
    /// constraint violations (a trigger's RAISE(ABORT) among them) and plain SQL errors.
    static func undoesStatementOnly(_ error: any Error) -> Bool {
        guard let error = error as? SQLiteError else { return false }
        if case .error = error.reason { return true }
        return String(describing: error.reason).hasPrefix("constraint")
    }
}
