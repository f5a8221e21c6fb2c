import Foundation
import ParleyCore
import PostgresNIO

/// A PostgreSQL schema's tables as plain rows.
struct PostgresTransferAccess: TransferAccess {
    let database: PostgresDatabase
    let schema: QuotedSchema
    private var t: String { schema.qualifier }

    func rows(of table: TransferTable, offset: Int, limit: Int) async throws -> [[JSONValue]] {
        let rows = try await database.run(
            PostgresQuery(
                unsafeSQL: "SELECT \(table.columnList) FROM \(t)\(table.name) ORDER BY \(table.order(collation: "\"C\"")) LIMIT \(limit) OFFSET \(offset)"))
        return try rows.map { row in
            let cells = row.makeRandomAccess()
            return try table.columns.enumerated().map { index, column in
                switch column.type {
                case .integer: return try cells[index].decode(Int?.self).map { .number(Double($0)) } ?? .null
                case .text: return try cells[index].decode(String?.self).map(JSONValue.string) ?? .null
                }
            }
        }
    }

    func insert(_ rows: [[JSONValue]], into table: TransferTable) async throws {
        guard !rows.isEmpty else { return }
        // Under PostgreSQL's 65,535 bound parameters per statement.
        let perStatement = max(1, 30_000 / table.columns.count)
        let overriding = table.generated == nil ? "" : "OVERRIDING SYSTEM VALUE"
        var statements: [PostgresQuery] = []
        for start in stride(from: 0, to: rows.count, by: perStatement) {
            var binds = PostgresBindings()
            var tuples: [String] = []
            var count = 0
            for row in rows[start..<min(start + perStatement, rows.count)] {
                var placeholders: [String] = []
                for (value, column) in zip(row, table.columns) {
                    switch (value, column.type) {
                    case (.null, _): binds.appendNull()
                    case (.number(let number), .integer):
                        guard let integer = Int(exactly: number) else { throw TransferError("\(table.name).\(column.name): \(number) is not an integer") }
                        binds.append(integer)
                    case (.string(let text), .text): binds.append(text)
                    default: throw TransferError("\(table.name).\(column.name): \(value) is not of the column's type")
                    }
                    count += 1
                    placeholders.append("$\(count)")
                }
                tuples.append("(" + placeholders.joined(separator: ", ") + ")")
            }
            statements.append(
                PostgresQuery(
                    unsafeSQL: "INSERT INTO \(t)\(table.name) (\(table.columnList)) \(overriding) VALUES \(tuples.joined(separator: ", "))",
                    binds: binds))
        }
        try await database.transaction { [statements] connection, logger in
            for statement in statements { try await connection.query(statement, logger: logger) }
            return ()
        }
    }

    /// The identity sequence of a generated column.
    private func sequence(_ table: TransferTable, _ column: String) -> String {
        "pg_get_serial_sequence('\(t)\(table.name)', '\(column)')"
    }

    func generatorPosition(of table: TransferTable) async throws -> Int {
        guard let column = table.generated else { return 0 }
        let rows = try await database.run(
            PostgresQuery(unsafeSQL: "SELECT COALESCE(pg_sequence_last_value(\(sequence(table, column))::regclass), 0)::bigint"))
        return try rows.first?.decode(Int.self) ?? 0
    }

    func finish(_ tables: [TransferTable], positions: [String: Int], conversationTimes: [Int: Int]) async throws {
        // The next generated value comes after the source's last one and every imported one.
        try await database.transaction { connection, logger in
            for table in tables {
                guard let column = table.generated else { continue }
                let position = positions[table.name] ?? 0
                try await connection.query(
                    PostgresQuery(
                        unsafeSQL: """
                            SELECT setval(\(sequence(table, column)), GREATEST(COALESCE(MAX(\(column)), 0), \(position), 1),
                                          GREATEST(COALESCE(MAX(\(column)), 0), \(position)) > 0)
                            FROM \(t)\(table.name)
                            """), logger: logger)
            }
            return ()
        }
    }

    func isEmpty(_ table: TransferTable) async throws -> Bool {
        try await database.run(PostgresQuery(unsafeSQL: "SELECT 1 FROM \(t)\(table.name) LIMIT 1")).isEmpty
    }
}
