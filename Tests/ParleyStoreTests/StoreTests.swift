import Foundation
import Logging
import ParleyCore
import SQLiteNIO
import Testing

@testable import ParleyStore

/// The storage suite: every test runs against the embedded store (SQLite files) and the
/// production one (a PostgreSQL schema per tenant), with the same expectations.
@Suite("Store")
struct StoreTests {
    let alice = UserID("alice")!
    let bob = UserID("bob")!

    @Test(arguments: Backend.allCases) func taskNumbersArePerUserAndNeverReused(backend: Backend) async throws {
        let fixture = try await backend.fixture()
        let store = try await fixture.provider.store(for: fixture.tenant("acme"), provisioning: .createIfMissing)
        #expect(try await store.tasks.create(user: alice, title: "a1", description: nil).id == 1)
        #expect(try await store.tasks.create(user: alice, title: "a2", description: nil).id == 2)
        #expect(try await store.tasks.create(user: bob, title: "b1", description: nil).id == 1)
        #expect(try await store.tasks.delete(user: alice, id: 2)?.title == "a2")
        #expect(try await store.tasks.create(user: alice, title: "a3", description: nil).id == 3)
        #expect(try await store.tasks.list(user: alice, status: nil).map(\.id) == [1, 3])
    }

    @Test(arguments: Backend.allCases) func aDeletedTaskIsRestoredUnderItsNumberOnly(backend: Backend) async throws {
        let fixture = try await backend.fixture()
        let store = try await fixture.provider.store(for: fixture.tenant("acme"), provisioning: .createIfMissing)
        _ = try await store.tasks.create(user: alice, title: "a1", description: nil)
        _ = try await store.tasks.create(user: alice, title: "a2", description: "second")
        let completed = try #require(try await store.tasks.update(user: alice, id: 2, patch: TaskPatch(status: .completed)))
        let deleted = try #require(try await store.tasks.delete(user: alice, id: 2))

        let restored = try #require(try await store.tasks.restore(user: alice, task: deleted))
        #expect(restored.id == 2 && restored.title == "a2" && restored.description == "second" && restored.status == .completed)
        #expect(restored.createdAt == completed.createdAt && restored.completedAt == completed.completedAt)
        // Not over a task in use, not under a number never handed out, not into another user's list.
        #expect(try await store.tasks.restore(user: alice, task: deleted) == nil)
        var invented = deleted
        invented.id = 7
        #expect(try await store.tasks.restore(user: alice, task: invented) == nil)
        #expect(try await store.tasks.restore(user: bob, task: deleted) == nil)
        #expect(try await store.tasks.list(user: alice, status: nil).map(\.id) == [1, 2])
        #expect(try await store.tasks.list(user: bob, status: nil).isEmpty)
        #expect(try await store.tasks.create(user: alice, title: "a3", description: nil).id == 3)
    }

    @Test(arguments: Backend.allCases) func concurrentCreatesGetDistinctNumbers(backend: Backend) async throws {
        let fixture = try await backend.fixture()
        let store = try await fixture.provider.store(for: fixture.tenant("acme"), provisioning: .createIfMissing)
        let ids = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<40 {
                group.addTask { try await store.tasks.create(user: alice, title: "t\(index)", description: nil).id }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(Set(ids) == Set(1...40))
    }

    @Test(arguments: Backend.allCases) func usersCannotReachEachOthersTasks(backend: Backend) async throws {
        let fixture = try await backend.fixture()
        let store = try await fixture.provider.store(for: fixture.tenant("acme"), provisioning: .createIfMissing)
        let task = try await store.tasks.create(user: alice, title: "secret", description: nil)
        #expect(try await store.tasks.get(user: bob, id: task.id) == nil)
        #expect(try await store.tasks.update(user: bob, id: task.id, patch: TaskPatch(title: "pwned")) == nil)
        #expect(try await store.tasks.delete(user: bob, id: task.id) == nil)
        #expect(try await store.tasks.get(user: alice, id: task.id)?.title == "secret")
    }

    @Test(arguments: Backend.allCases) func tenantsAreSeparate(backend: Backend) async throws {
        let fixture = try await backend.fixture()
        let provider = fixture.provider
        let (acme, globex) = (fixture.tenant("acme"), fixture.tenant("globex"))
        let acmeStore = try await provider.store(for: acme, provisioning: .createIfMissing)
        let globexStore = try await provider.store(for: globex, provisioning: .createIfMissing)
        _ = try await acmeStore.tasks.create(user: alice, title: "acme task", description: nil)
        #expect(try await globexStore.tasks.list(user: alice, status: nil).isEmpty)
        let tenants = try await provider.tenants()
        #expect(tenants.contains(acme) && tenants.contains(globex))
        #expect(try await provider.provision(acme) == false)
        let initech = fixture.tenant("initech")
        await #expect(throws: ParleyError.notFound("tenant \(initech)")) {
            try await provider.store(for: initech, provisioning: .existingOnly)
        }
        #expect(try await provider.provision(initech) == true)
        #expect(try await provider.store(for: initech, provisioning: .existingOnly).tenant == initech)
    }

    @Test(arguments: Backend.allCases) func completingAndReopeningTracksCompletionTime(backend: Backend) async throws {
        let fixture = try await backend.fixture()
        let store = try await fixture.provider.store(for: fixture.tenant("acme"), provisioning: .createIfMissing)
        _ = try await store.tasks.create(user: alice, title: "t", description: "d")
        let done = try #require(try await store.tasks.update(user: alice, id: 1, patch: TaskPatch(status: .completed)))
        #expect(done.status == .completed && done.completedAt != nil)
        let again = try #require(try await store.tasks.update(user: alice, id: 1, patch: TaskPatch(status: .completed)))
        #expect(again.completedAt == done.completedAt)
        let reopened = try #require(try await store.tasks.update(user: alice, id: 1, patch: TaskPatch(status: .pending)))
        #expect(reopened.status == .pending && reopened.completedAt == nil)
        let cleared = try #require(try await store.tasks.update(user: alice, id: 1, patch: TaskPatch(description: "")))
        #expect(cleared.description == nil)
    }

    @Test(arguments: Backend.allCases) func conversationsKeepMessagesInOrderAndDeleteWithThem(backend: Backend) async throws {
        let fixture = try await backend.fixture()
        let store = try await fixture.provider.store(for: fixture.tenant("acme"), provisioning: .createIfMissing)
        let conversation = try await store.conversations.create(user: alice, title: "hello")
        let call = ToolCallRecord(name: "add_task", arguments: ["title": "x"], result: ["task": ["id": 1]])
        let stored = try await store.conversations.append(
            user: alice, conversation: conversation.id,
            messages: [NewMessage(role: .user, content: "hi"), NewMessage(role: .assistant, content: "hello", toolCalls: [call], model: "basic")])
        #expect(stored.map(\.role) == [.user, .assistant])
        #expect(stored[1].toolCalls == [call])

        let page = try await store.conversations.messages(user: alice, conversation: conversation.id, limit: 1, before: nil)
        #expect(page.map(\.content) == ["hello"])
        let older = try await store.conversations.messages(user: alice, conversation: conversation.id, limit: 10, before: page[0].id)
        #expect(older.map(\.content) == ["hi"])
        #expect(try await store.conversations.messages(user: bob, conversation: conversation.id, limit: 10, before: nil).isEmpty)

        #expect(try await store.feedback.submit(user: alice, messageID: stored[1].id, rating: .up, comment: "nice") != nil)
        #expect(try await store.conversations.delete(user: bob, id: conversation.id) == false)
        #expect(try await store.conversations.delete(user: alice, id: conversation.id) == true)
        #expect(try await store.conversations.get(user: alice, id: conversation.id) == nil)
        #expect(try await store.conversations.messages(user: alice, conversation: nil, limit: 10, before: nil).isEmpty)
    }

    @Test(arguments: Backend.allCases) func aConversationStartsWithItsFirstMessagesInOneWrite(backend: Backend) async throws {
        let fixture = try await backend.fixture()
        let store = try await fixture.provider.store(for: fixture.tenant("acme"), provisioning: .createIfMissing)
        let call = ToolCallRecord(name: "add_task", arguments: ["title": "milk"], result: ["task": ["id": 1]])
        // A user the store has never seen: the user, the conversation and both messages at once.
        let (conversation, stored) = try await store.conversations.start(
            user: alice, title: "add milk",
            messages: [NewMessage(role: .user, content: "add milk"), NewMessage(role: .assistant, content: "Added.", toolCalls: [call], model: "basic")])
        #expect(conversation.title == "add milk")
        #expect(stored.map(\.role) == [.user, .assistant] && stored[0].id < stored[1].id)
        #expect(stored.allSatisfy { $0.conversationID == conversation.id })
        #expect(stored[1].toolCalls == [call] && stored[1].model == "basic")
        #expect(try await store.conversations.get(user: alice, id: conversation.id) == conversation)
        #expect(try await store.conversations.messages(user: alice, conversation: conversation.id, limit: 10, before: nil) == stored)
        #expect(try await store.conversations.get(user: bob, id: conversation.id) == nil)
        // The next conversation of the same user, with one message (ChatKit's question first).
        let (next, question) = try await store.conversations.start(user: alice, title: "two", messages: [NewMessage(role: .user, content: "two")])
        #expect(next.id > conversation.id && question.map(\.content) == ["two"])
        #expect(try await store.conversations.list(user: alice, limit: 10, before: nil).map(\.id).sorted() == [conversation.id, next.id])
    }

    @Test(arguments: Backend.allCases) func answersAreCompletedRenamedAndTrimmedOnlyByTheirOwner(backend: Backend) async throws {
        let fixture = try await backend.fixture()
        let store = try await fixture.provider.store(for: fixture.tenant("acme"), provisioning: .createIfMissing)
        let conversation = try await store.conversations.create(user: alice, title: "first")
        let stored = try await store.conversations.append(
            user: alice, conversation: conversation.id,
            messages: [NewMessage(role: .user, content: "q1"), NewMessage(role: .assistant, content: ""), NewMessage(role: .user, content: "q2")])
        let call = ToolCallRecord(name: "add_task", arguments: ["title": "x"], result: ["task": ["id": 1]])
        #expect(try await store.conversations.complete(user: bob, message: stored[1].id, content: "a1", toolCalls: [], model: nil, record: nil) == nil)
        #expect(try await store.conversations.complete(user: alice, message: stored[0].id, content: "not an answer", toolCalls: [], model: nil, record: nil) == nil)
        let answer = try #require(try await store.conversations.complete(user: alice, message: stored[1].id, content: "a1", toolCalls: [call], model: "basic", record: nil))
        #expect(answer.content == "a1" && answer.toolCalls == [call] && answer.model == "basic" && answer.createdAt == stored[1].createdAt)

        #expect(try await store.conversations.rename(user: bob, id: conversation.id, title: "pwned") == nil)
        #expect(try await store.conversations.rename(user: alice, id: conversation.id, title: "Groceries")?.title == "Groceries")

        #expect(try await store.conversations.deleteMessages(user: bob, conversation: conversation.id, after: stored[0].id) == 0)
        #expect(try await store.conversations.deleteMessages(user: alice, conversation: conversation.id, after: stored[0].id) == 2)
        let left = try await store.conversations.messages(user: alice, conversation: conversation.id, limit: 10, before: nil)
        #expect(left.map(\.content) == ["q1"])
    }

    @Test(arguments: Backend.allCases) func turnRecordsAreKeptWithTheirAnswerAndReadOnlyForItsUser(backend: Backend) async throws {
        let fixture = try await backend.fixture()
        let store = try await fixture.provider.store(for: fixture.tenant("acme"), provisioning: .createIfMissing)
        let conversation = try await store.conversations.create(user: alice, title: "t")
        let record = TurnRecord(
            provider: "second", fallbacks: [.init(provider: "first", reason: "timeout")],
            modelCalls: [
                ModelCallRecord(provider: "first", requestModel: "m1", outcome: "timeout", duration: .milliseconds(1500)),
                ModelCallRecord(
                    provider: "second", requestModel: "m2", responseModel: "m2-0601", outcome: "ok", duration: .microseconds(12_345),
                    timeToFirstToken: .milliseconds(4), inputTokens: 30, outputTokens: 7, finishReason: "stop"),
            ],
            duration: .milliseconds(1520), requestID: "req-1")
        let stored = try await store.conversations.append(
            user: alice, conversation: conversation.id,
            messages: [NewMessage(role: .user, content: "q"), NewMessage(role: .assistant, content: "a", model: "m2", record: record)])
        // A ChatKit answer gets its record when it is completed.
        let more = try await store.conversations.append(
            user: alice, conversation: conversation.id, messages: [NewMessage(role: .user, content: "q2"), NewMessage(role: .assistant, content: "")])
        let second = TurnRecord(duration: .milliseconds(2), requestID: "req-2")
        _ = try await store.conversations.complete(user: alice, message: more[1].id, content: "a2", toolCalls: [], model: "basic", record: second)

        let records = try await store.conversations.turnRecords(user: alice, conversation: conversation.id)
        #expect(records == [stored[1].id: record, more[1].id: second])
        #expect(records[stored[1].id]?.modelCalls[1].duration == .microseconds(12_345))
        #expect(try await store.conversations.turnRecords(user: bob, conversation: conversation.id).isEmpty)
        // Users read their messages as before: the record is not part of them.
        let messages = try await store.conversations.messages(user: alice, conversation: conversation.id, limit: 10, before: nil)
        #expect(messages.map(\.content) == ["q", "a", "q2", "a2"])
    }

    @Test(arguments: Backend.allCases) func auditEventsAreFoundByTheirRequests(backend: Backend) async throws {
        let fixture = try await backend.fixture()
        let log = try await fixture.provider.store(for: fixture.tenant("acme"), provisioning: .createIfMissing).audit
        func event(_ object: String, request: String?) -> AuditEvent {
            AuditEvent(tenant: fixture.tenant("acme"), actor: "alice", action: "task.create", object: object, outcome: .success, requestID: request)
        }
        _ = try await log.append([event("task:1", request: "r1"), event("task:2", request: "r2"), event("task:3", request: nil), event("task:4", request: "r1")])
        #expect(try await log.query(AuditFilter(requestIDs: ["r1"])).map(\.event.object) == ["task:4", "task:1"])
        #expect(try await log.query(AuditFilter(requestIDs: ["r2", "r1", "nope"])).map(\.event.object) == ["task:4", "task:2", "task:1"])
        #expect(try await log.query(AuditFilter(requestIDs: ["nope"])).isEmpty)
        #expect(try await log.query(AuditFilter()).count == 4)
    }

    @Test(arguments: Backend.allCases) func retentionRemovesWhatIsOlderThanTheCutoffAndNothingElse(backend: Backend) async throws {
        let fixture = try await backend.fixture()
        let store = try await fixture.provider.store(for: fixture.tenant("acme"), provisioning: .createIfMissing)
        func ask(_ user: UserID, _ conversation: Int, _ texts: String...) async throws -> [Message] {
            try await store.conversations.append(
                user: user, conversation: conversation,
                messages: texts.enumerated().map { NewMessage(role: $0.offset % 2 == 0 ? .user : .assistant, content: $0.element) })
        }
        // Alice's conversation is old through and through (with a rating); Bob's goes on after the cutoff.
        let old = try await store.conversations.create(user: alice, title: "old")
        let oldMessages = try await ask(alice, old.id, "q1", "a1")
        #expect(try await store.feedback.submit(user: alice, messageID: oldMessages[1].id, rating: .down, comment: "no") != nil)
        let ongoing = try await store.conversations.create(user: bob, title: "ongoing")
        _ = try await ask(bob, ongoing.id, "b1")
        try await Task.sleep(for: .milliseconds(20))
        let cutoff = Date()
        try await Task.sleep(for: .milliseconds(20))
        _ = try await ask(bob, ongoing.id, "b2", "b3")

        let dry = try await store.retention.purge(before: cutoff, dryRun: true)
        #expect(dry.messages == 3 && dry.conversations == 1 && dry.feedback == 1)
        #expect(try await store.conversations.messages(user: alice, conversation: old.id, limit: 10, before: nil).count == 2)

        let report = try await store.retention.purge(before: cutoff, dryRun: false)
        #expect(report.messages == 3 && report.conversations == 1 && report.feedback == 1 && !report.skipped)
        #expect(report.touched == [PurgeReport.Touched(user: alice, conversation: old.id), PurgeReport.Touched(user: bob, conversation: ongoing.id)])
        #expect(try await store.conversations.get(user: alice, id: old.id) == nil)
        #expect(try await store.conversations.messages(user: bob, conversation: ongoing.id, limit: 10, before: nil).map(\.content) == ["b2", "b3"])
        #expect(try await store.conversations.get(user: bob, id: ongoing.id) != nil)
        #expect(try await store.retention.purge(before: cutoff, dryRun: false).messages == 0)
    }

    @Test(arguments: Backend.allCases) func aPurgeWhileChatsAreWrittenTouchesNothingNewer(backend: Backend) async throws {
        let fixture = try await backend.fixture()
        let store = try await fixture.provider.store(for: fixture.tenant("acme"), provisioning: .createIfMissing)
        // 150 old messages in 15 conversations; then, while the purge runs, 60 new ones: into
        // conversations that already have a newer message, and into new conversations.
        var going: [Int] = []
        for index in 0..<15 {
            let conversation = try await store.conversations.create(user: alice, title: "c\(index)")
            _ = try await store.conversations.append(
                user: alice, conversation: conversation.id, messages: (0..<10).map { NewMessage(role: .user, content: "old \($0)") })
            going.append(conversation.id)
        }
        try await Task.sleep(for: .milliseconds(20))
        let cutoff = Date()
        try await Task.sleep(for: .milliseconds(20))
        for conversation in going.prefix(5) {
            _ = try await store.conversations.append(user: alice, conversation: conversation, messages: [NewMessage(role: .user, content: "new")])
        }
        async let purged = store.retention.purge(before: cutoff, dryRun: false)
        var written = 5
        for round in 0..<11 {
            let target = round % 2 == 0 ? going[round % 5] : try await store.conversations.create(user: bob, title: "new \(round)").id
            let user = round % 2 == 0 ? alice : bob
            written += try await store.conversations.append(
                user: user, conversation: target, messages: (0..<5).map { NewMessage(role: .user, content: "new \(round) \($0)") }
            ).count
        }
        let report = try await purged
        #expect(report.messages == 150)
        #expect(report.conversations == 10)  // the ten with no newer message
        let left = try await store.conversations.messages(user: alice, conversation: nil, limit: 1000, before: nil)
            + store.conversations.messages(user: bob, conversation: nil, limit: 1000, before: nil)
        #expect(left.count == written)
        #expect(left.allSatisfy { $0.content.hasPrefix("new") })
    }

    @Test(arguments: Backend.allCases) func feedbackOnlyOnTheUsersOwnAssistantMessages(backend: Backend) async throws {
        let fixture = try await backend.fixture()
        let store = try await fixture.provider.store(for: fixture.tenant("acme"), provisioning: .createIfMissing)
        let conversation = try await store.conversations.create(user: alice, title: "t")
        let stored = try await store.conversations.append(
            user: alice, conversation: conversation.id,
            messages: [NewMessage(role: .user, content: "q"), NewMessage(role: .assistant, content: "a", model: "basic")])
        #expect(try await store.feedback.submit(user: alice, messageID: stored[0].id, rating: .up, comment: nil) == nil)
        #expect(try await store.feedback.submit(user: bob, messageID: stored[1].id, rating: .down, comment: nil) == nil)
        let first = try #require(try await store.feedback.submit(user: alice, messageID: stored[1].id, rating: .up, comment: nil))
        let changed = try #require(try await store.feedback.submit(user: alice, messageID: stored[1].id, rating: .down, comment: "wrong"))
        #expect(changed.id == first.id && changed.rating == .down && changed.comment == "wrong")
    }

    @Test(arguments: Backend.allCases) func aRedeliveredAuditEventIsStoredOnce(backend: Backend) async throws {
        let fixture = try await backend.fixture()
        let tenant = fixture.tenant("acme")
        let log = try await fixture.provider.store(for: tenant, provisioning: .createIfMissing).audit
        func event(_ id: String?, _ object: String) -> AuditEvent {
            AuditEvent(tenant: tenant, actor: "alice", action: "task.create", object: object, outcome: .success, id: id)
        }
        #expect(try await log.append([event("e1", "task:1"), event(nil, "task:2")]).count == 2)
        // A queue delivering twice: e1 again (and twice in one batch), a new e2, another id-less one.
        let second = try await log.append([event("e1", "task:1"), event("e2", "task:3"), event("e2", "task:3"), event(nil, "task:4")])
        #expect(second.map(\.event.object) == ["task:3", "task:4"])
        let stored = try await log.query(AuditFilter(limit: 10))
        #expect(stored.map(\.event.object) == ["task:4", "task:3", "task:2", "task:1"])
        #expect(stored.map(\.event.id) == [nil, "e2", nil, "e1"])
        #expect(try await log.verifyChain().checked == 4)
    }

    @Test(arguments: Backend.allCases) func twoProcessesAppendingToOneAuditLogKeepOneChain(backend: Backend) async throws {
        // Two providers on the same storage stand for two processes (replicas, or `parley serve`
        // and `parley mcp` on the same files).
        let (first, second, tenant) = try await backend.twoProcesses()
        let logs = [
            try await first.store(for: tenant, provisioning: .createIfMissing).audit,
            try await second.store(for: tenant, provisioning: .createIfMissing).audit,
        ]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, log) in logs.enumerated() {
                group.addTask {
                    for batch in 0..<25 {
                        let events = (0..<3).map { item in
                            AuditEvent(
                                tenant: tenant, actor: "writer-\(index)", action: "task.create", object: "task:\(batch)-\(item)",
                                outcome: .success)
                        }
                        _ = try await log.append(events)
                    }
                }
            }
            try await group.waitForAll()
        }
        let report = try await logs[0].verifyChain()
        #expect(report.checked == 150)
        #expect(report.isIntact, "\(report.problem ?? "")")
        #expect(try await logs[1].query(AuditFilter(actor: "writer-1", limit: 1000)).count == 75)
        try await first.close()
        try await second.close()
    }
}

@Suite("SQLite migrations")
struct SQLiteMigrationTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-migrate-\(UUID().uuidString)")

    @Test func recordsTheVersionAndIsIdempotent() async throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("t.sqlite").path
        let database = try await SQLiteDatabase.open(path: path, migrations: SQLiteSchema.migrations, logger: Logger(label: "test"))
        #expect(try await database.currentVersion() == 0)
        #expect(try await database.migrate() == SQLiteSchema.latestVersion)
        #expect(try await database.migrate() == SQLiteSchema.latestVersion)
        let recorded = try await database.query("SELECT version, name FROM schema_migrations ORDER BY version")
        #expect(recorded.compactMap { $0.column("version")?.integer } == SQLiteSchema.migrations.map(\.version))
        let tables = try await database.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .compactMap { $0.column("name")?.string }
        for table in ["audit_log", "conversations", "feedback", "messages", "tasks", "users"] { #expect(tables.contains(table)) }

        #expect(try await database.rollbackLatest() == SQLiteSchema.latestVersion - 1)
        // The latest migration gave the audit log its purge checkpoint; its rollback removes it
        // and nothing else (the one before, turn records, stays).
        let afterRollback = try await database.query("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') ORDER BY name")
            .compactMap { $0.column("name")?.string }
        #expect(!afterRollback.contains("audit_checkpoint"))
        #expect(afterRollback.contains("audit_log_by_request"))
        let columns = try await database.query("SELECT name FROM pragma_table_info('messages')").compactMap { $0.column("name")?.string }
        #expect(columns.contains("record"))
        #expect(columns.contains("tool_calls"))
        #expect(afterRollback.contains("audit_log"))
        #expect(afterRollback.contains("tasks"))
        #expect(try await database.migrate() == SQLiteSchema.latestVersion)
        try await database.close()
    }

    @Test func providerMigratesEveryTenantAndUsesANewerSchemaAsItIs() async throws {
        let provider = try SQLiteStoreProvider(dataDirectory: directory, logger: Logger(label: "test"))
        _ = try await provider.store(for: TenantID("one")!, provisioning: .createIfMissing)
        _ = try await provider.store(for: TenantID("two")!, provisioning: .createIfMissing)
        let versions = try await provider.migrateAll()
        #expect(versions == [TenantID("one")!: SQLiteSchema.latestVersion, TenantID("two")!: SQLiteSchema.latestVersion])
        try await provider.close()

        // A database the next release migrated (blue-green: it only added) is used as it is.
        let database = try await SQLiteDatabase.open(
            path: provider.path(for: TenantID("one")!), migrations: SQLiteSchema.migrations, logger: Logger(label: "test"))
        try await database.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)")
        try await database.close()
        let reopened = try SQLiteStoreProvider(dataDirectory: directory, logger: Logger(label: "test"))
        let store = try await reopened.store(for: TenantID("one")!, provisioning: .existingOnly)
        _ = try await store.tasks.list(user: UserID("u")!, status: nil)
        let again = try await SQLiteDatabase.open(
            path: reopened.path(for: TenantID("one")!), migrations: SQLiteSchema.migrations, logger: Logger(label: "test"))
        #expect(try await again.recordedVersion() == 999)
        try await again.close()
        try await reopened.close()
    }
}
