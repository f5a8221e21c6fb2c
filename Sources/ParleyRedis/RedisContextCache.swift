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
/// An entry is a Redis list: a header `<version>:<limit>`, then the messages oldest first, each in
/// `CachedMessageCodec`'s form. A turn reads it with the version in one round trip and decodes no
/// JSON; an append pushes only the new messages, in one script (`appendScript`), instead of
/// reading, decoding, re-encoding and writing back the whole context.
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

    func keys(_ tenant: TenantID, _ user: UserID, _ conversation: Int) -> (entry: String, version: String) {
        let suffix = "\(tenant.rawValue):\(user.rawValue):\(conversation)"
        // Entries were JSON strings under `parley:ctx:` before they were lists; the new name keeps
        // replicas of both kinds during a rollout from reading each other's entries (the
        // versions they share).
        return ("parley:ctxlist:" + suffix, "parley:ctxver:" + suffix)
    }

    private var ttlMilliseconds: Int { Int(ttl.components.seconds * 1000 + ttl.components.attoseconds / 1_000_000_000_000_000) }

    /// The newest `limit` messages, from the cache when it holds at least that many at the
    /// current version; else from `load`, which then fills the cache.
    func messages(
        tenant: TenantID, user: UserID, conversation: Int, limit: Int, load: () async throws -> [Message]
    ) async throws -> [Message] {
        let (entryKey, versionKey) = keys(tenant, user, conversation)
        guard limit > 0, await flushBumps(), !unbumped.withLock({ $0.contains(versionKey) }) else { return try await load() }
        let replies: [RESPValue]
        do {
            replies = try await client.pipeline(
                [RESPCommand("GET", .string(versionKey)), RESPCommand("LRANGE", .string(entryKey), "0", "-1")], timeout: nil)
        } catch {
            return try await load()
        }
        let version = replies.first?.int ?? 0
        if let cached = replies.last.flatMap(Self.entry), cached.version == version, cached.limit >= limit {
            return Array(cached.messages.suffix(limit))
        }
        let messages = try await load()
        // Nothing to keep: a conversation without messages yet, or none of this user's (a turn
        // reads the context while the conversation's owner is checked).
        guard !messages.isEmpty else { return messages }
        var fill = [RESPArgument.string(entryKey), .string("\(version):\(limit)")]
        fill += messages.map { .bytes(ByteBuffer(bytes: CachedMessageCodec.encode($0))) }
        _ = try? await client.pipeline(
            [
                RESPCommand("DEL", .string(entryKey)), RESPCommand("RPUSH", arguments: fill),
                RESPCommand("PEXPIRE", .string(entryKey), .integer(ttlMilliseconds)),
            ], timeout: nil)
        return messages
    }

    /// A cached list: its header and messages, `nil` when missing or unreadable.
    static func entry(_ reply: RESPValue) -> (version: Int, limit: Int, messages: [Message])? {
        guard let elements = reply.array, let head = elements.first?.string else { return nil }
        let parts = head.split(separator: ":")
        guard parts.count == 2, let version = Int(parts[0]), let limit = Int(parts[1]) else { return nil }
        var messages: [Message] = []
        messages.reserveCapacity(elements.count - 1)
        for element in elements.dropFirst() {
            guard case .bulkString(let bytes) = element, let message = CachedMessageCodec.decode(bytes) else { return nil }
            messages.append(message)
        }
        return (version, limit, messages)
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
        let sorted = messages.sorted { $0.id < $1.id }
        var arguments: [RESPArgument] = [.integer(ttlMilliseconds)]
        arguments += sorted.map { .bytes(ByteBuffer(bytes: CachedMessageCodec.encode($0))) }
        let ids = sorted.map { RESPArgument.integer($0.id) }
        do {
            _ = try await client.run(Self.appendScript, keys: [versionKey, entryKey], arguments: [.integer(ids.count)] + ids + arguments)
        } catch {
            unbumped.withLock { _ = $0.insert(versionKey) }
        }
    }

    /// KEYS: version, entry. ARGV: n, n ids, the TTL in ms, n encoded messages (ascending ids).
    /// Bumps the version; only an entry of the version just before holds every message up to this
    /// append, so only that one is carried forward: the messages newer than its newest are pushed,
    /// the oldest beyond its limit dropped, and the header moved to the new version.
    static let appendScript = RedisScript(
        """
        local version = redis.call('INCR', KEYS[1])
        redis.call('EXPIRE', KEYS[1], 86400)
        local head = redis.call('LINDEX', KEYS[2], 0)
        if not head then return version end
        local separator = string.find(head, ':', 1, true)
        if not separator or tonumber(string.sub(head, 1, separator - 1)) ~= version - 1 then return version end
        local limit = tonumber(string.sub(head, separator + 1))
        local newest = 0
        if redis.call('LLEN', KEYS[2]) > 1 then
            local last = redis.call('LINDEX', KEYS[2], -1)
            newest = tonumber(string.sub(last, 1, string.find(last, '|', 1, true) - 1))
        end
        local n = tonumber(ARGV[1])
        redis.call('LPOP', KEYS[2])
        for i = 1, n do
            if tonumber(ARGV[1 + i]) > newest then redis.call('RPUSH', KEYS[2], ARGV[2 + n + i]) end
        end
        redis.call('LTRIM', KEYS[2], -limit, -1)
        redis.call('LPUSH', KEYS[2], version .. ':' .. limit)
        redis.call('PEXPIRE', KEYS[2], ARGV[2 + n])
        return version
        """)

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

    /// A new conversation has nothing cached and no version yet: nothing to carry forward.
    func start(user: UserID, title: String, messages: [NewMessage]) async throws -> (Conversation, [Message]) {
        try await base.start(user: user, title: title, messages: messages)
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
