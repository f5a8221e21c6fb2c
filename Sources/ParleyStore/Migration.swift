/// A schema change with its way back. Versions are applied in order and recorded in
/// `schema_migrations`, so a tenant database knows which schema it has.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let up: [String]
    public let down: [String]
}

/// The schema versions both backends go through, by name: version N is the same change on
/// SQLite and PostgreSQL (tests hold the two migration lists to these), and the statements that
/// are the same SQL on both.
enum SchemaVersions {
    /// A tenant's database (SQLite) or schema (PostgreSQL), version 1 first.
    static let tenant = [
        "users, tasks, conversations, messages, feedback", "audit log", "linear audit chain", "audit event ids",
        "turn records, audit trace ids", "audit checkpoint",
    ]
    /// The control database (SQLite) or the shared `parley` schema (PostgreSQL).
    static let control = ["feature flags, system audit log", "linear audit chain", "audit event ids", "audit trace ids", "model usage", "audit checkpoint"]

    /// One successor per event: two processes appending to one log (e.g. `parley serve` and
    /// `parley mcp` on the same files) cannot fork the chain; the second append is refused and retried.
    static let linearAuditChain = "CREATE UNIQUE INDEX audit_log_linear ON audit_log (prev_hash)"

    /// The queue's id of each event: a queue that delivers at least once (the Redis Stream)
    /// cannot store an event twice. Events written before have none (NULLs do not collide).
    static let auditEventIDs = [
        "ALTER TABLE audit_log ADD COLUMN event_id TEXT",
        "CREATE UNIQUE INDEX audit_log_event ON audit_log (event_id)",
    ]
    static let auditEventIDsDown = ["DROP INDEX audit_log_event", "ALTER TABLE audit_log DROP COLUMN event_id"]

    /// How each answer came about (`TurnRecord`, JSON), and the audit events of a request found by
    /// its id: what an admin reads to debug one turn. Only added: an older build ignores both.
    static let turnRecords = [
        "ALTER TABLE messages ADD COLUMN record TEXT",
        "CREATE INDEX audit_log_by_request ON audit_log (request_id)",
    ] + auditTraceIDs
    static let turnRecordsDown = auditTraceIDsDown + ["DROP INDEX audit_log_by_request", "ALTER TABLE messages DROP COLUMN record"]

    /// The trace of the request an event came from (W3C trace id), when it was traced.
    static let auditTraceIDs = ["ALTER TABLE audit_log ADD COLUMN trace_id TEXT"]
    static let auditTraceIDsDown = ["ALTER TABLE audit_log DROP COLUMN trace_id"]

    /// Model calls and tokens per tenant and month: the tenant's totals (`user_id` and `provider`
    /// empty), each user's (`provider` empty) and each provider's model (`user_id` empty). Used
    /// when Redis is not configured; with Redis the counts live there.
    static let modelUsage = [
        """
        CREATE TABLE model_usage (
            tenant TEXT NOT NULL,
            month TEXT NOT NULL,
            user_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            completions BIGINT NOT NULL DEFAULT 0,
            input_tokens BIGINT NOT NULL DEFAULT 0,
            output_tokens BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (tenant, month, user_id, provider, model)
        )
        """
    ]
    static let modelUsageDown = ["DROP TABLE model_usage"]

    /// Where a log's chain starts once its oldest events were purged: the last purged event's
    /// sequence and hash (one row, or none before the first purge).
    static let auditCheckpoint = [
        """
        CREATE TABLE audit_checkpoint (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            seq BIGINT NOT NULL,
            hash TEXT NOT NULL,
            purged BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )
        """
    ]
    static let auditCheckpointDown = ["DROP TABLE audit_checkpoint"]
}
