import Foundation
import ParleyCore

/// A user's data on their tenant's file: read whole for an export, removed in one unit of the
/// writer's group commit for an erasure.
struct SQLiteUserData: UserDataRepository {
    let database: SQLiteDatabase

    func export(user: UserID) async throws -> UserData {
        let id: [SQLiteValue] = [.text(user.rawValue)]
        let tasks = try await database.query(
            "SELECT \(SQLiteTaskRepository.columns) FROM tasks WHERE user_id = ?1 ORDER BY number", id)
        let conversations = try await database.query(
            "SELECT id, title, created_at, updated_at FROM conversations WHERE user_id = ?1 ORDER BY id", id)
        let messages = try await database.query(
            "SELECT \(SQLiteConversationRepository.messageColumns) FROM messages WHERE user_id = ?1 ORDER BY id", id)
        let feedback = try await database.query(
            "SELECT id, message_id, rating, comment, created_at FROM feedback WHERE user_id = ?1 ORDER BY id", id)
        return UserData(
            tasks: try tasks.map(SQLiteTaskRepository.task), conversations: try conversations.map(SQLiteConversationRepository.conversation),
            messages: try messages.map(SQLiteConversationRepository.message),
            feedback: try feedback.map { row in
                guard let rating = FeedbackRating(rawValue: try row.string("rating")) else { throw StoreError.corrupt(column: "rating") }
                return Feedback(
                    id: try row.int("id"), messageID: try row.int("message_id"), rating: rating, comment: row.optionalString("comment"),
                    createdAt: try row.date("created_at"))
            })
    }

    func erase(user: UserID) async throws -> ErasureReport {
        try await database.transaction { connection in
            let id: [SQLiteValue] = [.text(user.rawValue)]
            var report = ErasureReport()
            // Children first: nothing relies on ON DELETE CASCADE.
            report.feedback = try connection.query("DELETE FROM feedback WHERE user_id = ?1 RETURNING id", id).count
            report.messages = try connection.query("DELETE FROM messages WHERE user_id = ?1 RETURNING id", id).count
            report.conversationIDs = try connection.query("DELETE FROM conversations WHERE user_id = ?1 RETURNING id", id)
                .map { try $0.int("id") }.sorted()
            report.conversations = report.conversationIDs.count
            report.tasks = try connection.query("DELETE FROM tasks WHERE user_id = ?1 RETURNING number", id).count
            _ = try connection.query("DELETE FROM users WHERE id = ?1", id)
            return report
        }
    }
}
