import Foundation
import Logging
import NIOCore
import ParleyCore
import Synchronization

/// The recent messages of conversations, cached in Redis for every replica: what a chat turn
/// reads before it calls the agent. Read-through (a miss reads the store and fills the cache),
/// and invalidated on write by bumping the conversation's version: an entry is served only if
/// it was filled at the current version, so a fill that raced a write is never served. An
/// append also carries the entry forward to the new version when it held the one before, so
/// the next turn of a conversation finds its context in the cache.
///
/// Redis down: reads go to the store. A version bump that failed is retried before the next
/// cached read, and until it succeeds that conversation is not read from the cache.
public final class RedisContextCache: Sendable {
    let client: any RedisClient
    let ttl: Duration
    let logger: Logger
    /// Version keys whose bump did not reach Redis yet.
    private let unbumped = Mutex<Set<String>>([])

    public init(client: any RedisClient, ttl: Duration, logger: Logger) {
        self.client = client
        self.ttl = ttl
        self.logger = logger
    }

    /// `store` with its conversations read through this cache.
    public func wrap(_ store: any TenantStore) -> any TenantStore {
        CachedTenantStore(base: store, cache: self)
    }

    struct Entry: Codable {
        var version: Int
        var limit: Int
        var messages: [Message]
    }

    func keys(_ tenant: TenantID, _ user: UserID, _ conversation: Int) -> (entry: String, version: String) {
        let suffix = "\(tenant.rawValue):\(user.rawValue):\(conversation)"
        return ("parley:ctx:" + suffix, "parley:ctxver:" + suffix)
    }

    /// The newest `limit` messages, from the cache when it holds at least that many at the
    /// current version; else from `load`, which then fills the cache.
    func messages(
        tenant: TenantID, user: UserID, conversation: Int, limit: Int, load: () async throws -> [Message]
    ) async throws -> [Message] {
        let (entryKey, versionKey) = keys(tenant, user, conversation)
        guard await flushBumps(), !unbumped.withLock({ $0.contains(versionKey) }) else { return try await load() }
        let replies: [RESPValue]
        do {
            replies = try await client.pipeline([RESPCommand("GET", .string(versionKey)), RESPCommand("GET", .string(entryKey))], timeout: nil)
        } catch {
            return try await load()
        }
        let version = replies.first?.int ?? 0
        if let cached = replies.last?.string, let entry = try? RedisJSON.decoder.decode(Entry.self, from: Data(cached.utf8)),
            entry.version == version, entry.limit >= limit
        {
            return Array(entry.messages.suffix(limit))
        }
        let messages = try await load()
        if let json = try? RedisJSON.encoder.encode(Entry(version: version, limit: limit, messages: messages)) {
            _ = try? await client.set(entryKey, to: .string(String(decoding: json, as: UTF8.self)), expiresIn: ttl)
        }
        return messages
    }

    /// After a write to the conversation (its messages or the conversation itself).
    /// Deletes the conversations' entries and versions. Thrown when Redis cannot be reached: an
    /// erasure must not report success while the cache still holds the user's messages.
    func forget(tenant: TenantID, user: UserID, conversations: [Int]) async throws {
        var keys: [String] = []
        for conversation in conversations {
            let (entry, version) = self.keys(tenant, user, conversation)
            keys += [entry, version]
        }
        // In slices, so one command stays small however many conversations the user had.
        for start in stride(from: 0, to: keys.count, by: 512) {
            _ = try await client.del(Array(keys[start..<min(start + 512, keys.count)]))
        }
    }

    func invalidate(tenant: TenantID, user: UserID, conversation: Int) async {
        let versionKey = keys(tenant, user, conversation).version
        if await !bump(versionKey) {
            unbumped.withLock { _ = $0.insert(versionKey) }
        }
    }

    /// After messages were appended: the new version, and the entry carried forward to it.
    func appended(_ messages: [Message], tenant: TenantID, user: UserID, conversation: Int) async {
        let (entryKey, versionKey) = keys(tenant, user, conversation)
        guard let replies = try? await client.pipeline(
            [
                RESPCommand("INCR", .string(versionKey)), RESPCommand("EXPIRE", .string(versionKey), "86400"),
                RESPCommand("GET", .string(entryKey)),
            ], timeout: nil), let version = replies.first?.int
        else {
            unbumped.withLock { _ = $0.insert(versionKey) }
            return
        }
        // Only an entry of the version just before holds every message up to this append.
        guard let cached = replies.last?.string, var entry = try? RedisJSON.decoder.decode(Entry.self, from: Data(cached.utf8)),
            entry.version == version - 1
        else { return }
        entry.version = version
        entry.messages = Array((entry.messages + messages).sorted { $0.id < $1.id }.suffix(entry.limit))
        if let json = try? RedisJSON.encoder.encode(entry) {
            _ = try? await client.set(entryKey, to: .string(String(decoding: json, as: UTF8.self)), expiresIn: ttl)
        }
    }

    private func bump(_ versionKey: String) async -> Bool {
        do {
            let replies = try await client.pipeline(
                [RESPCommand("INCR", .string(versionKey)), RESPCommand("EXPIRE", .string(versionKey), "86400")], timeout: nil)
            return replies.allSatisfy { if case .error = $0 { false } else { true } }
        } catch {
            logger.warning("conversation cache invalidation failed; retried later", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Retries failed bumps; `true` when none is left.
    private func flushBumps() async -> Bool {
        let pending = unbumped.withLock { $0 }
        guard !pending.isEmpty else { return true }
        for key in pending where await bump(key) {
            unbumped.withLock { _ = $0.remove(key) }
        }
        return unbumped.withLock { $0.isEmpty }
    }
}

/// A tenant's store whose conversation reads go through the cache.
struct CachedTenantStore: TenantStore {
    let base: any TenantStore
    let cache: RedisContextCache

    var tenant: TenantID { base.tenant }
    var tasks: any TaskRepository { base.tasks }
    var conversations: any ConversationRepository {
        CachedConversationRepository(base: base.conversations, tenant: base.tenant, cache: cache)
    }
    var feedback: any FeedbackRepository { base.feedback }
    var feedbackExport: any FeedbackExportRepository { base.feedbackExport }
    var audit: any AuditLogRepository { base.audit }
    var retention: any RetentionRepository { CachedRetention(base: base.retention, tenant: base.tenant, cache: cache) }
    var userData: any UserDataRepository { CachedUserData(base: base.userData, tenant: base.tenant, cache: cache) }
}

/// An erasure, then the cached context of every conversation it removed is deleted from Redis
/// (entries and versions): Redis keeps nothing of the user.
struct CachedUserData: UserDataRepository {
    let base: any UserDataRepository
    let tenant: TenantID
    let cache: RedisContextCache

    func export(user: UserID) async throws -> UserData {
        try await base.export(user: user)
    }

    func erase(user: UserID) async throws -> ErasureReport {
        let report = try await base.erase(user: user)
        try await cache.forget(tenant: tenant, user: user, conversations: report.conversationIDs)
        return report
    }
}

/// A purge, then the cached context of every conversation it took messages from is forgotten:
/// the cache never serves a purged message.
struct CachedRetention: RetentionRepository {
    let base: any RetentionRepository
    let tenant: TenantID
    let cache: RedisContextCache

    func purge(before cutoff: Date, dryRun: Bool) async throws -> PurgeReport {
        let report = try await base.purge(before: cutoff, dryRun: dryRun)
        for touched in report.touched { await cache.invalidate(tenant: tenant, user: touched.user, conversation: touched.conversation) }
        return report
    }
}

struct CachedConversationRepository: ConversationRepository {
    let base: any ConversationRepository
    let tenant: TenantID
    let cache: RedisContextCache

    func create(user: UserID, title: String) async throws -> Conversation {
        try await base.create(user: user, title: title)
    }

    func get(user: UserID, id: Int) async throws -> Conversation? {
        try await base.get(user: user, id: id)
    }

    func list(user: UserID, limit: Int, before: Int?) async throws -> [Conversation] {
        try await base.list(user: user, limit: limit, before: before)
    }

    func delete(user: UserID, id: Int) async throws -> Bool {
        let deleted = try await base.delete(user: user, id: id)
        if deleted { await cache.invalidate(tenant: tenant, user: user, conversation: id) }
        return deleted
    }

    func rename(user: UserID, id: Int, title: String) async throws -> Conversation? {
        try await base.rename(user: user, id: id, title: title)
    }

    func complete(
        user: UserID, message id: Int, content: String, toolCalls: [ToolCallRecord], model: String?, record: TurnRecord?
    ) async throws -> Message? {
        let completed = try await base.complete(user: user, message: id, content: content, toolCalls: toolCalls, model: model, record: record)
        if let completed { await cache.invalidate(tenant: tenant, user: user, conversation: completed.conversationID) }
        return completed
    }

    func deleteMessages(user: UserID, conversation: Int, after messageID: Int) async throws -> Int {
        let deleted = try await base.deleteMessages(user: user, conversation: conversation, after: messageID)
        await cache.invalidate(tenant: tenant, user: user, conversation: conversation)
        return deleted
    }

    func append(user: UserID, conversation: Int, messages: [NewMessage]) async throws -> [Message] {
        let stored = try await base.append(user: user, conversation: conversation, messages: messages)
        await cache.appended(stored, tenant: tenant, user: user, conversation: conversation)
        return stored
    }

    func turnRecords(user: UserID, conversation: Int) async throws -> [Int: TurnRecord] {
        try await base.turnRecords(user: user, conversation: conversation)
    }

    func messages(user: UserID, conversation: Int?, limit: Int, before: Int?) async throws -> [Message] {
        // Only the newest messages of one conversation (a chat turn's context) are cached.
        guard let conversation, before == nil else {
            return try await base.messages(user: user, conversation: conversation, limit: limit, before: before)
        }
        return try await cache.messages(tenant: tenant, user: user, conversation: conversation, limit: limit) {
            try await base.messages(user: user, conversation: conversation, limit: limit, before: nil)
        }
    }
}
