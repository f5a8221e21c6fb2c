import Foundation
import ParleyCore

/// The repositories of one tenant, on that tenant's SQLite file.
struct SQLiteTenantStore: TenantStore {
    let tenant: TenantID
    let database: SQLiteDatabase
    var tasks: any TaskRepository { SQLiteTaskRepository(database: database) }
    var conversations: any ConversationRepository { SQLiteConversationRepository(database: database) }
    var feedback: any FeedbackRepository { SQLiteFeedbackRepository(database: database) }
    var feedbackExport: any FeedbackExportRepository { SQLiteFeedbackRepository(database: database) }
    var audit: any AuditLogRepository { SQLiteAuditLog(database: database) }
    var retention: any RetentionRepository { SQLiteRetention(database: database) }
    var userData: any UserDataRepository { SQLiteUserData(database: database) }
}

struct SQLiteTaskRepository: TaskRepository {
    let database: SQLiteDatabase

    static let columns = "number, title, description, status, created_at, updated_at, completed_at"

    func create(user: UserID, title: String, description: String?) async throws -> TodoTask {
        let now = Clock.nowMillis()
        // One atomic upsert hands out the user's next number; a number is never handed out twice.
        // Both statements commit together: a number is never used up by a task that was not stored.
        let rows = try await database.transaction { connection in
            let numberRows = try connection.query(
                """
                INSERT INTO users (id, last_task_number, created_at) VALUES (?1, 1, ?2)
                ON CONFLICT (id) DO UPDATE SET last_task_number = last_task_number + 1
                RETURNING last_task_number
                """,
                [.text(user.rawValue), .integer(now)]
            )
            let number = try numberRows.first.map { try $0.int("last_task_number") } ?? 1
            return try connection.query(
                """
                INSERT INTO tasks (user_id, number, title, description, status, created_at, updated_at)
                VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5)
                RETURNING \(Self.columns)
                """,
                [.text(user.rawValue), .integer(number), .text(title), description.map(SQLiteValue.text) ?? .null, .integer(now)]
            )
        }
        guard let row = rows.first else { throw StoreError.corrupt(column: "tasks") }
        return try Self.task(row)
    }

    func list(user: UserID, status: TaskStatus?) async throws -> [TodoTask] {
        let rows: [SQLiteRow]
        if let status {
            rows = try await database.query(
                "SELECT \(Self.columns) FROM tasks WHERE user_id = ?1 AND status = ?2 ORDER BY number",
                [.text(user.rawValue), .text(status.rawValue)])
        } else {
            rows = try await database.query(
                "SELECT \(Self.columns) FROM tasks WHERE user_id = ?1 ORDER BY number", [.text(user.rawValue)])
        }
        return try rows.map(Self.task)
    }

    func get(user: UserID, id: Int) async throws -> TodoTask? {
        let rows = try await database.query(
            "SELECT \(Self.columns) FROM tasks WHERE user_id = ?1 AND number = ?2", [.text(user.rawValue), .integer(id)])
        return try rows.first.map(Self.task)
    }

    func update(user: UserID, id: Int, patch: TaskPatch) async throws -> TodoTask? {
        var assignments = ["updated_at = ?3"]
        var binds: [SQLiteValue] = [.text(user.rawValue), .integer(id), .integer(Clock.nowMillis())]
        if let title = patch.title {
            binds.append(.text(title))
            assignments.append("title = ?\(binds.count)")
        }
        if let description = patch.description {
            binds.append(description.isEmpty ? .null : .text(description))
            assignments.append("description = ?\(binds.count)")
        }
        if let status = patch.status {
            binds.append(.text(status.rawValue))
            assignments.append("status = ?\(binds.count)")
            // Completing keeps the first completion time; reopening clears it.
            assignments.append(
                status == .completed ? "completed_at = COALESCE(completed_at, ?3)" : "completed_at = NULL")
        }
        let rows = try await database.query(
            "UPDATE tasks SET \(assignments.joined(separator: ", ")) WHERE user_id = ?1 AND number = ?2 RETURNING \(Self.columns)",
            binds)
        return try rows.first.map(Self.task)
    }

    func delete(user: UserID, id: Int) async throws -> TodoTask? {
        let rows = try await database.query(
            "DELETE FROM tasks WHERE user_id = ?1 AND number = ?2 RETURNING \(Self.columns)",
            [.text(user.rawValue), .integer(id)])
        return try rows.first.map(Self.task)
    }

    func restore(user: UserID, task: TodoTask) async throws -> TodoTask? {
        let rows = try await database.query(
            """
            INSERT INTO tasks (user_id, number, title, description, status, created_at, updated_at, completed_at)
            SELECT id, ?2, ?3, ?4, ?5, ?6, ?7, ?8 FROM users WHERE id = ?1 AND last_task_number >= ?2
            ON CONFLICT (user_id, number) DO NOTHING
            RETURNING \(Self.columns)
            """,
            [
                .text(user.rawValue), .integer(task.id), .text(task.title), task.description.map(SQLiteValue.text) ?? .null,
                .text(task.status.rawValue), .integer(Clock.millis(task.createdAt)), .integer(Clock.nowMillis()),
                task.completedAt.map { .integer(Clock.millis($0)) } ?? .null,
            ])
        return try rows.first.map(Self.task)
    }

    static func task(_ row: SQLiteRow) throws -> TodoTask {
        guard let status = TaskStatus(rawValue: try row.string("status")) else { throw StoreError.corrupt(column: "status") }
        return TodoTask(
            id: try row.int("number"),
            title: try row.string("title"),
            description: row.optionalString("description"),
            status: status,
            createdAt: try row.date("created_at"),
            updatedAt: try row.date("updated_at"),
            completedAt: row.optionalDate("completed_at")
        )
    }
}

struct SQLiteConversationRepository: ConversationRepository {
    let database: SQLiteDatabase

    static let messageColumns = "id, conversation_id, role, content, tool_calls, model, created_at"

    func create(user: UserID, title: String) async throws -> Conversation {
        try await start(user: user, title: title, messages: []).0
    }

    func start(user: UserID, title: String, messages: [NewMessage]) async throws -> (Conversation, [Message]) {
        let now = Clock.nowMillis()
        let (conversationRows, messageRows) = try await database.transaction { connection in
            _ = try connection.query(
                "INSERT INTO users (id, created_at) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
                [.text(user.rawValue), .integer(now)])
            let conversationRows = try connection.query(
                """
                INSERT INTO conversations (user_id, title, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
                RETURNING id, title, created_at, updated_at
                """,
                [.text(user.rawValue), .text(title), .integer(now)])
            guard let id = try conversationRows.first?.int("id"), !messages.isEmpty else { return (conversationRows, [SQLiteRow]()) }
            let (sql, binds) = try Self.insertMessages(messages, conversation: id, user: user, now: now)
            return (conversationRows, try connection.query(sql, binds))
        }
        guard let row = conversationRows.first else { throw StoreError.corrupt(column: "conversations") }
        return (try Self.conversation(row), try messageRows.map(Self.message).sorted { $0.id < $1.id })
    }

    func get(user: UserID, id: Int) async throws -> Conversation? {
        let rows = try await database.query(
            "SELECT id, title, created_at, updated_at FROM conversations WHERE user_id = ?1 AND id = ?2",
            [.text(user.rawValue), .integer(id)])
        return try rows.first.map(Self.conversation)
    }

    func list(user: UserID, limit: Int, before: Int?) async throws -> [Conversation] {
        let rows = try await database.query(
            """
            SELECT id, title, created_at, updated_at FROM conversations
            WHERE user_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3
            """,
            [.text(user.rawValue), .integer(before ?? Int.max), .integer(limit)])
        return try rows.map(Self.conversation)
    }

    func delete(user: UserID, id: Int) async throws -> Bool {
        // Messages and their feedback go with it (ON DELETE CASCADE).
        let rows = try await database.query(
            "DELETE FROM conversations WHERE user_id = ?1 AND id = ?2 RETURNING id", [.text(user.rawValue), .integer(id)])
        return !rows.isEmpty
    }

    func rename(user: UserID, id: Int, title: String) async throws -> Conversation? {
        let rows = try await database.query(
            """
            UPDATE conversations SET title = ?3, updated_at = ?4 WHERE user_id = ?1 AND id = ?2
            RETURNING id, title, created_at, updated_at
            """,
            [.text(user.rawValue), .integer(id), .text(title), .integer(Clock.nowMillis())])
        return try rows.first.map(Self.conversation)
    }

    func complete(
        user: UserID, message id: Int, content: String, toolCalls: [ToolCallRecord], model: String?, record: TurnRecord?
    ) async throws -> Message? {
        let calls = try ToolCallsColumn.encode(toolCalls)
        let rows = try await database.query(
            """
            UPDATE messages SET content = ?3, tool_calls = ?4, model = ?5, record = ?6
            WHERE id = ?1 AND user_id = ?2 AND role = 'assistant'
            RETURNING \(Self.messageColumns)
            """,
            [
                .integer(id), .text(user.rawValue), .text(content), .text(calls), model.map(SQLiteValue.text) ?? .null,
                try TurnRecord.json(record).map(SQLiteValue.text) ?? .null,
            ])
        return try rows.first.map(Self.message)
    }

    func deleteMessages(user: UserID, conversation: Int, after messageID: Int) async throws -> Int {
        try await database.query(
            "DELETE FROM messages WHERE conversation_id = ?1 AND user_id = ?2 AND id > ?3 RETURNING id",
            [.integer(conversation), .text(user.rawValue), .integer(messageID)]
        ).count
    }

    func append(user: UserID, conversation: Int, messages: [NewMessage]) async throws -> [Message] {
        guard !messages.isEmpty else { return [] }
        // One statement: all messages of a turn are stored together or not at all.
        let (sql, binds) = try Self.insertMessages(messages, conversation: conversation, user: user, now: Clock.nowMillis())
        return try await database.query(sql, binds).map(Self.message).sorted { $0.id < $1.id }
    }

    /// The INSERT of a turn's messages, returning them.
    static func insertMessages(_ messages: [NewMessage], conversation: Int, user: UserID, now: Int) throws -> (String, [SQLiteValue]) {
        var binds: [SQLiteValue] = [.integer(conversation), .text(user.rawValue), .integer(now)]
        var tuples: [String] = []
        for message in messages {
            let toolCalls = try ToolCallsColumn.encode(message.toolCalls)
            binds += [
                .text(message.role.rawValue), .text(message.content), .text(toolCalls), message.model.map(SQLiteValue.text) ?? .null,
                try TurnRecord.json(message.record).map(SQLiteValue.text) ?? .null,
            ]
            let base = binds.count - 5
            tuples.append("(?1, ?2, ?\(base + 1), ?\(base + 2), ?\(base + 3), ?\(base + 4), ?\(base + 5), ?3)")
        }
        let sql = """
            INSERT INTO messages (conversation_id, user_id, role, content, tool_calls, model, record, created_at)
            VALUES \(tuples.joined(separator: ", "))
            RETURNING \(messageColumns)
            """
        return (sql, binds)
    }

    func messages(user: UserID, conversation: Int?, limit: Int, before: Int?) async throws -> [Message] {
        let rows: [SQLiteRow]
        if let conversation {
            rows = try await database.query(
                """
                SELECT \(Self.messageColumns) FROM messages
                WHERE conversation_id = ?1 AND user_id = ?2 AND id < ?3
                ORDER BY id DESC LIMIT ?4
                """,
                [.integer(conversation), .text(user.rawValue), .integer(before ?? Int.max), .integer(limit)])
        } else {
            rows = try await database.query(
                """
                SELECT \(Self.messageColumns) FROM messages
                WHERE user_id = ?1 AND id < ?2
                ORDER BY id DESC LIMIT ?3
                """,
                [.text(user.rawValue), .integer(before ?? Int.max), .integer(limit)])
        }
        return try rows.map(Self.message).reversed()
    }

    func turnRecords(user: UserID, conversation: Int) async throws -> [Int: TurnRecord] {
        let rows = try await database.query(
            "SELECT id, record FROM messages WHERE conversation_id = ?1 AND user_id = ?2 AND record IS NOT NULL",
            [.integer(conversation), .text(user.rawValue)])
        return TurnRecord.byMessage(try rows.map { (try $0.int("id"), try $0.string("record")) })
    }

    static func conversation(_ row: SQLiteRow) throws -> Conversation {
        Conversation(
            id: try row.int("id"), title: try row.string("title"),
            createdAt: try row.date("created_at"), updatedAt: try row.date("updated_at"))
    }

    static func message(_ row: SQLiteRow) throws -> Message {
        guard let role = MessageRole(rawValue: try row.string("role")) else { throw StoreError.corrupt(column: "role") }
        let toolCalls = try ToolCallsColumn.decode(try row.string("tool_calls"))
        return Message(
            id: try row.int("id"), conversationID: try row.int("conversation_id"), role: role,
            content: try row.string("content"), toolCalls: toolCalls, model: row.optionalString("model"),
            createdAt: try row.date("created_at"))
    }
}

struct SQLiteFeedbackRepository: FeedbackRepository {
    let database: SQLiteDatabase

    func submit(user: UserID, messageID: Int, rating: FeedbackRating, comment: String?) async throws -> Feedback? {
        // The SELECT only yields a row for an assistant message of this user's, so feedback on
        // anything else writes nothing.
        let rows = try await database.query(
            """
            INSERT INTO feedback (message_id, user_id, rating, comment, created_at)
            SELECT id, user_id, ?3, ?4, ?5 FROM messages WHERE id = ?1 AND user_id = ?2 AND role = 'assistant'
            ON CONFLICT (message_id, user_id) DO UPDATE
                SET rating = excluded.rating, comment = excluded.comment, created_at = excluded.created_at
            RETURNING id, message_id, rating, comment, created_at
            """,
            [.integer(messageID), .text(user.rawValue), .text(rating.rawValue), comment.map(SQLiteValue.text) ?? .null,
             .integer(Clock.nowMillis())])
        guard let row = rows.first else { return nil }
        return Feedback(
            id: try row.int("id"), messageID: try row.int("message_id"),
            rating: FeedbackRating(rawValue: try row.string("rating")) ?? rating,
            comment: row.optionalString("comment"), createdAt: try row.date("created_at"))
    }
}

extension SQLiteFeedbackRepository: FeedbackExportRepository {
    func export(since: Date?, after: Int?, limit: Int) async throws -> [FeedbackExportRow] {
        let rows = try await database.query(
            """
            SELECT f.id, f.user_id, f.message_id, m.conversation_id, m.content, m.model, f.rating, f.comment, f.created_at
            FROM feedback f JOIN messages m ON m.id = f.message_id
            WHERE f.id > ?1 AND f.created_at >= ?2
            ORDER BY f.id LIMIT ?3
            """,
            [.integer(after ?? 0), .integer(since.map(Clock.millis) ?? 0), .integer(limit)])
        return try rows.map { row in
            FeedbackExportRow(
                id: try row.int("id"), user: try row.string("user_id"), messageID: try row.int("message_id"),
                conversationID: try row.int("conversation_id"), message: try row.string("content"),
                model: row.optionalString("model"),
                rating: FeedbackRating(rawValue: try row.string("rating")) ?? .up, comment: row.optionalString("comment"),
                createdAt: try row.date("created_at"))
        }
    }
}

/// Retention on one tenant's file: the one process that serves it purges it, in batches, each
/// batch one unit of the writer's group commit.
struct SQLiteRetention: RetentionRepository {
    let database: SQLiteDatabase

    func purge(before cutoff: Date, dryRun: Bool) async throws -> PurgeReport {
        let cutoff = SQLiteValue.integer(Clock.millis(cutoff))
        var report = PurgeReport()
        if dryRun {
            let rows = try await database.query(
                """
                SELECT (SELECT count(*) FROM messages WHERE created_at < ?1) AS messages,
                       (SELECT count(*) FROM feedback WHERE message_id IN (SELECT id FROM messages WHERE created_at < ?1)) AS feedback,
                       (SELECT count(*) FROM conversations c WHERE c.updated_at < ?1
                          AND EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.created_at < ?1)
                          AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.created_at >= ?1)) AS conversations
                """, [cutoff])
            report.messages = try rows.first?.int("messages") ?? 0
            report.feedback = try rows.first?.int("feedback") ?? 0
            report.conversations = try rows.first?.int("conversations") ?? 0
            return report
        }
        // Usually there is nothing to remove: found out on the reader, without a write.
        guard try await !database.query("SELECT 1 FROM messages WHERE created_at < ?1 LIMIT 1", [cutoff]).isEmpty else {
            return report
        }
        while true {
            let batch = try await database.transaction { connection -> PurgeReport in
                var batch = PurgeReport()
                let doomed = try connection.query(
                    "SELECT id, user_id, conversation_id FROM messages WHERE created_at < ?1 ORDER BY id LIMIT \(Retention.batchSize)",
                    [cutoff])
                guard !doomed.isEmpty else { return batch }
                let ids = try doomed.map { try $0.int("id") }
                let list = ids.map(String.init).joined(separator: ",")  // integers from the database
                batch.messages = ids.count
                batch.feedback = try connection.query("SELECT count(*) AS n FROM feedback WHERE message_id IN (\(list))")
                    .first?.int("n") ?? 0
                _ = try connection.query("DELETE FROM messages WHERE id IN (\(list))")
                for row in doomed {
                    guard let user = UserID(try row.string("user_id")) else { continue }
                    batch.touched.insert(PurgeReport.Touched(user: user, conversation: try row.int("conversation_id")))
                }
                // Left empty, and nobody wrote to them since the cutoff (an append touches updated_at).
                let conversations = Set(batch.touched.map(\.conversation)).map(String.init).joined(separator: ",")
                batch.conversations = try connection.query(
                    """
                    DELETE FROM conversations WHERE id IN (\(conversations)) AND updated_at < ?1
                      AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id) RETURNING id
                    """, [cutoff]
                ).count
                return batch
            }
            report.add(batch)
            if batch.messages < Retention.batchSize { return report }
        }
    }
}

/// What both backends' purges share.
enum Retention {
    /// Messages deleted per transaction: a big backlog neither holds the writer nor a lock for long.
    static let batchSize = 2_000
}

extension PurgeReport {
    mutating func add(_ batch: PurgeReport) {
        messages += batch.messages
        conversations += batch.conversations
        feedback += batch.feedback
        touched.formUnion(batch.touched)
    }
}
