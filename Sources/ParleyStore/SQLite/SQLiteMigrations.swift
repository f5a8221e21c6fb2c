/// A schema change with its way back. Versions are applied in order and recorded in
/// `schema_migrations`, so a tenant database knows which schema it has.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let up: [String]
    public let down: [String]
}

/// The SQLite schema of one tenant database.
enum SQLiteSchema {
    static let migrations: [Migration] = [
        Migration(
            version: 1,
            name: "users, tasks, conversations, messages, feedback",
            up: [
                """
                CREATE TABLE users (
                    id TEXT PRIMARY KEY,
                    last_task_number INTEGER NOT NULL DEFAULT 0,
                    created_at INTEGER NOT NULL
                )
                """,
                """
                CREATE TABLE tasks (
                    user_id TEXT NOT NULL REFERENCES users(id),
                    number INTEGER NOT NULL,
                    title TEXT NOT NULL,
                    description TEXT,
                    status TEXT NOT NULL CHECK (status IN ('pending', 'completed')),
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    completed_at INTEGER,
                    PRIMARY KEY (user_id, number)
                ) WITHOUT ROWID
                """,
                """
                CREATE TABLE conversations (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    user_id TEXT NOT NULL REFERENCES users(id),
                    title TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                )
                """,
                "CREATE INDEX conversations_by_user ON conversations (user_id, id)",
                """
                CREATE TABLE messages (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
                    user_id TEXT NOT NULL,
                    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
                    content TEXT NOT NULL,
                    tool_calls TEXT NOT NULL DEFAULT '[]',
                    model TEXT,
                    created_at INTEGER NOT NULL
                )
                """,
                "CREATE INDEX messages_by_conversation ON messages (conversation_id, id)",
                "CREATE INDEX messages_by_user ON messages (user_id, id)",
                "CREATE INDEX messages_by_age ON messages (created_at)",
                """
                CREATE TRIGGER messages_touch_conversation AFTER INSERT ON messages BEGIN
                    UPDATE conversations SET updated_at = NEW.created_at WHERE id = NEW.conversation_id;
                END
                """,
                """
                CREATE TABLE feedback (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
                    user_id TEXT NOT NULL,
                    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
                    comment TEXT,
                    created_at INTEGER NOT NULL,
                    UNIQUE (message_id, user_id)
                )
                """,
            ],
            down: [
                "DROP TABLE feedback",
                "DROP TRIGGER messages_touch_conversation",
                "DROP TABLE messages",
                "DROP TABLE conversations",
                "DROP TABLE tasks",
                "DROP TABLE users",
            ]
        ),
        Migration(version: 2, name: "audit log", up: auditLogTable, down: ["DROP TABLE audit_log"]),
        Migration(version: 3, name: "linear audit chain", up: [linearAuditChain], down: ["DROP INDEX audit_log_linear"]),
        Migration(version: 4, name: "audit event ids", up: auditEventIDs, down: auditEventIDsDown),
    ]

    static var latestVersion: Int { migrations.last?.version ?? 0 }

    /// The audit log, the same in a tenant database and the control database.
    static let auditLogTable = [
        """
        CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            time INTEGER NOT NULL,
            tenant TEXT,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            object TEXT,
            outcome TEXT NOT NULL,
            ip TEXT,
            request_id TEXT,
            detail TEXT,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )
        """,
        "CREATE INDEX audit_log_by_action ON audit_log (action, seq)",
        "CREATE INDEX audit_log_by_actor ON audit_log (actor, seq)",
        "CREATE INDEX audit_log_by_time ON audit_log (time)",
    ]

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
}

/// The SQLite schema of the control database (`parley.sqlite`): what belongs to no tenant.
enum SQLiteControlSchema {
    static let migrations: [Migration] = [
        Migration(
            version: 1,
            name: "feature flags, system audit log",
            up: [
                """
                CREATE TABLE feature_flags (
                    scope TEXT NOT NULL,
                    name TEXT NOT NULL,
                    value TEXT NOT NULL,
                    updated_at INTEGER NOT NULL,
                    updated_by TEXT NOT NULL,
                    PRIMARY KEY (scope, name)
                ) WITHOUT ROWID
                """,
            ] + SQLiteSchema.auditLogTable,
            down: ["DROP TABLE audit_log", "DROP TABLE feature_flags"]
        ),
        Migration(version: 2, name: "linear audit chain", up: [SQLiteSchema.linearAuditChain], down: ["DROP INDEX audit_log_linear"]),
        Migration(version: 3, name: "audit event ids", up: SQLiteSchema.auditEventIDs, down: SQLiteSchema.auditEventIDsDown),
    ]
}
