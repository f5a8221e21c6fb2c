import Foundation
import ParleyCore
import PostgresNIO

/// The repositories of one tenant, on that tenant's schema. Every statement names the tenant's
/// schema before each table (`"tenant_acme".tasks`), so a single statement needs no transaction
/// to set a `search_path` and costs one round trip; the pool's own `search_path` holds no tables,
/// so a name without its schema fails instead of reaching another tenant's.
struct PostgresTenantStore: TenantStore {
    let tenant: TenantID
    let schema: QuotedSchema
    let database: PostgresDatabase
    var tasks: any TaskRepository { PostgresTaskRepository(schema: schema, database: database) }
    var conversations: any ConversationRepository { PostgresConversationRepository(schema: schema, database: database) }
    var feedback: any FeedbackRepository { PostgresFeedbackRepository(schema: schema, database: database) }
    var feedbackExport: any FeedbackExportRepository { PostgresFeedbackRepository(schema: schema, database: database) }
    var audit: any AuditLogRepository { PostgresAuditLog(database: database, schema: schema, lockKey: tenant.rawValue) }
    var retention: any RetentionRepository { PostgresRetention(tenant: tenant, schema: schema, database: database) }
    var userData: any UserDataRepository { PostgresUserData(schema: schema, database: database) }
}

struct PostgresTaskRepository: TaskRepository {
    let schema: QuotedSchema
    let database: PostgresDatabase
    /// Where the tables are: `"tenant_acme".`, before every table name.
    private var t: String { schema.qualifier }

    static let columns = "number, title, description, status, created_at, updated_at, completed_at"

    func create(user: UserID, title: String, description: String?) async throws -> TodoTask {
        let now = Clock.nowMillis()
        // The upsert locks the user's row: concurrent creates take numbers one after another,
        // and a number is never handed out twice.
        let rows = try await database.run(
                """
                WITH next AS (
                    INSERT INTO \(unescaped: t)users AS users (id, last_task_number, created_at) VALUES (\(user.rawValue), 1, \(now))
                    ON CONFLICT (id) DO UPDATE SET last_task_number = users.last_task_number + 1
                    RETURNING last_task_number
                )
                INSERT INTO \(unescaped: t)tasks (user_id, number, title, description, status, created_at, updated_at)
                SELECT \(user.rawValue), last_task_number, \(title), \(description), 'pending', \(now), \(now) FROM next
                RETURNING \(unescaped: Self.columns)
                """)
        guard let row = rows.first else { throw StoreError.corrupt(column: "tasks") }
        return try Self.task(row)
    }

    func list(user: UserID, status: TaskStatus?) async throws -> [TodoTask] {
        let query: PostgresQuery =
            if let status {
                "SELECT \(unescaped: Self.columns) FROM \(unescaped: t)tasks WHERE user_id = \(user.rawValue) AND status = \(status.rawValue) ORDER BY number"
            } else {
                "SELECT \(unescaped: Self.columns) FROM \(unescaped: t)tasks WHERE user_id = \(user.rawValue) ORDER BY number"
            }
        return try await database.run(query).map(Self.task)
    }

    func get(user: UserID, id: Int) async throws -> TodoTask? {
        try await database.run(
                "SELECT \(unescaped: Self.columns) FROM \(unescaped: t)tasks WHERE user_id = \(user.rawValue) AND number = \(id)").first.map(Self.task)
    }

    func update(user: UserID, id: Int, patch: TaskPatch) async throws -> TodoTask? {
        var binds = PostgresBindings()
        binds.append(user.rawValue)
        binds.append(id)
        binds.append(Clock.nowMillis())
        var assignments = ["updated_at = $3"]
        if let title = patch.title {
            binds.append(title)
            assignments.append("title = $\(binds.count)")
        }
        if let description = patch.description {
            if description.isEmpty { binds.appendNull() } else { binds.append(description) }
            assignments.append("description = $\(binds.count)::text")
        }
        if let status = patch.status {
            binds.append(status.rawValue)
            assignments.append("status = $\(binds.count)")
            // Completing keeps the first completion time; reopening clears it.
            assignments.append(status == .completed ? "completed_at = COALESCE(completed_at, $3)" : "completed_at = NULL")
        }
        let query = PostgresQuery(
            unsafeSQL: "UPDATE \(t)tasks SET \(assignments.joined(separator: ", ")) WHERE user_id = $1 AND number = $2 RETURNING \(Self.columns)",
            binds: binds)
        return try await database.run(query).first.map(Self.task)
    }

    func delete(user: UserID, id: Int) async throws -> TodoTask? {
        try await database.run(
            "DELETE FROM \(unescaped: t)tasks WHERE user_id = \(user.rawValue) AND number = \(id) RETURNING \(unescaped: Self.columns)"
        ).first.map(Self.task)
    }

    func restore(user: UserID, task: TodoTask) async throws -> TodoTask? {
        try await database.run(
            """
            INSERT INTO \(unescaped: t)tasks (user_id, number, title, description, status, created_at, updated_at, completed_at)
            SELECT id, \(task.id), \(task.title), \(task.description), \(task.status.rawValue), \(Clock.millis(task.createdAt)),
                \(Clock.nowMillis()), \(task.completedAt.map(Clock.millis))
            FROM \(unescaped: t)users WHERE id = \(user.rawValue) AND last_task_number >= \(task.id)
            ON CONFLICT (user_id, number) DO NOTHING
            RETURNING \(unescaped: Self.columns)
            """
        ).first.map(Self.task)
    }

    static func task(_ row: PostgresRow) throws -> TodoTask {
        let (number, title, description, status, created, updated, completed) = try row.decode(
            (Int, String, String?, String, Int, Int, Int?).self)
        guard let status = TaskStatus(rawValue: status) else { throw StoreError.corrupt(column: "status") }
        return TodoTask(
            id: number, title: title, description: description, status: status, createdAt: Clock.date(created),
            updatedAt: Clock.date(updated), completedAt: completed.map(Clock.date))
    }
}

struct PostgresConversationRepository: ConversationRepository {
    let schema: QuotedSchema
    let database: PostgresDatabase
    /// Where the tables are: `"tenant_acme".`, before every table name.
    private var t: String { schema.qualifier }

    static let messageColumns = "id, conversation_id, role, content, tool_calls, model, created_at"

    func create(user: UserID, title: String) async throws -> Conversation {
        let now = Clock.nowMillis()
        return try await database.transaction(in: schema) { connection, logger in
            try await connection.query(
                "INSERT INTO \(unescaped: t)users (id, created_at) VALUES (\(user.rawValue), \(now)) ON CONFLICT (id) DO NOTHING", logger: logger)
            let rows = try await connection.query(
                """
                INSERT INTO \(unescaped: t)conversations (user_id, title, created_at, updated_at) VALUES (\(user.rawValue), \(title), \(now), \(now))
                RETURNING id, title, created_at, updated_at
                """, logger: logger
            ).collect()
            guard let row = rows.first else { throw StoreError.corrupt(column: "conversations") }
            return try Self.conversation(row)
        }
    }

    func start(user: UserID, title: String, messages: [NewMessage]) async throws -> (Conversation, [Message]) {
        guard !messages.isEmpty else { return (try await create(user: user, title: title), []) }
        let now = Clock.nowMillis()
        var binds = PostgresBindings()
        binds.append(title)
        binds.append(user.rawValue)
        binds.append(now)
        let values = try Self.messageValues(messages, into: &binds) { position, parameters in "(\(position), \(parameters))" }
        // One statement, one round trip: the user, the conversation and its messages. The foreign
        // keys are checked at the end of the statement, when the rows of the other parts exist.
        let query = PostgresQuery(
            unsafeSQL: """
                WITH new_user AS (
                    INSERT INTO \(t)users (id, created_at) VALUES ($2, $3) ON CONFLICT (id) DO NOTHING
                ), conversation AS (
                    INSERT INTO \(t)conversations (user_id, title, created_at, updated_at) VALUES ($2, $1, $3, $3) RETURNING id
                )
                INSERT INTO \(t)messages (conversation_id, user_id, role, content, tool_calls, model, record, created_at)
                SELECT conversation.id, $2, v.role, v.content, v.tool_calls, v.model, v.record, $3
                FROM conversation, (VALUES \(values)) AS v (position, role, content, tool_calls, model, record)
                ORDER BY v.position
                RETURNING \(Self.messageColumns)
                """,
            binds: binds)
        let stored = try await database.run(query).map(Self.message).sorted { $0.id < $1.id }
        guard let id = stored.first?.conversationID else { throw StoreError.corrupt(column: "conversations") }
        return (Conversation(id: id, title: title, createdAt: Clock.date(now), updatedAt: Clock.date(now)), stored)
    }

    /// The VALUES rows of `messages`, their five columns (role, content, tool_calls, model, record)
    /// appended to `binds`; `row` puts each row's parameters (`$7, $8, …`) into its tuple.
    static func messageValues(
        _ messages: [NewMessage], into binds: inout PostgresBindings, row: (_ position: Int, _ parameters: String) -> String
    ) throws -> String {
        var tuples: [String] = []
        for message in messages {
            binds.append(message.role.rawValue)
            binds.append(message.content)
            binds.append(try ToolCallsColumn.encode(message.toolCalls))
            binds.append(message.model)
            binds.append(try TurnRecord.json(message.record))
            let base = binds.count - 5
            tuples.append(row(tuples.count, "$\(base + 1), $\(base + 2), $\(base + 3), $\(base + 4), $\(base + 5)"))
        }
        return tuples.joined(separator: ", ")
    }

    func get(user: UserID, id: Int) async throws -> Conversation? {
        try await database.run(
            "SELECT id, title, created_at, updated_at FROM \(unescaped: t)conversations WHERE user_id = \(user.rawValue) AND id = \(id)"
        ).first.map(Self.conversation)
    }

    func list(user: UserID, limit: Int, before: Int?) async throws -> [Conversation] {
        try await database.run(
            """
            SELECT id, title, created_at, updated_at FROM \(unescaped: t)conversations
            WHERE user_id = \(user.rawValue) AND id < \(before ?? Int.max) ORDER BY id DESC LIMIT \(limit)
            """
        ).map(Self.conversation)
    }

    func delete(user: UserID, id: Int) async throws -> Bool {
        // Messages and their feedback go with it (ON DELETE CASCADE).
        try await !database.run(
            "DELETE FROM \(unescaped: t)conversations WHERE user_id = \(user.rawValue) AND id = \(id) RETURNING id"
        ).isEmpty
    }

    func rename(user: UserID, id: Int, title: String) async throws -> Conversation? {
        let now = Clock.nowMillis()
        return try await database.run(
                """
                UPDATE \(unescaped: t)conversations SET title = \(title), updated_at = \(now) WHERE user_id = \(user.rawValue) AND id = \(id)
                RETURNING id, title, created_at, updated_at
                """).first.map(Self.conversation)
    }

    func complete(
        user: UserID, message id: Int, content: String, toolCalls: [ToolCallRecord], model: String?, record: TurnRecord?
    ) async throws -> Message? {
        let calls = try ToolCallsColumn.encode(toolCalls)
        let record = try TurnRecord.json(record)
        return try await database.run(
                """
                UPDATE \(unescaped: t)messages SET content = \(content), tool_calls = \(calls), model = \(model)::text,
                    record = \(record)::text
                WHERE id = \(id) AND user_id = \(user.rawValue) AND role = 'assistant'
                RETURNING \(unescaped: Self.messageColumns)
                """).first.map(Self.message)
    }

    func deleteMessages(user: UserID, conversation: Int, after messageID: Int) async throws -> Int {
        try await database.run(
                """
                DELETE FROM \(unescaped: t)messages WHERE conversation_id = \(conversation) AND user_id = \(user.rawValue) AND id > \(messageID)
                RETURNING id
                """).count
    }

    func append(user: UserID, conversation: Int, messages: [NewMessage]) async throws -> [Message] {
        guard !messages.isEmpty else { return [] }
        var binds = PostgresBindings()
        binds.append(conversation)
        binds.append(user.rawValue)
        binds.append(Clock.nowMillis())
        let values = try Self.messageValues(messages, into: &binds) { _, parameters in "($1, $2, \(parameters), $3)" }
        // One statement stores the turn's messages together (or none) and touches the
        // conversation, which only the user's own conversation lets through.
        let query = PostgresQuery(
            unsafeSQL: """
                WITH touched AS (
                    UPDATE \(t)conversations SET updated_at = $3 WHERE id = $1 AND user_id = $2 RETURNING id
                )
                INSERT INTO \(t)messages (conversation_id, user_id, role, content, tool_calls, model, record, created_at)
                SELECT v.conversation_id, v.user_id, v.role, v.content, v.tool_calls, v.model, v.record, v.created_at
                FROM (VALUES \(values))
                    AS v (conversation_id, user_id, role, content, tool_calls, model, record, created_at)
                WHERE EXISTS (SELECT 1 FROM touched)
                RETURNING \(Self.messageColumns)
                """,
            binds: binds)
        let rows = try await database.run(query).map(Self.message)
        return rows.sorted { $0.id < $1.id }
    }

    func messages(user: UserID, conversation: Int?, limit: Int, before: Int?) async throws -> [Message] {
        let query: PostgresQuery =
            if let conversation {
                """
                SELECT \(unescaped: Self.messageColumns) FROM \(unescaped: t)messages
                WHERE conversation_id = \(conversation) AND user_id = \(user.rawValue) AND id < \(before ?? Int.max)
                ORDER BY id DESC LIMIT \(limit)
                """
            } else {
                """
                SELECT \(unescaped: Self.messageColumns) FROM \(unescaped: t)messages
                WHERE user_id = \(user.rawValue) AND id < \(before ?? Int.max)
                ORDER BY id DESC LIMIT \(limit)
                """
            }
        return try await database.run(query).map(Self.message).reversed()
    }

    func turnRecords(user: UserID, conversation: Int) async throws -> [Int: TurnRecord] {
        let rows = try await database.run(
            """
            SELECT id, record FROM \(unescaped: t)messages
            WHERE conversation_id = \(conversation) AND user_id = \(user.rawValue) AND record IS NOT NULL
            """)
        return TurnRecord.byMessage(try rows.map { try $0.decode((Int, String).self) })
    }

    static func conversation(_ row: PostgresRow) throws -> Conversation {
        let (id, title, created, updated) = try row.decode((Int, String, Int, Int).self)
        return Conversation(id: id, title: title, createdAt: Clock.date(created), updatedAt: Clock.date(updated))
    }

    static func message(_ row: PostgresRow) throws -> Message {
        let (id, conversation, role, content, toolCalls, model, created) = try row.decode(
            (Int, Int, String, String, String, String?, Int).self)
        guard let role = MessageRole(rawValue: role) else { throw StoreError.corrupt(column: "role") }
        return Message(
            id: id, conversationID: conversation, role: role, content: content,
            toolCalls: try ToolCallsColumn.decode(toolCalls), model: model,
            createdAt: Clock.date(created))
    }
}

struct PostgresFeedbackRepository: FeedbackRepository {
    let schema: QuotedSchema
    let database: PostgresDatabase
    /// Where the tables are: `"tenant_acme".`, before every table name.
    private var t: String { schema.qualifier }

    func submit(user: UserID, messageID: Int, rating: FeedbackRating, comment: String?) async throws -> Feedback? {
        let now = Clock.nowMillis()
        // The SELECT only yields a row for an assistant message of this user's, so feedback on
        // anything else writes nothing.
        let row = try await database.run(
                """
                INSERT INTO \(unescaped: t)feedback (message_id, user_id, rating, comment, created_at)
                SELECT id, user_id, \(rating.rawValue), \(comment)::text, \(now) FROM \(unescaped: t)messages
                WHERE id = \(messageID) AND user_id = \(user.rawValue) AND role = 'assistant'
                ON CONFLICT (message_id, user_id) DO UPDATE
                    SET rating = excluded.rating, comment = excluded.comment, created_at = excluded.created_at
                RETURNING id, message_id, rating, comment, created_at
                """).first.map { try $0.decode((Int, Int, String, String?, Int).self) }
        guard let (id, message, storedRating, storedComment, created) = row else { return nil }
        return Feedback(
            id: id, messageID: message, rating: FeedbackRating(rawValue: storedRating) ?? rating, comment: storedComment,
            createdAt: Clock.date(created))
    }
}

extension PostgresFeedbackRepository: FeedbackExportRepository {
    func export(since: Date?, after: Int?, limit: Int) async throws -> [FeedbackExportRow] {
        let sinceMillis = since.map(Clock.millis) ?? 0
        return try await database.transaction(in: schema) { connection, logger in
            try await connection.query(
                """
                SELECT f.id, f.user_id, f.message_id, m.conversation_id, m.content, m.model, f.rating, f.comment, f.created_at
                FROM \(unescaped: t)feedback f JOIN \(unescaped: t)messages m ON m.id = f.message_id
                WHERE f.id > \(after ?? 0) AND f.created_at >= \(sinceMillis)
                ORDER BY f.id LIMIT \(limit)
                """, logger: logger
            ).collect().map { row in
                let (id, user, message, conversation, content, model, rating, comment, created) = try row.decode(
                    (Int, String, Int, Int, String, String?, String, String?, Int).self)
                return FeedbackExportRow(
                    id: id, user: user, messageID: message, conversationID: conversation, message: content, model: model,
                    rating: FeedbackRating(rawValue: rating) ?? .up, comment: comment, createdAt: Clock.date(created))
            }
        }
    }
}

/// Retention on one tenant's schema, in batches, each a transaction that first takes the tenant's
/// retention lock without waiting: while one replica purges a tenant, another one skips it.
struct PostgresRetention: RetentionRepository {
    let tenant: TenantID
    let schema: QuotedSchema
    let database: PostgresDatabase

    func purge(before cutoff: Date, dryRun: Bool) async throws -> PurgeReport {
        let cutoff = Clock.millis(cutoff)
        let lockKey = "parley.retention." + tenant.rawValue
        if dryRun {
            return try await database.transaction(in: schema) { connection, logger in
                let rows = try await connection.query(
                    """
                    SELECT (SELECT count(*) FROM messages WHERE created_at < \(cutoff))::bigint,
                           (SELECT count(*) FROM feedback WHERE message_id IN (SELECT id FROM messages WHERE created_at < \(cutoff)))::bigint,
                           (SELECT count(*) FROM conversations c WHERE c.updated_at < \(cutoff)
                              AND EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.created_at < \(cutoff))
                              AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.created_at >= \(cutoff)))::bigint
                    """, logger: logger
                ).collect()
                var report = PurgeReport()
                if let row = rows.first {
                    (report.messages, report.feedback, report.conversations) = try row.decode((Int, Int, Int).self)
                }
                return report
            }
        }
        var report = PurgeReport()
        while true {
            let batch = try await database.transaction(in: schema) { connection, logger -> PurgeReport in
                var batch = PurgeReport()
                let locked = try await connection.query("SELECT pg_try_advisory_xact_lock(hashtext(\(lockKey)))", logger: logger)
                    .collect().first?.decode(Bool.self) ?? false
                guard locked else {
                    batch.skipped = true
                    return batch
                }
                let doomed = try await connection.query(
                    "SELECT id, user_id, conversation_id FROM messages WHERE created_at < \(cutoff) ORDER BY id LIMIT \(Retention.batchSize) FOR UPDATE",
                    logger: logger
                ).collect()
                guard !doomed.isEmpty else { return batch }
                var ids: [Int] = []
                for row in doomed {
                    let (id, user, conversation) = try row.decode((Int, String, Int).self)
                    ids.append(id)
                    if let user = UserID(user) { batch.touched.insert(PurgeReport.Touched(user: user, conversation: conversation)) }
                }
                batch.messages = ids.count
                batch.feedback = try await connection.query(
                    "SELECT count(*)::bigint FROM feedback WHERE message_id = ANY(\(ids))", logger: logger
                ).collect().first?.decode(Int.self) ?? 0
                try await connection.query("DELETE FROM messages WHERE id = ANY(\(ids))", logger: logger)
                // Left empty, and nobody wrote to them since the cutoff (an append touches updated_at).
                let conversations = Array(Set(batch.touched.map(\.conversation)))
                batch.conversations = try await connection.query(
                    """
                    DELETE FROM conversations c WHERE c.id = ANY(\(conversations)) AND c.updated_at < \(cutoff)
                      AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id) RETURNING c.id
                    """, logger: logger
                ).collect().count
                return batch
            }
            if batch.skipped {
                report.skipped = report.messages == 0
                return report
            }
            report.add(batch)
            if batch.messages < Retention.batchSize { return report }
        }
    }
}
