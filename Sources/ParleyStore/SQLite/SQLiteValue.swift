/// A value bound to a statement or read from a row. Parley's columns hold integers (ids, times
/// in milliseconds, counters), text and NULL; reals and blobs are read for completeness.
enum SQLiteValue: Equatable, Sendable {
    case integer(Int)
    case float(Double)
    case text(String)
    case blob([UInt8])
    case null

    var integer: Int? {
        if case .integer(let value) = self { return value }
        return nil
    }

    var string: String? {
        if case .text(let value) = self { return value }
        return nil
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

/// One row of a result: its values by position, looked up by column name.
struct SQLiteRow: Sendable {
    let columns: SQLiteColumns
    let values: [SQLiteValue]

    func column(_ name: String) -> SQLiteValue? {
        columns.index[name].map { values[$0] }
    }
}

/// A statement's column names, worked out once when it is prepared and shared by its rows.
final class SQLiteColumns: Sendable {
    let names: [String]
    let index: [String: Int]

    init(names: [String]) {
        self.names = names
        // The first of two equal names wins, as in SQL's own `SELECT a.x, b.x`.
        self.index = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }
}

/// An error SQLite returned: its extended result code and message.
struct SQLiteFailure: Error, CustomStringConvertible, Sendable {
    /// The extended result code (`SQLITE_CONSTRAINT_UNIQUE` is 2067; `code & 0xFF` is the primary).
    let code: Int32
    let message: String
    /// The statement's text (never its bound values), for logs.
    var statement: String?

    var primaryCode: Int32 { code & 0xFF }
    /// A constraint failed (UNIQUE, NOT NULL, CHECK, FOREIGN KEY, a trigger's RAISE(ABORT)).
    var isConstraint: Bool { primaryCode == 19 }
    /// A UNIQUE or PRIMARY KEY constraint failed (another row holds the value).
    var isUniqueViolation: Bool { code == 2067 || code == 1555 }
    /// `SQLITE_ERROR`: a plain SQL error (no such table, a syntax error).
    var isPlainError: Bool { primaryCode == 1 }
    /// `SQLITE_BUSY`: another connection holds the lock past the busy timeout.
    var isBusy: Bool { primaryCode == 5 }

    var description: String {
        "sqlite error \(code): \(message)" + (statement.map { " (in \($0.prefix(120)))" } ?? "")
    }

    func during(_ sql: String) -> SQLiteFailure {
        var failure = self
        failure.statement = sql
        return failure
    }
}
