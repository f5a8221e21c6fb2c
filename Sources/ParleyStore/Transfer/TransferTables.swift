import ParleyCore

/// The tables an installation is made of, column by column, as `parley export` writes them and
/// `parley import` reads them. Both backends have the same columns (their migrations are kept in
/// step), so a table moves between SQLite and PostgreSQL row for row: ids, task numbers, audit
/// sequences and hashes included.
public struct TransferTable: Sendable, Hashable {
    public enum ColumnType: Sendable, Hashable {
        case integer
        case text
    }

    public let name: String
    public let columns: [(name: String, type: ColumnType)]
    /// The key columns the rows are read in order of (stable pages; text compared bytewise on both backends).
    public let orderBy: [String]
    /// A column whose values a database generates (PostgreSQL identity, SQLite AUTOINCREMENT):
    /// imported as they are, and the generator moved past them afterwards.
    public let generated: String?

    public static func == (lhs: TransferTable, rhs: TransferTable) -> Bool { lhs.name == rhs.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }

    var columnList: String { columns.map(\.name).joined(separator: ", ") }

    /// `ORDER BY` of the key; `collation` is added to text columns (PostgreSQL's default collation
    /// may not be bytewise, SQLite's is).
    func order(collation: String = "") -> String {
        orderBy.map { name in
            let isText = columns.first { $0.name == name }?.type == .text
            return isText && !collation.isEmpty ? "\(name) COLLATE \(collation)" : name
        }.joined(separator: ", ")
    }

    /// A tenant's tables, parents before children (the order they are imported in).
    public static let tenant: [TransferTable] = [
        TransferTable(name: "users", columns: [("id", .text), ("last_task_number", .integer), ("created_at", .integer)], orderBy: ["id"], generated: nil),
        TransferTable(
            name: "tasks",
            columns: [
                ("user_id", .text), ("number", .integer), ("title", .text), ("description", .text), ("status", .text),
                ("created_at", .integer), ("updated_at", .integer), ("completed_at", .integer),
            ], orderBy: ["user_id", "number"], generated: nil),
        TransferTable(
            name: "conversations",
            columns: [("id", .integer), ("user_id", .text), ("title", .text), ("created_at", .integer), ("updated_at", .integer)],
            orderBy: ["id"], generated: "id"),
        TransferTable(
            name: "messages",
            columns: [
                ("id", .integer), ("conversation_id", .integer), ("user_id", .text), ("role", .text), ("content", .text),
                ("tool_calls", .text), ("model", .text), ("created_at", .integer), ("record", .text),
            ], orderBy: ["id"], generated: "id"),
        TransferTable(
            name: "feedback",
            columns: [
                ("id", .integer), ("message_id", .integer), ("user_id", .text), ("rating", .text), ("comment", .text),
                ("created_at", .integer),
            ], orderBy: ["id"], generated: "id"),
        auditLog, auditCheckpoint,
    ]

    /// The control store's tables (the PostgreSQL `tenants` table is not one: importing a tenant
    /// provisions it).
    public static let control: [TransferTable] = [
        TransferTable(
            name: "feature_flags",
            columns: [("scope", .text), ("name", .text), ("value", .text), ("updated_at", .integer), ("updated_by", .text)],
            orderBy: ["scope", "name"], generated: nil),
        TransferTable(
            name: "model_usage",
            columns: [
                ("tenant", .text), ("month", .text), ("user_id", .text), ("provider", .text), ("model", .text), ("completions", .integer),
                ("input_tokens", .integer), ("output_tokens", .integer),
            ], orderBy: ["tenant", "month", "user_id", "provider", "model"], generated: nil),
        auditLog, auditCheckpoint,
    ]

    static let auditLog = TransferTable(
        name: "audit_log",
        columns: [
            ("seq", .integer), ("time", .integer), ("tenant", .text), ("actor", .text), ("action", .text), ("object", .text),
            ("outcome", .text), ("ip", .text), ("request_id", .text), ("detail", .text), ("prev_hash", .text), ("hash", .text),
            ("event_id", .text), ("trace_id", .text),
        ], orderBy: ["seq"], generated: "seq")

    static let auditCheckpoint = TransferTable(
        name: "audit_checkpoint", columns: [("id", .integer), ("seq", .integer), ("hash", .text), ("purged", .integer), ("updated_at", .integer)],
        orderBy: ["id"], generated: nil)
}

/// One store's tables read and written as plain rows (values in the table's column order:
/// integers as JSON numbers, text as strings, NULL as null).
public protocol TransferAccess: Sendable {
    /// Rows `offset ..< offset + limit` in the table's key order.
    func rows(of table: TransferTable, offset: Int, limit: Int) async throws -> [[JSONValue]]
    /// Inserts rows as they are, generated columns included, in one transaction.
    func insert(_ rows: [[JSONValue]], into table: TransferTable) async throws
    /// The last value the table's generator handed out (ids of deleted rows included), 0 if none.
    func generatorPosition(of table: TransferTable) async throws -> Int
    /// After an import: each generator moved to where the source's was (`positions`, by table) or
    /// past the imported values, so no id of a deleted row is handed out again; and what inserting
    /// changed by itself put back (`conversations.updated_at`, which SQLite's message trigger touches).
    func finish(_ tables: [TransferTable], positions: [String: Int], conversationTimes: [Int: Int]) async throws
    /// Whether the table has any row (an import goes only into empty stores).
    func isEmpty(_ table: TransferTable) async throws -> Bool
}

/// A row whose value does not fit its column's type.
public struct TransferError: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
