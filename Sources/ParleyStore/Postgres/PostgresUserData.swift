import Foundation
import ParleyCore
import PostgresNIO

/// A user's data in their tenant's schema: read in one snapshot for an export, removed in one
/// transaction for an erasure.
struct PostgresUserData: UserDataRepository {
    let schema: QuotedSchema
    let database: PostgresDatabase

    func export(user: UserID) async throws -> UserData {
        let id = user.rawValue
        // One transaction: the four reads on one connection, one round trip to the pool.
        return try await database.transaction(in: schema) { connection, logger in
            let tasks = try await connection.query(
                "SELECT \(unescaped: PostgresTaskRepository.columns) FROM tasks WHERE user_id = \(id) ORDER BY number", logger: logger
            ).collect().map(PostgresTaskRepository.task)
            let conversations = try await connection.query(
                "SELECT id, title, created_at, updated_at FROM conversations WHERE user_id = \(id) ORDER BY id", logger: logger
            ).collect().map(PostgresConversationRepository.conversation)
            let messages = try await connection.query(
                "SELECT \(unescaped: PostgresConversationRepository.messageColumns) FROM messages WHERE user_id = \(id) ORDER BY id",
                logger: logger
            ).collect().map(PostgresConversationRepository.message)
            let feedback = try await connection.query(
                "SELECT id, message_id, rating, comment, created_at FROM feedback WHERE user_id = \(id) ORDER BY id", logger: logger
            ).collect().map { row in
                let (feedbackID, message, rating, comment, created) = try row.decode((Int, Int, String, String?, Int).self)
                guard let rating = FeedbackRating(rawValue: rating) else { throw StoreError.corrupt(column: "rating") }
                return Feedback(id: feedbackID, messageID: message, rating: rating, comment: comment, createdAt: Clock.date(created))
            }
            return UserData(tasks: tasks, conversations: conversations, messages: messages, feedback: feedback)
        }
    }

    func erase(user: UserID) async throws -> ErasureReport {
        let id = user.rawValue
        return try await database.transaction(in: schema) { connection, logger in
            var report = ErasureReport()
            // Children first: nothing relies on ON DELETE CASCADE.
            report.feedback = try await connection.query("DELETE FROM feedback WHERE user_id = \(id) RETURNING id", logger: logger)
                .collect().count
            report.messages = try await connection.query("DELETE FROM messages WHERE user_id = \(id) RETURNING id", logger: logger)
                .collect().count
            report.conversationIDs = try await connection.query(
                "DELETE FROM conversations WHERE user_id = \(id) RETURNING id", logger: logger
            ).collect().map { try $0.decode(Int.self) }.sorted()
            report.conversations = report.conversationIDs.count
            report.tasks = try await connection.query("DELETE FROM tasks WHERE user_id = \(id) RETURNING number", logger: logger)
                .collect().count
            try await connection.query("DELETE FROM users WHERE id = \(id)", logger: logger)
            return report
        }
    }
}
