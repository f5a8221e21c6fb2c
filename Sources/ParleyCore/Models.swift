import Foundation

public enum TaskStatus: String, Sendable, Codable, CaseIterable {
    case pending
    case completed
}

/// A to-do item. `id` is the user's own task number: a user's first task is 1, and a number is
/// never reused, even after the task is deleted.
public struct TodoTask: Sendable, Hashable, Codable {
    public var id: Int
    public var title: String
    public var description: String?
    public var status: TaskStatus
    public var createdAt: Date
    public var updatedAt: Date
    public var completedAt: Date?

    public init(
        id: Int, title: String, description: String?, status: TaskStatus, createdAt: Date, updatedAt: Date,
        completedAt: Date?
    ) {
        self.id = id
        self.title = title
        self.description = description
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.completedAt = completedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, title, description, status
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case completedAt = "completed_at"
    }
}

public struct Conversation: Sendable, Hashable, Codable {
    public var id: Int
    public var title: String
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: Int, title: String, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.title = title
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, title
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

public enum MessageRole: String, Sendable, Codable {
    case user
    case assistant
}

/// One tool call the agent made while answering, with what the tool returned.
public struct ToolCallRecord: Sendable, Hashable, Codable {
    public var name: String
    public var arguments: JSONValue
    public var result: JSONValue

    public init(name: String, arguments: JSONValue, result: JSONValue) {
        self.name = name
        self.arguments = arguments
        self.result = result
    }
}

public struct Message: Sendable, Hashable, Codable {
    public var id: Int
    public var conversationID: Int
    public var role: MessageRole
    public var content: String
    public var toolCalls: [ToolCallRecord]
    public var model: String?
    public var createdAt: Date

    public init(
        id: Int, conversationID: Int, role: MessageRole, content: String, toolCalls: [ToolCallRecord], model: String?,
        createdAt: Date
    ) {
        self.id = id
        self.conversationID = conversationID
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.model = model
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, role, content, model
        case conversationID = "conversation_id"
        case toolCalls = "tool_calls"
        case createdAt = "created_at"
    }
}

/// A message about to be stored (the store assigns id and time).
public struct NewMessage: Sendable, Hashable {
    public var role: MessageRole
    public var content: String
    public var toolCalls: [ToolCallRecord]
    public var model: String?
    /// How an answer came about (providers, model calls, request id), for admins: stored beside
    /// the message, read only by `ConversationRepository.turnRecords`.
    public var record: TurnRecord?

    public init(role: MessageRole, content: String, toolCalls: [ToolCallRecord] = [], model: String? = nil, record: TurnRecord? = nil) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.model = model
        self.record = record
    }
}

public enum FeedbackRating: String, Sendable, Codable {
    case up
    case down
}

public struct Feedback: Sendable, Hashable, Codable {
    public var id: Int
    public var messageID: Int
    public var rating: FeedbackRating
    public var comment: String?
    public var createdAt: Date

    public init(id: Int, messageID: Int, rating: FeedbackRating, comment: String?, createdAt: Date) {
        self.id = id
        self.messageID = messageID
        self.rating = rating
        self.comment = comment
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, rating, comment
        case messageID = "message_id"
        case createdAt = "created_at"
    }
}

/// One rating as an admin exports it: with who gave it and the answer it rates.
public struct FeedbackExportRow: Sendable, Hashable, Codable {
    public var id: Int
    public var user: String
    public var messageID: Int
    public var conversationID: Int
    /// The rated assistant message.
    public var message: String
    public var model: String?
    public var rating: FeedbackRating
    public var comment: String?
    public var createdAt: Date

    public init(
        id: Int, user: String, messageID: Int, conversationID: Int, message: String, model: String?,
        rating: FeedbackRating, comment: String?, createdAt: Date
    ) {
        self.id = id
        self.user = user
        self.messageID = messageID
        self.conversationID = conversationID
        self.message = message
        self.model = model
        self.rating = rating
        self.comment = comment
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, user, message, model, rating, comment
        case messageID = "message_id"
        case conversationID = "conversation_id"
        case createdAt = "created_at"
    }
}
