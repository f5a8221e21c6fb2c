import Foundation

/// Storage protocols. Every method is scoped to one tenant (by the store it is called on) and
/// one user (by its `user` argument): there is no call that reads across users, so a route
/// cannot forget the check. SQLite (a file per tenant) and PostgreSQL
/// (a schema per tenant) implement them, and one test suite runs against both.

/// A partial change to a task. `nil` leaves a field as it is; an empty description clears it.
public struct TaskPatch: Sendable, Hashable {
    public var title: String?
    public var description: String?
    public var status: TaskStatus?

    public init(title: String? = nil, description: String? = nil, status: TaskStatus? = nil) {
        self.title = title
        self.description = description
        self.status = status
    }

    public var isEmpty: Bool { title == nil && description == nil && status == nil }
}

public protocol TaskRepository: Sendable {
    /// Creates a task with the user's next task number.
    func create(user: UserID, title: String, description: String?) async throws -> TodoTask
    /// The user's tasks in number order, optionally only those with `status`.
    func list(user: UserID, status: TaskStatus?) async throws -> [TodoTask]
    func get(user: UserID, id: Int) async throws -> TodoTask?
    /// Applies `patch`; `nil` when the user has no such task.
    func update(user: UserID, id: Int, patch: TaskPatch) async throws -> TodoTask?
    /// Deletes and returns the task; `nil` when the user has no such task.
    func delete(user: UserID, id: Int) async throws -> TodoTask?
    /// Puts a deleted task back under its own number (undo); `nil` when that number is in use
    /// or was never handed out, so a restore can neither overwrite a task nor invent a number.
    func restore(user: UserID, task: TodoTask) async throws -> TodoTask?
}

public protocol ConversationRepository: Sendable {
    func create(user: UserID, title: String) async throws -> Conversation
    func get(user: UserID, id: Int) async throws -> Conversation?
    /// Most recently active first; `before` is a conversation id to page from.
    func list(user: UserID, limit: Int, before: Int?) async throws -> [Conversation]
    /// Deletes the conversation with its messages and feedback; `false` when not the user's.
    func delete(user: UserID, id: Int) async throws -> Bool
    /// Gives the conversation a new title; `nil` when not the user's.
    func rename(user: UserID, id: Int, title: String) async throws -> Conversation?
    /// Sets the content of one of the user's assistant messages (an answer stored empty while it
    /// streams, for ChatKit); `nil` when there is no such message.
    func complete(
        user: UserID, message id: Int, content: String, toolCalls: [ToolCallRecord], model: String?, record: TurnRecord?
    ) async throws -> Message?
    /// Deletes the conversation's messages after `messageID` (a retried answer replaces them);
    /// returns how many went.
    func deleteMessages(user: UserID, conversation: Int, after messageID: Int) async throws -> Int
    /// Appends messages in order (one write) and touches the conversation.
    func append(user: UserID, conversation: Int, messages: [NewMessage]) async throws -> [Message]
    /// A new conversation with its first messages, in one write: a first turn commits once, and
    /// never leaves a conversation without its messages.
    func start(user: UserID, title: String, messages: [NewMessage]) async throws -> (Conversation, [Message])
    /// The newest `limit` messages with an id below `before`, returned oldest first; of one
    /// conversation, or of all the user's conversations when `conversation` is nil.
    func messages(user: UserID, conversation: Int?, limit: Int, before: Int?) async throws -> [Message]
    /// The records of the conversation's answers (how each came about), by message id; for admins
    /// debugging a turn. Answers stored without one are left out.
    func turnRecords(user: UserID, conversation: Int) async throws -> [Int: TurnRecord]
}

extension ConversationRepository {
    /// In two writes, for repositories that only pass calls on (they forward `start` where the
    /// store below does it in one).
    public func start(user: UserID, title: String, messages: [NewMessage]) async throws -> (Conversation, [Message]) {
        let conversation = try await create(user: user, title: title)
        return (conversation, try await append(user: user, conversation: conversation.id, messages: messages))
    }
}

public protocol FeedbackRepository: Sendable {
    /// Records (or replaces) the user's rating of one of their assistant messages;
    /// `nil` when the message is not an assistant message of the user's.
    func submit(user: UserID, messageID: Int, rating: FeedbackRating, comment: String?) async throws -> Feedback?
}

/// Feedback of every user of a tenant, for its admins: the one read across users, kept apart
/// from `FeedbackRepository` so that user routes cannot reach it.
public protocol FeedbackExportRepository: Sendable {
    /// Feedback in id order, from `after` on, optionally only since a date.
    func export(since: Date?, after: Int?, limit: Int) async throws -> [FeedbackExportRow]
}

/// What a retention purge removed from one tenant (with `dryRun`: would remove).
public struct PurgeReport: Sendable, Hashable {
    public var messages = 0
    /// Conversations left without messages, removed with their last old ones.
    public var conversations = 0
    /// Ratings of removed answers.
    public var feedback = 0
    /// The conversations that lost messages (for caches to forget them).
    public var touched: Set<Touched> = []
    /// Another process holds this tenant's purge (a replica's job): nothing was done here.
    public var skipped = false

    public struct Touched: Sendable, Hashable {
        public var user: UserID
        public var conversation: Int

        public init(user: UserID, conversation: Int) {
            self.user = user
            self.conversation = conversation
        }
    }

    public init() {}
}

/// Retention: removing a whole tenant's old messages. Across users, so it is kept apart from the
/// repositories routes use; only the retention job and `parley purge` call it.
public protocol RetentionRepository: Sendable {
    /// Deletes the messages created before `cutoff` (their feedback goes with them) and the
    /// conversations they leave empty that nobody wrote to since; nothing newer is touched. In
    /// batches, each committed on its own. With `dryRun` it only counts. One process at a time
    /// per tenant: a purge another process is running makes this one report `skipped`.
    func purge(before cutoff: Date, dryRun: Bool) async throws -> PurgeReport
}

/// Everything a tenant's store holds about one user, for them to take away.
public struct UserData: Sendable, Hashable {
    public var tasks: [TodoTask]
    /// Oldest first.
    public var conversations: [Conversation]
    /// Of every conversation, oldest first.
    public var messages: [Message]
    public var feedback: [Feedback]

    public init(tasks: [TodoTask], conversations: [Conversation], messages: [Message], feedback: [Feedback]) {
        self.tasks = tasks
        self.conversations = conversations
        self.messages = messages
        self.feedback = feedback
    }
}

/// What erasing a user removed.
public struct ErasureReport: Sendable, Hashable, Codable {
    public var tasks = 0
    public var conversations = 0
    public var messages = 0
    public var feedback = 0
    /// The conversations that went (for caches to forget them).
    public var conversationIDs: [Int] = []

    public init() {}

    enum CodingKeys: String, CodingKey {
        case tasks, conversations, messages, feedback
    }
}

/// A user's own data as a whole: the right of access and the right to erasure.
public protocol UserDataRepository: Sendable {
    /// Everything stored about the user in this tenant.
    func export(user: UserID) async throws -> UserData
    /// Deletes the user's tasks, conversations, messages, feedback and task counter, in one
    /// transaction: their next request starts from nothing, task numbers from 1 again.
    func erase(user: UserID) async throws -> ErasureReport
}

/// Everything stored for one tenant.
public protocol TenantStore: Sendable {
    var tenant: TenantID { get }
    var tasks: any TaskRepository { get }
    var conversations: any ConversationRepository { get }
    var feedback: any FeedbackRepository { get }
    var feedbackExport: any FeedbackExportRepository { get }
    var audit: any AuditLogRepository { get }
    var retention: any RetentionRepository { get }
    var userData: any UserDataRepository { get }
}

public enum TenantProvisioning: Sendable {
    /// Create the tenant's storage when it does not exist yet.
    case createIfMissing
    /// Only open tenants that were provisioned before.
    case existingOnly
}

/// Opens the stores of tenants and manages their schema.
public protocol TenantStoreProvider: Sendable {
    /// The tenant's store; throws `ParleyError.notFound` for an unknown tenant with `.existingOnly`.
    func store(for tenant: TenantID, provisioning: TenantProvisioning) async throws -> any TenantStore
    /// Creates and migrates a tenant's storage; `false` when it existed already.
    func provision(_ tenant: TenantID) async throws -> Bool
    /// Tenants that have storage.
    func tenants() async throws -> [TenantID]
    /// Brings every tenant to the latest schema; returns each tenant's version afterwards.
    func migrateAll() async throws -> [TenantID: Int]
    /// Undoes the latest migration of every tenant (operators only, with the servers stopped).
    func rollbackAll() async throws -> [TenantID: Int]
    /// Throws when the storage cannot serve requests (readiness).
    func checkHealth() async throws
    func close() async throws
}
