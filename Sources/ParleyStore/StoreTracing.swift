import ParleyCore
import Tracing

/// Spans of store calls, `{operation} {table}` (`INSERT messages`, `SELECT tasks`), with the
/// database system, the operation, the table and the tenant (`db.namespace`); never the SQL's
/// values. Only inside a traced request: with tracing off, or in background work, nothing is made.
enum StoreTracing {
    static func span<Result>(
        system: String, namespace: @autoclosure () -> String, sql: String?, _ body: () async throws -> Result
    ) async throws -> Result {
        guard InstrumentationContext.current != nil else { return try await body() }
        let namespace = namespace()
        let (operation, table) = sql.map(summary) ?? ("TRANSACTION", nil)
        return try await withSpan(table.map { "\(operation) \($0)" } ?? operation, ofKind: .client) { span in
            span.attributes[Telemetry.dbSystem] = system
            span.attributes[Telemetry.dbSystemName] = system
            span.attributes[Telemetry.dbOperation] = operation
            span.attributes[Telemetry.dbCollection] = table
            span.attributes[Telemetry.dbNamespace] = namespace
            return try await body()
        }
    }

    /// The statement's verb and the table it works on: the first word, and the name after the
    /// first FROM, INTO or UPDATE (without schema and quotes).
    static func summary(_ sql: String) -> (String, String?) {
        let words = sql.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "(" }).prefix(40)
        let operation = words.first.map { $0.uppercased() } ?? "SQL"
        for (index, word) in words.enumerated() where ["FROM", "INTO", "UPDATE"].contains(word.uppercased()) {
            guard index + 1 < words.count else { break }
            let name = words[index + 1].split(separator: ".").last.map { $0.filter { $0 != "\"" } } ?? ""
            if !name.isEmpty, name.first != "$", name.first != "?" { return (operation, String(name)) }
        }
        return (operation, nil)
    }
}
