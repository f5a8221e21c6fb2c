import Foundation
import Logging
import ParleyCore
import ParleyStore
import Synchronization
import Testing

@testable import ParleyRedis

/// Counts the reads that reach the real (SQLite) store under the cache.
final class ReadCounter: Sendable {
    let reads = Mutex(0)
}

struct CountingStore: TenantStore {
    let base: any TenantStore
    let counter: ReadCounter
    var tenant: TenantID { base.tenant }
    var tasks: any TaskRepository { base.tasks }
    var conversations: any ConversationRepository { CountingConversations(base: base.conversations, counter: counter) }
    var feedback: any FeedbackRepository { base.feedback }
    var feedbackExport: any FeedbackExportRepository { base.feedbackExport }
    var audit: any AuditLogRepository { base.audit }
    var retention: any RetentionRepository { base.retention }
    var userData: any UserDataRepository { base.userData }
}

struct CountingConversations: ConversationRepository {
    let base: any ConversationRepository
    let counter: ReadCounter
    func create(user: UserID, title: String) async throws -> Conversation { try await base.create(user: user, title: title) }
    func get(user: UserID, id: Int) async throws -> Conversation? { try await base.get(user: user, id: id) }
    func list(user: UserID, limit: Int, before: Int?) async throws -> [Conversation] { try await base.list(user: user, limit: limit, before: before) }
    func delete(user: UserID, id: Int) async throws -> Bool { try await base.delete(user: user, id: id) }
    func rename(user: UserID, id: Int, title: String) async throws -> Conversation? { try await base.rename(user: user, id: id, title: title) }
    func complete(
        user: UserID, message id: Int, content: String, toolCalls: [ToolCallRecord], model: String?, record: TurnRecord?
    ) async throws -> Message? {
        try await base.complete(user: user, message: id, content: content, toolCalls: toolCalls, model: model, record: record)
    }
    func deleteMessages(user: UserID, conversation: Int, after messageID: Int) async throws -> Int {
        try await base.deleteMessages(user: user, conversation: conversation, after: messageID)
    }
    func append(user: UserID, conversation: Int, messages: [NewMessage]) async throws -> [Message] {
        try await base.append(user: user, conversation: conversation, messages: messages)
    }
    func turnRecords(user: UserID, conversation: Int) async throws -> [Int: TurnRecord] {
        try await base.turnRecords(user: user, conversation: conversation)
    }
    func messages(user: UserID, conversation: Int?, limit: Int, before: Int?) async throws -> [Message] {
        counter.reads.withLock { $0 += 1 }
        return try await base.messages(user: user, conversation: conversation, limit: limit, before: before)
    }
}

@Suite("Conversation context cache in Redis")
struct ContextCacheTests {
    let alice = UserID("alice")!

    @Test func readsThroughFollowsAppendsAndSeesOtherReplicasWrites() async throws {
        let provider = try SQLiteStoreProvider(
            dataDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("parley-cache-\(UUID().uuidString)"),
            logger: Logger(label: "test"))
        let tenant = TenantID("cache_" + UUID().uuidString.prefix(8).lowercased())!
        let counter = ReadCounter()
        let base = CountingStore(base: try await provider.store(for: tenant, provisioning: .createIfMissing), counter: counter)
        let pools = [try TestRedis.pool(), try TestRedis.pool()]
        // Two caches on one Redis: two replicas.
        let replicas = pools.map { RedisContextCache(client: $0, ttl: .seconds(60), logger: Logger(label: "test")).wrap(base) }
        let conversation = try await replicas[0].conversations.create(user: alice, title: "t")
        func context(_ replica: Int) async throws -> [String] {
            try await replicas[replica].conversations.messages(user: alice, conversation: conversation.id, limit: 3, before: nil).map(\.content)
        }

        _ = try await replicas[0].conversations.append(
            user: alice, conversation: conversation.id, messages: [NewMessage(role: .user, content: "one")])
        #expect(try await context(0) == ["one"])
        #expect(counter.reads.withLock { $0 } == 1)
        #expect(try await context(1) == ["one"])  // the other replica finds it in Redis
        #expect(counter.reads.withLock { $0 } == 1)

        // An append carries the cached context forward: the next turn reads no database.
        _ = try await replicas[1].conversations.append(
            user: alice, conversation: conversation.id,
            messages: [NewMessage(role: .assistant, content: "two", model: "basic"), NewMessage(role: .user, content: "three")])
        #expect(try await context(0) == ["one", "two", "three"])
        _ = try await replicas[0].conversations.append(
            user: alice, conversation: conversation.id, messages: [NewMessage(role: .assistant, content: "four", model: "basic")])
        #expect(try await context(1) == ["two", "three", "four"])
        #expect(counter.reads.withLock { $0 } == 1)

        // Deleting bumps the version: the next read goes to the store, which has nothing left.
        #expect(try await replicas[0].conversations.delete(user: alice, id: conversation.id))
        #expect(try await context(1) == [])
        #expect(counter.reads.withLock { $0 } == 2)
        for pool in pools { await pool.shutdown() }
    }

    @Test func aPurgeLeavesNothingOfWhatItRemovedInTheCache() async throws {
        let provider = try SQLiteStoreProvider(
            dataDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("parley-cache-\(UUID().uuidString)"),
            logger: Logger(label: "test"))
        let tenant = TenantID("purge_" + UUID().uuidString.prefix(8).lowercased())!
        let pool = try TestRedis.pool()
        let store = RedisContextCache(client: pool, ttl: .seconds(60), logger: Logger(label: "test"))
            .wrap(try await provider.store(for: tenant, provisioning: .createIfMissing))
        let conversation = try await store.conversations.create(user: alice, title: "t")
        _ = try await store.conversations.append(user: alice, conversation: conversation.id, messages: [NewMessage(role: .user, content: "old")])
        try await Task.sleep(for: .milliseconds(20))
        let cutoff = Date()
        try await Task.sleep(for: .milliseconds(20))
        _ = try await store.conversations.append(user: alice, conversation: conversation.id, messages: [NewMessage(role: .user, content: "new")])
        func context() async throws -> [String] {
            try await store.conversations.messages(user: alice, conversation: conversation.id, limit: 5, before: nil).map(\.content)
        }
        #expect(try await context() == ["old", "new"])  // cached now
        let report = try await store.retention.purge(before: cutoff, dryRun: false)
        #expect(report.messages == 1)
        #expect(try await context() == ["new"])
        await pool.shutdown()
    }

    @Test func redisDownMeansReadsGoToTheStore() async throws {
        let provider = try SQLiteStoreProvider(
            dataDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("parley-cache-\(UUID().uuidString)"),
            logger: Logger(label: "test"))
        let counter = ReadCounter()
        let base = CountingStore(base: try await provider.store(for: TenantID("acme")!, provisioning: .createIfMissing), counter: counter)
        let down = RedisConnectionPool(configuration: RedisConfiguration(host: "127.0.0.1", port: 1), logger: Logger(label: "test"))
        let store = RedisContextCache(client: down, ttl: .seconds(60), logger: Logger(label: "test")).wrap(base)
        let conversation = try await store.conversations.create(user: alice, title: "t")
        _ = try await store.conversations.append(user: alice, conversation: conversation.id, messages: [NewMessage(role: .user, content: "hi")])
        #expect(try await store.conversations.messages(user: alice, conversation: conversation.id, limit: 5, before: nil).map(\.content) == ["hi"])
        #expect(try await store.conversations.messages(user: alice, conversation: conversation.id, limit: 5, before: nil).map(\.content) == ["hi"])
        #expect(counter.reads.withLock { $0 } == 2)
    }
}
