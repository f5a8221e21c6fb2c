import Crypto
import Foundation
import ParleyCore

/// An audit log table in a SQLite database (a tenant's, or the control database's system log).
///
/// Within a process the audit worker is the one writer, reading the last hash and inserting the
/// chained batch in one statement. A unique index on `prev_hash` keeps the chain linear when
/// another process appends in between: the losing batch is refused and chained again.
struct SQLiteAuditLog: AuditLogRepository {
    let database: SQLiteDatabase

    private static let columns = "seq, time, tenant, actor, action, object, outcome, ip, request_id, detail, prev_hash, hash, event_id, trace_id"

    func append(_ events: [AuditEvent]) async throws -> [AuditRecord] {
        for attempt in 1... {
            do {
                return try await appendOnce(events)
            } catch let failure as SQLiteFailure where failure.isUniqueViolation && attempt < 100 {
                // Another writer took this place in the chain: chain again, after a moment so
                // two busy writers do not keep colliding.
                try await Task.sleep(for: .microseconds(Int.random(in: 100...2_000)))
            }
        }
        return []
    }

    private func appendOnce(_ events: [AuditEvent]) async throws -> [AuditRecord] {
        let events = try await unstored(events)
        guard !events.isEmpty else { return [] }
        let last = try await database.query("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        var previous = last.first?.column("hash")?.string ?? AuditRecord.genesisHash
        var binds: [SQLiteValue] = []
        var rows: [String] = []
        var hashes: [(previous: String, hash: String)] = []
        for event in events {
            let hash = AuditChain.hash(previous: previous, event: event)
            hashes.append((previous, hash))
            rows.append("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            binds += [
                .integer(Clock.millis(event.time)), Self.text(event.tenant?.rawValue), .text(event.actor), .text(event.action),
                Self.text(event.object), .text(event.outcome.rawValue), Self.text(event.ip), Self.text(event.requestID),
                Self.text(event.detail), .text(previous), .text(hash), Self.text(event.id), Self.text(event.traceID),
            ]
            previous = hash
        }
        let inserted = try await database.query(
            """
            INSERT INTO audit_log (time, tenant, actor, action, object, outcome, ip, request_id, detail, prev_hash, hash, event_id, trace_id)
            VALUES \(rows.joined(separator: ", ")) RETURNING seq
            """, binds)
        return try zip(zip(events, hashes), inserted).map { pair, row in
            AuditRecord(sequence: try row.int("seq"), event: pair.0, previousHash: pair.1.previous, hash: pair.1.hash)
        }
    }

    /// The events whose id is not stored yet (a redelivered event is stored once).
    private func unstored(_ events: [AuditEvent]) async throws -> [AuditEvent] {
        let ids = events.compactMap(\.id)
        guard !ids.isEmpty else { return events }
        let placeholders = ids.indices.map { "?\($0 + 1)" }.joined(separator: ", ")
        let stored = Set(
            try await database.query("SELECT event_id FROM audit_log WHERE event_id IN (\(placeholders))", ids.map(SQLiteValue.text))
                .compactMap { $0.column("event_id")?.string })
        var seen = stored
        return events.filter { event in
            guard let id = event.id else { return true }
            return seen.insert(id).inserted
        }
    }

    func query(_ filter: AuditFilter) async throws -> [AuditRecord] {
        var conditions: [String] = []
        var binds: [SQLiteValue] = []
        func add(_ condition: String, _ value: SQLiteValue) {
            binds.append(value)
            conditions.append(condition.replacingOccurrences(of: "?", with: "?\(binds.count)"))
        }
        if let action = filter.action {
            // `task` matches every task action; `task.update` only that one.
            if action.contains(".") {
                add("action = ?", .text(action))
            } else {
                add(#"action LIKE ? ESCAPE '\'"#, .text(AuditFilter.likePrefix(action)))
            }
        }
        if let actor = filter.actor { add("actor = ?", .text(actor)) }
        if let outcome = filter.outcome { add("outcome = ?", .text(outcome.rawValue)) }
        if let since = filter.since { add("time >= ?", .integer(Clock.millis(since))) }
        if let until = filter.until { add("time < ?", .integer(Clock.millis(until))) }
        if let before = filter.before { add("seq < ?", .integer(before)) }
        if !filter.requestIDs.isEmpty {
            let first = binds.count + 1
            binds += filter.requestIDs.map(SQLiteValue.text)
            conditions.append("request_id IN (" + (first..<first + filter.requestIDs.count).map { "?\($0)" }.joined(separator: ", ") + ")")
        }
        binds.append(.integer(filter.limit))
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let rows = try await database.query(
            "SELECT \(Self.columns) FROM audit_log \(whereClause) ORDER BY seq DESC LIMIT ?\(binds.count)", binds)
        return try rows.map(Self.record)
    }

    func verifyChain() async throws -> AuditChainReport {
        try await AuditChain.verify(from: try await checkpoint()) { after in
            try await database.query(
                "SELECT \(Self.columns) FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT 1000", [.integer(after)]
            ).map(Self.record)
        }
    }

    func checkpoint() async throws -> AuditCheckpoint? {
        try await database.query("SELECT seq, hash, purged FROM audit_checkpoint WHERE id = 1").first.map { row in
            AuditCheckpoint(sequence: try row.int("seq"), hash: try row.string("hash"), purged: try row.int("purged"))
        }
    }

    func purge(before cutoff: Date, dryRun: Bool) async throws -> AuditPurgeReport {
        // Everything before the first event at or after the cutoff (the newest event stays).
        let bound = try await database.query(
            "SELECT COALESCE((SELECT MIN(seq) FROM audit_log WHERE time >= ?1), (SELECT MAX(seq) FROM audit_log), 0) AS stop",
            [.integer(Clock.millis(cutoff))])
        let stop = try bound.first?.int("stop") ?? 0
        if dryRun {
            let count = try await database.query("SELECT COUNT(*) AS n FROM audit_log WHERE seq < ?1", [.integer(stop)])
            return AuditPurgeReport(purged: try count.first?.int("n") ?? 0, checkpoint: try await checkpoint())
        }
        var report = AuditPurgeReport(checkpoint: try await checkpoint())
        while true {
            let batch: (Int, AuditCheckpoint)? = try await database.transaction { connection in
                let rows = try connection.query(
                    "SELECT seq, hash FROM audit_log WHERE seq < ?1 ORDER BY seq LIMIT ?2", [.integer(stop), .integer(Self.purgeBatch)])
                guard let last = rows.last else { return nil }
                let lastSequence = try last.int("seq")
                _ = try connection.query("DELETE FROM audit_log WHERE seq <= ?1", [.integer(lastSequence)])
                let saved = try connection.query(
                    """
                    INSERT INTO audit_checkpoint (id, seq, hash, purged, updated_at) VALUES (1, ?1, ?2, ?3, ?4)
                    ON CONFLICT (id) DO UPDATE SET
                        seq = excluded.seq, hash = excluded.hash, purged = audit_checkpoint.purged + excluded.purged,
                        updated_at = excluded.updated_at
                    RETURNING seq, hash, purged
                    """,
                    [.integer(lastSequence), .text(try last.string("hash")), .integer(rows.count), .integer(Clock.nowMillis())])
                guard let row = saved.first else { throw StoreError.corrupt(column: "audit_checkpoint") }
                return (
                    rows.count, AuditCheckpoint(sequence: try row.int("seq"), hash: try row.string("hash"), purged: try row.int("purged"))
                )
            }
            guard let (count, checkpoint) = batch else { return report }
            report.purged += count
            report.checkpoint = checkpoint
        }
    }

    /// Events deleted per transaction: the writer is held only briefly.
    static let purgeBatch = 2_000

    static func text(_ value: String?) -> SQLiteValue { value.map(SQLiteValue.text) ?? .null }

    static func record(_ row: SQLiteRow) throws -> AuditRecord {
        guard let outcome = AuditEvent.Outcome(rawValue: try row.string("outcome")) else {
            throw StoreError.corrupt(column: "outcome")
        }
        let event = AuditEvent(
            time: try row.date("time"), tenant: row.optionalString("tenant").flatMap(TenantID.init),
            actor: try row.string("actor"), action: try row.string("action"), object: row.optionalString("object"),
            outcome: outcome, ip: row.optionalString("ip"), requestID: row.optionalString("request_id"),
            detail: row.optionalString("detail"), id: row.optionalString("event_id"), traceID: row.optionalString("trace_id"))
        return AuditRecord(
            sequence: try row.int("seq"), event: event, previousHash: try row.string("prev_hash"), hash: try row.string("hash"))
    }
}
