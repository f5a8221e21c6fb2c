/// The SQLite schema of one tenant database.
enum SQLiteSchema {
    static let migrations: [Migration] = [
        Migration(
            version: 1,
            name: SchemaVersions.tenant[0],
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
        Migration(version: 2, name: SchemaVersions.tenant[1], up: auditLogTable, down: ["DROP TABLE audit_log"]),
        Migration(version: 3, name: SchemaVersions.tenant[2], up: [SchemaVersions.linearAuditChain], down: ["DROP INDEX audit_log_linear"]),
        Migration(version: 4, name: SchemaVersions.tenant[3], up: SchemaVersions.auditEventIDs, down: SchemaVersions.auditEventIDsDown),
        Migration(version: 5, name: SchemaVersions.tenant[4], up: SchemaVersions.turnRecords, down: SchemaVersions.turnRecordsDown),
        Migration(version: 6, name: SchemaVersions.tenant[5], up: SchemaVersions.auditCheckpoint, down: SchemaVersions.auditCheckpointDown),
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
}

/// The SQLite schema of the control database (`parley.sqlite`): what belongs to no tenant.
enum SQLiteControlSchema {
    static let migrations: [Migration] = [
        Migration(
            version: 1,
            name: SchemaVersions.control[0],
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
        Migration(version: 2, name: SchemaVersions.control[1], up: [SchemaVersions.linearAuditChain], down: ["DROP INDEX audit_log_linear"]),
        Migration(version: 3, name: SchemaVersions.control[2], up: SchemaVersions.auditEventIDs, down: SchemaVersions.auditEventIDsDown),
        Migration(version: 4, name: SchemaVersions.control[3], up: SchemaVersions.auditTraceIDs, down: SchemaVersions.auditTraceIDsDown),
        Migration(version: 5, name: SchemaVersions.control[4], up: SchemaVersions.modelUsage, down: SchemaVersions.modelUsageDown),
        Migration(version: 6, name: SchemaVersions.control[5], up: SchemaVersions.auditCheckpoint, down: SchemaVersions.auditCheckpointDown),
    ]
}
