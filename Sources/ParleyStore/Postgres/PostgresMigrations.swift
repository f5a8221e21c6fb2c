import Logging
import PostgresNIO

/// The PostgreSQL schemas: the shared `parley` schema and the schema of each tenant. Versions and
/// names match the SQLite migrations one for one (a test holds them together); the SQL differs
/// where the databases do (identity columns, no trigger, BIGINT milliseconds for times).
///
/// Statements use unqualified names: the migration runs with `search_path` set to its schema.
enum PostgresSchema {
    static let tenant: [Migration] = [
        Migration(
            version: 1,
            name: SchemaVersions.tenant[0],
            up: [
                """
                CREATE TABLE users (
                    id TEXT PRIMARY KEY,
                    last_task_number INTEGER NOT NULL DEFAULT 0,
                    created_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE tasks (
                    user_id TEXT NOT NULL REFERENCES users(id),
                    number INTEGER NOT NULL,
                    title TEXT NOT NULL,
                    description TEXT,
                    status TEXT NOT NULL CHECK (status IN ('pending', 'completed')),
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    completed_at BIGINT,
                    PRIMARY KEY (user_id, number)
                )
                """,
                """
                CREATE TABLE conversations (
                    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    user_id TEXT NOT NULL REFERENCES users(id),
                    title TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX conversations_by_user ON conversations (user_id, id)",
                // No trigger touches the conversation: the append statement does it itself.
                """
                CREATE TABLE messages (
                    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    conversation_id BIGINT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
                    user_id TEXT NOT NULL,
                    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
                    content TEXT NOT NULL,
                    tool_calls TEXT NOT NULL DEFAULT '[]',
                    model TEXT,
                    created_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX messages_by_conversation ON messages (conversation_id, id)",
                "CREATE INDEX messages_by_user ON messages (user_id, id)",
                "CREATE INDEX messages_by_age ON messages (created_at)",
                """
                CREATE TABLE feedback (
                    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    message_id BIGINT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
                    user_id TEXT NOT NULL,
                    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
                    comment TEXT,
                    created_at BIGINT NOT NULL,
                    UNIQUE (message_id, user_id)
                )
                """,
            ],
            down: ["DROP TABLE feedback", "DROP TABLE messages", "DROP TABLE conversations", "DROP TABLE tasks", "DROP TABLE users"]
        ),
        Migration(version: 2, name: SchemaVersions.tenant[1], up: auditLogTable, down: ["DROP TABLE audit_log"]),
        Migration(
            version: 3, name: SchemaVersions.tenant[2], up: [SchemaVersions.linearAuditChain],
            down: ["DROP INDEX audit_log_linear"]),
        Migration(version: 4, name: SchemaVersions.tenant[3], up: SchemaVersions.auditEventIDs, down: SchemaVersions.auditEventIDsDown),
        Migration(version: 5, name: SchemaVersions.tenant[4], up: SchemaVersions.turnRecords, down: SchemaVersions.turnRecordsDown),
        Migration(version: 6, name: SchemaVersions.tenant[5], up: SchemaVersions.auditCheckpoint, down: SchemaVersions.auditCheckpointDown),
    ]

    static let control: [Migration] = [
        Migration(
            version: 1,
            name: SchemaVersions.control[0] + ", tenants",
            up: [
                """
                CREATE TABLE tenants (
                    id TEXT PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9_]{0,62}$'),
                    schema_name TEXT NOT NULL UNIQUE CHECK (schema_name ~ '^tenant_[a-z0-9_]{1,56}$'),
                    created_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE feature_flags (
                    scope TEXT NOT NULL,
                    name TEXT NOT NULL,
                    value TEXT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    updated_by TEXT NOT NULL,
                    PRIMARY KEY (scope, name)
                )
                """,
            ] + auditLogTable,
            down: ["DROP TABLE audit_log", "DROP TABLE feature_flags", "DROP TABLE tenants"]
        ),
        Migration(
            version: 2, name: SchemaVersions.control[1], up: [SchemaVersions.linearAuditChain],
            down: ["DROP INDEX audit_log_linear"]),
        Migration(
            version: 3, name: SchemaVersions.control[2], up: SchemaVersions.auditEventIDs,
            down: SchemaVersions.auditEventIDsDown),
        Migration(version: 4, name: SchemaVersions.control[3], up: SchemaVersions.auditTraceIDs, down: SchemaVersions.auditTraceIDsDown),
        Migration(version: 5, name: SchemaVersions.control[4], up: SchemaVersions.modelUsage, down: SchemaVersions.modelUsageDown),
        Migration(version: 6, name: SchemaVersions.control[5], up: SchemaVersions.auditCheckpoint, down: SchemaVersions.auditCheckpointDown),
    ]

    static let auditLogTable = [
        """
        CREATE TABLE audit_log (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            time BIGINT NOT NULL,
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

    /// The scope under which the shared schema's versions are recorded (tenant ids cannot be `*`).
    static let controlScope = "*"
}

/// Applies and undoes migrations of one schema. Each runs on a connection inside a transaction
/// that the caller opened with the schema's `search_path`, under an advisory lock on the scope,
/// so that replicas starting together migrate a schema once, and a failed migration leaves
/// nothing behind (DDL is transactional in PostgreSQL).
struct PostgresMigrator {
    let scope: String
    let migrations: [Migration]
    let label: String

    var latestVersion: Int { migrations.last?.version ?? 0 }

    /// The bookkeeping every migration needs: the shared schema and its version table.
    static func bootstrap(_ connection: PostgresConnection, logger: Logger) async throws {
        try await lock("parley.bootstrap", connection, logger: logger)
        try await connection.query("CREATE SCHEMA IF NOT EXISTS parley", logger: logger)
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS parley.schema_migrations (
                scope TEXT NOT NULL,
                version INTEGER NOT NULL,
                name TEXT NOT NULL,
                applied_at BIGINT NOT NULL,
                PRIMARY KEY (scope, version)
            )
            """, logger: logger)
    }

    static func lock(_ key: String, _ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(key)))", logger: logger)
    }

    func currentVersion(_ connection: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = try await connection.query(
            "SELECT COALESCE(MAX(version), 0) FROM parley.schema_migrations WHERE scope = \(scope)", logger: logger
        ).collect()
        return try rows.first?.decode(Int.self) ?? 0
    }

    /// Brings the schema to the latest version; returns `(before, after)`.
    @discardableResult
    func migrate(_ connection: PostgresConnection, logger: Logger) async throws -> (before: Int, after: Int) {
        try await Self.lock("parley.migrate." + scope, connection, logger: logger)
        let before = try await currentVersion(connection, logger: logger)
        if before > latestVersion {
            // Blue-green: the next release migrated first; a release only adds, so this one runs on it.
            logger.notice(
                "the schema is newer than this build knows; using it as it is (a release only adds to the schema)",
                metadata: ["database": "\(label)", "version": "\(before)", "known": "\(latestVersion)"])
        }
        var version = before
        for migration in migrations where migration.version > version {
            for statement in migration.up {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            try await connection.query(
                """
                INSERT INTO parley.schema_migrations (scope, version, name, applied_at)
                VALUES (\(scope), \(migration.version), \(migration.name), \(Clock.nowMillis()))
                """, logger: logger)
            version = migration.version
        }
        return (before, version)
    }

    /// Undoes the latest applied migration; returns the version afterwards.
    func rollbackLatest(_ connection: PostgresConnection, logger: Logger) async throws -> Int {
        try await Self.lock("parley.migrate." + scope, connection, logger: logger)
        let version = try await currentVersion(connection, logger: logger)
        guard let migration = migrations.first(where: { $0.version == version }) else { return version }
        for statement in migration.down {
            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
        }
        try await connection.query(
            "DELETE FROM parley.schema_migrations WHERE scope = \(scope) AND version = \(version)", logger: logger)
        return try await currentVersion(connection, logger: logger)
    }
}
