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
        )
    ]

    static var latestVersion: Int { migrations.last?.version ?? 0 }
}
