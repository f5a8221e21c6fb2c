import Synchronization
import VaporCSQLite

/// One connection to a SQLite file, on SQLite's C API, keeping its prepared statements.
///
/// Parsing and planning were about a quarter of the SQLite work of Parley's short statements,
/// and a turn runs the same few statements again and again: each is prepared once per
/// connection and reset after use. Calls are synchronous and block; they belong on the
/// blocking pool (`SQLiteDatabase` puts them there), never on an event loop. Calls from several
/// threads are serialized; a caller that needs several statements in a row without anyone else's
/// in between (a transaction) must be the connection's only user, as the group commit's writer is.
final class SQLiteHandle: Sendable {
    /// Prepared statements kept per connection, the least recently used given up first.
    static let cachedStatements = 64
    /// Longer statements (bulk inserts of an import, built once) are prepared for one use only.
    static let cachedLength = 4_096
    static let busyTimeoutMillis: Int32 = 5_000

    private let connection: Mutex<Connection>

    /// Opens (creating if needed) the file at `path`. Blocks.
    init(path: String) throws(SQLiteFailure) {
        var raw: OpaquePointer?
        // No mutex of its own: the handle's lock already lets one thread at a time in.
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let opened = sqlite_nio_sqlite3_open_v2(path, &raw, flags, nil)
        guard opened == SQLITE_OK, let raw else {
            let failure = SQLiteFailure(code: opened, message: raw.map(Connection.message) ?? "cannot open \(path)")
            sqlite_nio_sqlite3_close_v2(raw)
            throw failure
        }
        // Wait for another connection's write lock (up to the timeout) rather than fail at once.
        sqlite_nio_sqlite3_busy_timeout(raw, Self.busyTimeoutMillis)
        connection = Mutex(Connection(raw: raw))
    }

    deinit {
        connection.withLock { $0.close() }
    }

    /// Runs one statement and returns its rows. Blocks.
    @discardableResult
    func query(_ sql: String, _ binds: [SQLiteValue] = []) throws(SQLiteFailure) -> [SQLiteRow] {
        try connection.withLock { connection throws(SQLiteFailure) in try connection.query(sql, binds) }
    }

    /// The same, unless another thread is using the connection: then nil at once. Blocks.
    func queryIfFree(_ sql: String, _ binds: [SQLiteValue] = []) throws(SQLiteFailure) -> [SQLiteRow]? {
        try connection.withLockIfAvailable { connection throws(SQLiteFailure) in try connection.query(sql, binds) }
    }

    /// Finalizes every statement and closes the file; later calls fail. Blocks.
    func close() {
        connection.withLock { $0.close() }
    }

    var isClosed: Bool { connection.withLock { $0.raw == nil } }

    /// How many prepared statements are kept (for tests).
    var keptStatements: Int { connection.withLock { $0.statements.count } }
}

extension SQLiteHandle {
    /// The connection's state; only ever touched under the handle's lock.
    fileprivate struct Connection: ~Copyable {
        var raw: OpaquePointer?
        var statements: [String: Prepared] = [:]
        var uses: UInt64 = 0

        struct Prepared {
            let statement: OpaquePointer
            let columns: SQLiteColumns
            var lastUse: UInt64
        }

        init(raw: OpaquePointer) {
            self.raw = raw
        }

        static func message(_ raw: OpaquePointer) -> String {
            sqlite_nio_sqlite3_errmsg(raw).map { String(cString: $0) } ?? "unknown error"
        }

        func failure(_ code: Int32) -> SQLiteFailure {
            SQLiteFailure(code: code, message: raw.map(Self.message) ?? "the connection is closed")
        }

        mutating func query(_ sql: String, _ binds: [SQLiteValue]) throws(SQLiteFailure) -> [SQLiteRow] {
            let prepared: Prepared
            do { prepared = try prepare(sql) } catch { throw error.during(sql) }
            let statement = prepared.statement
            // A kept statement is reset (its bindings cleared) after every use, also a failed one.
            defer {
                sqlite_nio_sqlite3_reset(statement)
                sqlite_nio_sqlite3_clear_bindings(statement)
                if statements[sql] == nil { sqlite_nio_sqlite3_finalize(statement) }
            }
            for (offset, value) in binds.enumerated() {
                let code = Self.bind(value, at: Int32(offset + 1), to: statement)
                guard code == SQLITE_OK else { throw failure(code).during(sql) }
            }
            var rows: [SQLiteRow] = []
            while true {
                let code = sqlite_nio_sqlite3_step(statement)
                if code == SQLITE_DONE { return rows }
                guard code == SQLITE_ROW else { throw failure(code).during(sql) }
                rows.append(SQLiteRow(columns: prepared.columns, values: Self.values(of: statement, count: prepared.columns.names.count)))
            }
        }

        /// The kept statement for `sql`, or a new one (kept unless it is long).
        private mutating func prepare(_ sql: String) throws(SQLiteFailure) -> Prepared {
            guard let raw else { throw SQLiteFailure(code: SQLITE_MISUSE, message: "the connection is closed") }
            uses &+= 1
            if var kept = statements[sql] {
                kept.lastUse = uses
                statements[sql] = kept
                return kept
            }
            let keep = sql.utf8.count <= SQLiteHandle.cachedLength
            var statement: OpaquePointer?
            let code = sqlite_nio_sqlite3_prepare_v3(raw, sql, -1, keep ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0, &statement, nil)
            guard code == SQLITE_OK, let statement else {
                sqlite_nio_sqlite3_finalize(statement)
                throw failure(code == SQLITE_OK ? SQLITE_MISUSE : code)
            }
            let count = sqlite_nio_sqlite3_column_count(statement)
            let names = (0..<count).map { index in
                sqlite_nio_sqlite3_column_name(statement, index).map { String(cString: $0) } ?? ""
            }
            let prepared = Prepared(statement: statement, columns: SQLiteColumns(names: names), lastUse: uses)
            if keep {
                if statements.count >= SQLiteHandle.cachedStatements, let oldest = statements.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                    sqlite_nio_sqlite3_finalize(oldest.value.statement)
                    statements[oldest.key] = nil
                }
                statements[sql] = prepared
            }
            return prepared
        }

        private static func bind(_ value: SQLiteValue, at index: Int32, to statement: OpaquePointer) -> Int32 {
            switch value {
            case .integer(let value):
                return sqlite_nio_sqlite3_bind_int64(statement, index, sqlite3_int64(value))
            case .float(let value):
                return sqlite_nio_sqlite3_bind_double(statement, index, value)
            case .text(let value):
                var value = value
                return value.withUTF8 { bytes in
                    bytes.withMemoryRebound(to: CChar.self) { text in
                        guard let start = text.baseAddress else {
                            return sqlite_nio_sqlite3_bind_text64(statement, index, "", 0, SQLiteHandle.transient, UInt8(SQLITE_UTF8))
                        }
                        return sqlite_nio_sqlite3_bind_text64(statement, index, start, UInt64(text.count), SQLiteHandle.transient, UInt8(SQLITE_UTF8))
                    }
                }
            case .blob(let value):
                return value.withUnsafeBytes { bytes in
                    sqlite_nio_sqlite3_bind_blob64(statement, index, bytes.baseAddress, UInt64(bytes.count), SQLiteHandle.transient)
                }
            case .null:
                return sqlite_nio_sqlite3_bind_null(statement, index)
            }
        }

        private static func values(of statement: OpaquePointer, count: Int) -> [SQLiteValue] {
            (0..<Int32(count)).map { index in
                switch sqlite_nio_sqlite3_column_type(statement, index) {
                case SQLITE_INTEGER:
                    return .integer(Int(sqlite_nio_sqlite3_column_int64(statement, index)))
                case SQLITE_FLOAT:
                    return .float(sqlite_nio_sqlite3_column_double(statement, index))
                case SQLITE_TEXT:
                    // Text first, then its length: that order gives the UTF-8 bytes without a copy.
                    guard let text = sqlite_nio_sqlite3_column_text(statement, index) else { return .text("") }
                    let length = Int(sqlite_nio_sqlite3_column_bytes(statement, index))
                    return .text(String(decoding: UnsafeBufferPointer(start: text, count: length), as: UTF8.self))
                case SQLITE_BLOB:
                    let length = Int(sqlite_nio_sqlite3_column_bytes(statement, index))
                    guard let blob = sqlite_nio_sqlite3_column_blob(statement, index), length > 0 else { return .blob([]) }
                    return .blob(Array(UnsafeRawBufferPointer(start: blob, count: length)))
                default:
                    return .null
                }
            }
        }

        mutating func close() {
            guard let raw else { return }
            for prepared in statements.values { sqlite_nio_sqlite3_finalize(prepared.statement) }
            statements = [:]
            sqlite_nio_sqlite3_close_v2(raw)
            self.raw = nil
        }
    }

    /// SQLite copies a value bound with this destructor (SQLITE_TRANSIENT, which Swift does not import).
    fileprivate static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}
