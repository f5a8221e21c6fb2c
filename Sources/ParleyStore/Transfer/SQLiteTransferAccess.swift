import Foundation
import ParleyCore

/// A SQLite file's tables as plain rows.
struct SQLiteTransferAccess: TransferAccess {
    let database: SQLiteDatabase

    func rows(of table: TransferTable, offset: Int, limit: Int) async throws -> [[JSONValue]] {
        let rows = try await database.query(
            "SELECT \(table.columnList) FROM \(table.name) ORDER BY \(table.order()) LIMIT ?1 OFFSET ?2", [.integer(limit), .integer(offset)])
        return try rows.map { row in
            try table.columns.map { column in
                guard let data = row.column(column.name), !data.isNull else { return .null }
                switch column.type {
                case .integer:
                    guard let value = data.integer else { throw TransferError("\(table.name).\(column.name) holds a non-integer") }
                    return .number(Double(value))
                case .text:
                    guard let value = data.string else { throw TransferError("\(table.name).\(column.name) holds a non-text value") }
                    return .string(value)
                }
            }
        }
    }

    func insert(_ rows: [[JSONValue]], into table: TransferTable) async throws {
        guard !rows.isEmpty else { return }
        // Under SQLite's limit of bound parameters per statement.
        let perStatement = max(1, 30_000 / table.columns.count)
        try await database.transaction { connection in
            for start in stride(from: 0, to: rows.count, by: perStatement) {
                let slice = rows[start..<min(start + perStatement, rows.count)]
                var binds: [SQLiteValue] = []
                var tuples: [String] = []
                for row in slice {
                    var placeholders: [String] = []
                    for (value, column) in zip(row, table.columns) {
                        binds.append(try Self.data(value, column: column, table: table))
                        placeholders.append("?\(binds.count)")
                    }
                    tuples.append("(" + placeholders.joined(separator: ", ") + ")")
                }
                _ = try connection.query(
                    "INSERT INTO \(table.name) (\(table.columnList)) VALUES \(tuples.joined(separator: ", "))", binds)
            }
        }
    }

    static func data(_ value: JSONValue, column: (name: String, type: TransferTable.ColumnType), table: TransferTable) throws -> SQLiteValue {
        switch (value, column.type) {
        case (.null, _): return .null
        case (.number(let number), .integer):
            guard let integer = Int(exactly: number) else { throw TransferError("\(table.name).\(column.name): \(number) is not an integer") }
            return .integer(integer)
        case (.string(let text), .text): return .text(text)
        default: throw TransferError("\(table.name).\(column.name): \(value) is not of the column's type")
        }
    }

    func generatorPosition(of table: TransferTable) async throws -> Int {
        guard table.generated != nil else { return 0 }
        return try await database.query("SELECT seq FROM sqlite_sequence WHERE name = ?1", [.text(table.name)]).first?.int("seq") ?? 0
    }

    func finish(_ tables: [TransferTable], positions: [String: Int], conversationTimes: [Int: Int]) async throws {
        try await database.transaction { connection in
            // AUTOINCREMENT moved past the ids inserted; the source's counter may be further on
            // (its newest rows were deleted).
            for table in tables where table.generated != nil {
                let position = positions[table.name] ?? 0
                guard position > 0 else { continue }
                let updated = try connection.query(
                    "UPDATE sqlite_sequence SET seq = MAX(seq, ?1) WHERE name = ?2 RETURNING seq", [.integer(position), .text(table.name)])
                if updated.isEmpty {
                    _ = try connection.query(
                        "INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)", [.text(table.name), .integer(position)])
                }
            }
            // The message trigger moved `updated_at` to each conversation's last message, which a
            // rename may have passed.
            for (id, time) in conversationTimes {
                _ = try connection.query("UPDATE conversations SET updated_at = ?1 WHERE id = ?2", [.integer(time), .integer(id)])
            }
        }
    }

    func isEmpty(_ table: TransferTable) async throws -> Bool {
        try await database.query("SELECT 1 AS one FROM \(table.name) LIMIT 1").isEmpty
    }
}
