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

    @Test func aCachedContextIsExactlyWhatTheStoreHolds() async throws {
        let provider = try SQLiteStoreProvider(
            dataDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("parley-cache-\(UUID().uuidString)"),
            logger: Logger(label: "test"))
        let tenant = TenantID("exact_" + UUID().uuidString.prefix(8).lowercased())!
        let base = try await provider.store(for: tenant, provisioning: .createIfMissing)
        let pool = try TestRedis.pool()
        let cache = RedisContextCache(client: pool, ttl: .seconds(60), logger: Logger(label: "test"))
        let store = cache.wrap(base)
        let conversation = try await store.conversations.create(user: alice, title: "t")
        let call = ToolCallRecord(name: "add_task", arguments: ["title": "Milk | eggs"], result: ["task": ["id": 1]])
        _ = try await store.conversations.append(
            user: alice, conversation: conversation.id,
            messages: [
                NewMessage(role: .user, content: "pipes | and\nlines, café 🥛"),
                NewMessage(role: .assistant, content: "", toolCalls: [call], model: "gpt|4"),
            ])
        let fromStore = try await base.conversations.messages(user: alice, conversation: conversation.id, limit: 10, before: nil)
        #expect(try await store.conversations.messages(user: alice, conversation: conversation.id, limit: 10, before: nil) == fromStore)  // fills
        #expect(try await store.conversations.messages(user: alice, conversation: conversation.id, limit: 10, before: nil) == fromStore)  // cached
        _ = try await store.conversations.append(user: alice, conversation: conversation.id, messages: [NewMessage(role: .user, content: "next")])
        let carried = try await store.conversations.messages(user: alice, conversation: conversation.id, limit: 10, before: nil)
        #expect(carried == (try await base.conversations.messages(user: alice, conversation: conversation.id, limit: 10, before: nil)))

        // A fill that already saw a message, then that message's append: it is cached once.
        let racing = try await base.conversations.append(user: alice, conversation: conversation.id, messages: [NewMessage(role: .user, content: "raced")])
        await cache.invalidate(tenant: tenant, user: alice, conversation: conversation.id)
        _ = try await store.conversations.messages(user: alice, conversation: conversation.id, limit: 10, before: nil)  // refills with "raced"
        await cache.appended(racing, tenant: tenant, user: alice, conversation: conversation.id)
        // The version moved past the fill's, and the entry with it: served from the cache, once each.
        let afterRace = try await store.conversations.messages(user: alice, conversation: conversation.id, limit: 10, before: nil)
        #expect(afterRace.map(\.content).filter { $0 == "raced" }.count == 1)
        #expect(afterRace == (try await base.conversations.messages(user: alice, conversation: conversation.id, limit: 10, before: nil)))

        // The list keeps only the limit it was filled for.
        for index in 0..<12 {
            _ = try await store.conversations.append(user: alice, conversation: conversation.id, messages: [NewMessage(role: .user, content: "m\(index)")])
        }
        let (entryKey, _) = cache.keys(tenant, alice, conversation.id)
        #expect(try await pool.send(RESPCommand("LLEN", .string(entryKey))).int == 11)  // the header and 10
        #expect(try await store.conversations.messages(user: alice, conversation: conversation.id, limit: 3, before: nil).map(\.content) == ["m9", "m10", "m11"])
        await pool.shutdown()
    }

    @Test func theMessageCodecRoundTripsAndRefusesWhatItDidNotWrite() throws {
        let messages = [
            Message(id: 1, conversationID: 7, role: .user, content: "a|b|c", toolCalls: [], model: nil, createdAt: Date(timeIntervalSince1970: 1_796_620_244.599)),
            Message(
                id: 42, conversationID: 7, role: .assistant, content: "", toolCalls: [ToolCallRecord(name: "list_tasks", arguments: [:], result: ["tasks": []])],
                model: "", createdAt: Date(timeIntervalSinceReferenceDate: 0.1)),
            Message(id: 9_007_199_254_740_993, conversationID: 1, role: .assistant, content: "東京 🥛\n", toolCalls: [], model: "-", createdAt: Date()),
        ]
        for message in messages {
            #expect(CachedMessageCodec.decode(CachedMessageCodec.encode(message)) == message)
        }
        let good = CachedMessageCodec.encode(messages[0])
        #expect(CachedMessageCodec.decode(Array(good.dropLast())) == nil)  // a byte short
        #expect(CachedMessageCodec.decode(good + [0x41]) == nil)  // a byte over
        #expect(CachedMessageCodec.decode(Array(#"{"version":3,"limit":20,"messages":[]}"#.utf8)) == nil)  // the old JSON entry
        #expect(CachedMessageCodec.decode([]) == nil)
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
