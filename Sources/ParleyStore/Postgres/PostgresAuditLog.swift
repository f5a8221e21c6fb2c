import Foundation
import ParleyCore
import PostgresNIO

/// An audit log table in PostgreSQL: a tenant's, or the system log in the shared schema.
///
/// Appends from every process and replica take a transaction-scoped advisory lock on the log,
/// so each reads the hash its predecessor committed and the chain stays linear; the unique
/// index on `prev_hash` is the backstop that refuses a fork if anything slips past the lock.
struct PostgresAuditLog: AuditLogRepository {
    let database: PostgresDatabase
    let schema: QuotedSchema
    /// Names the log in the advisory lock: the tenant id, or `*` for the system log.
    let lockKey: String
    /// Where the table is: `"tenant_acme".`, before its name in every statement.
    private var t: String { schema.qualifier }

    private static let columns = "seq, time, tenant, actor, action, object, outcome, ip, request_id, detail, prev_hash, hash, event_id, trace_id"

    func append(_ events: [AuditEvent]) async throws -> [AuditRecord] {
        guard !events.isEmpty else { return [] }
        let lockKey = "parley.audit." + self.lockKey
        return try await database.transaction { connection, logger in
            try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(lockKey)))", logger: logger)
            // After the lock (a statement of its own, so this one's snapshot sees what the writer
            // before us committed): the chain's last hash, and which of these events another
            // writer already stored (a redelivery), to skip them.
            let ids = events.compactMap(\.id)
            let state = try await connection.query(
                """
                SELECT (SELECT hash FROM \(unescaped: t)audit_log ORDER BY seq DESC LIMIT 1),
                    ARRAY(SELECT event_id FROM \(unescaped: t)audit_log WHERE event_id = ANY(\(ids)))
                """, logger: logger
            ).collect()
            let (last, stored) = try state.first?.decode((String?, [String]).self) ?? (nil, [])
            var seen = Set(stored)
            let events = events.filter { event in event.id.map { seen.insert($0).inserted } ?? true }
            guard !events.isEmpty else { return [] }
            var previous = last ?? AuditRecord.genesisHash
            var binds = PostgresBindings()
            var tuples: [String] = []
            var chained: [(event: AuditEvent, previous: String, hash: String)] = []
            for event in events {
                let hash = AuditChain.hash(previous: previous, event: event)
                chained.append((event, previous, hash))
                let base = binds.count
                binds.append(Clock.millis(event.time))
                binds.append(event.tenant?.rawValue)
                binds.append(event.actor)
                binds.append(event.action)
                binds.append(event.object)
                binds.append(event.outcome.rawValue)
                binds.append(event.ip)
                binds.append(event.requestID)
                binds.append(event.detail)
                binds.append(previous)
                binds.append(hash)
                binds.append(event.id)
                binds.append(event.traceID)
                tuples.append("(" + (1...13).map { "$\(base + $0)" }.joined(separator: ", ") + ")")
                previous = hash
            }
            let inserted = try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO \(t)audit_log (time, tenant, actor, action, object, outcome, ip, request_id, detail, prev_hash, hash, event_id, trace_id)
                        VALUES \(tuples.joined(separator: ", ")) RETURNING seq, hash
                        """,
                    binds: binds),
                logger: logger
            ).collect()
            // Rows come back matched by hash, not by position.
            var sequences: [String: Int] = [:]
            for row in inserted {
                let (sequence, hash) = try row.decode((Int, String).self)
                sequences[hash] = sequence
            }
            return try chained.map { item in
                guard let sequence = sequences[item.hash] else { throw StoreError.corrupt(column: "audit_log.seq") }
                return AuditRecord(sequence: sequence, event: item.event, previousHash: item.previous, hash: item.hash)
            }
        }
    }

    func query(_ filter: AuditFilter) async throws -> [AuditRecord] {
        var conditions: [String] = []
        var binds = PostgresBindings()
        func add(_ condition: String, _ value: String) {
            binds.append(value)
            conditions.append(condition.replacingOccurrences(of: "?", with: "$\(binds.count)"))
        }
        func add(_ condition: String, _ value: Int) {
            binds.append(value)
            conditions.append(condition.replacingOccurrences(of: "?", with: "$\(binds.count)"))
        }
        if let action = filter.action {
            // `task` matches every task action; `task.update` only that one. The API lets only
            // action names through, and their `_` is escaped: LIKE matches the prefix literally.
            if action.contains(".") { add("action = ?", action) } else { add(#"action LIKE ? ESCAPE '\'"#, AuditFilter.likePrefix(action)) }
        }
        if let actor = filter.actor { add("actor = ?", actor) }
        if let outcome = filter.outcome { add("outcome = ?", outcome.rawValue) }
        if let since = filter.since { add("time >= ?", Clock.millis(since)) }
        if let until = filter.until { add("time < ?", Clock.millis(until)) }
        if let before = filter.before { add("seq < ?", before) }
        if !filter.requestIDs.isEmpty {
            binds.append(filter.requestIDs)
            conditions.append("request_id = ANY($\(binds.count))")
        }
        binds.append(filter.limit)
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let query = PostgresQuery(
            unsafeSQL: "SELECT \(Self.columns) FROM \(t)audit_log \(whereClause) ORDER BY seq DESC LIMIT $\(binds.count)", binds: binds)
        return try await database.run(query).map(Self.record)
    }

    func verifyChain() async throws -> AuditChainReport {
        try await AuditChain.verify(from: try await checkpoint()) { after in
            try await database.run(
                "SELECT \(unescaped: Self.columns) FROM \(unescaped: t)audit_log WHERE seq > \(after) ORDER BY seq LIMIT 1000"
            ).map(Self.record)
        }
    }

    func checkpoint() async throws -> AuditCheckpoint? {
        try await database.run("SELECT seq, hash, purged FROM \(unescaped: t)audit_checkpoint WHERE id = 1").first.map { row in
            let (sequence, hash, purged) = try row.decode((Int, String, Int).self)
            return AuditCheckpoint(sequence: sequence, hash: hash, purged: purged)
        }
    }

    func purge(before cutoff: Date, dryRun: Bool) async throws -> AuditPurgeReport {
        let cutoffMillis = Clock.millis(cutoff)
        // Everything before the first event at or after the cutoff (the newest event stays).
        let stop = try await database.run(
            """
            SELECT COALESCE((SELECT MIN(seq) FROM \(unescaped: t)audit_log WHERE time >= \(cutoffMillis)),
                            (SELECT MAX(seq) FROM \(unescaped: t)audit_log), 0)::bigint
            """
        ).first?.decode(Int.self) ?? 0
        if dryRun {
            let count = try await database.run("SELECT COUNT(*)::bigint FROM \(unescaped: t)audit_log WHERE seq < \(stop)").first?.decode(Int.self)
            return AuditPurgeReport(purged: count ?? 0, checkpoint: try await checkpoint())
        }
        var report = AuditPurgeReport(checkpoint: try await checkpoint())
        let lockKey = "parley.audit." + self.lockKey
        let batchSize = SQLiteAuditLog.purgeBatch
        while true {
            // Under the log's append lock: two replicas purging at once take turns, and each
            // batch moves the checkpoint exactly as far as it deleted.
            let batch: (Int, AuditCheckpoint)? = try await database.transaction { connection, logger in
                try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(lockKey)))", logger: logger)
                let rows = try await connection.query(
                    "SELECT seq, hash FROM \(unescaped: t)audit_log WHERE seq < \(stop) ORDER BY seq LIMIT \(batchSize)", logger: logger
                ).collect().map { try $0.decode((Int, String).self) }
                guard let last = rows.last else { return nil }
                try await connection.query("DELETE FROM \(unescaped: t)audit_log WHERE seq <= \(last.0)", logger: logger)
                let saved = try await connection.query(
                    """
                    INSERT INTO \(unescaped: t)audit_checkpoint (id, seq, hash, purged, updated_at)
                    VALUES (1, \(last.0), \(last.1), \(rows.count), \(Clock.nowMillis()))
                    ON CONFLICT (id) DO UPDATE SET
                        seq = excluded.seq, hash = excluded.hash, purged = audit_checkpoint.purged + excluded.purged,
                        updated_at = excluded.updated_at
                    RETURNING seq, hash, purged
                    """, logger: logger
                ).collect()
                guard let (sequence, hash, purged) = try saved.first?.decode((Int, String, Int).self) else {
                    throw StoreError.corrupt(column: "audit_checkpoint")
                }
                return (rows.count, AuditCheckpoint(sequence: sequence, hash: hash, purged: purged))
            }
            guard let (count, checkpoint) = batch else { return report }
            report.purged += count
            report.checkpoint = checkpoint
        }
    }

    static func record(_ row: PostgresRow) throws -> AuditRecord {
        let (sequence, time, tenant, actor, action, object, outcome, ip, requestID, detail, previous, hash, id, traceID) = try row.decode(
            (Int, Int, String?, String, String, String?, String, String?, String?, String?, String, String, String?, String?).self)
        guard let outcome = AuditEvent.Outcome(rawValue: outcome) else { throw StoreError.corrupt(column: "outcome") }
        let event = AuditEvent(
            time: Clock.date(time), tenant: tenant.flatMap(TenantID.init), actor: actor, action: action, object: object,
            outcome: outcome, ip: ip, requestID: requestID, detail: detail, id: id, traceID: traceID)
        return AuditRecord(sequence: sequence, event: event, previousHash: previous, hash: hash)
    }
}
