import Foundation
import Logging
import ParleyCore
import ParleyStore
import Testing

@testable import ParleyAgent

/// The basic agent end to end on a real SQLite store: what it says, which tools it calls, and
/// what the tasks look like afterwards.
@Suite("Basic agent")
struct BasicAgentTests {
    let directory: URL
    let provider: SQLiteStoreProvider
    let user = UserID("alice")!

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-agent-\(UUID().uuidString)")
        provider = try SQLiteStoreProvider(dataDirectory: directory, logger: Logger(label: "test"))
    }

    func seeded() async throws -> (TaskService, TaskToolExecutor) {
        let store = try await provider.store(for: TenantID("acme")!, provisioning: .createIfMissing)
        let service = TaskService(repository: store.tasks, user: user)
        for title in ["Buy groceries", "Call mom", "Team meeting at 3pm", "Pay electricity bill", "Dentist appointment"] {
            _ = try await service.add(title: title, description: nil)
        }
        _ = try await service.complete(id: 4)
        return (service, TaskToolExecutor(tasks: service))
    }

    @Test func addsAndSaysSo() async throws {
        let (service, tools) = try await seeded()
        let reply = try await BasicAgent().respond(to: "add a task to buy milk", history: [], tools: tools)
        #expect(reply.text == "Added task 6: Buy milk.")
        #expect(reply.toolCalls.map(\.name) == ["add_task"])
        #expect(reply.toolCalls.first?.arguments == ["title": "Buy milk"])
        #expect(try await service.get(id: 6).title == "Buy milk")
    }

    @Test func completesByTitleWords() async throws {
        let (service, tools) = try await seeded()
        let reply = try await BasicAgent().respond(to: "I finished buying groceries", history: [], tools: tools)
        #expect(reply.text == "Marked task 1 as complete: Buy groceries.")
        #expect(reply.toolCalls.map(\.name) == ["list_tasks", "complete_task"])
        #expect(try await service.get(id: 1).status == .completed)
    }

    @Test func reportsAMissingTaskAndChangesNothing() async throws {
        let (service, tools) = try await seeded()
        let before = try await service.list()
        let reply = try await BasicAgent().respond(to: "Delete task 99", history: [], tools: tools)
        #expect(reply.text == "I couldn't find task 99.")
        #expect(reply.toolCalls.first?.result["error"]?["code"] == "not_found")
        #expect(try await service.list() == before)
    }

    @Test func asksWhenATitleIsAmbiguous() async throws {
        let (service, tools) = try await seeded()
        _ = try await service.add(title: "Call dad", description: nil)
        let before = try await service.list()
        let reply = try await BasicAgent().respond(to: "delete the call task", history: [], tools: tools)
        #expect(reply.text.hasPrefix("More than one task matches"))
        #expect(reply.text.contains("2. Call mom") && reply.text.contains("6. Call dad"))
        #expect(!reply.toolCalls.contains { $0.name == "delete_task" })
        #expect(try await service.list() == before)
    }

    @Test func resolvesItFromTheConversation() async throws {
        let (service, tools) = try await seeded()
        let first = try await BasicAgent().respond(to: "add a task to renew passport", history: [], tools: tools)
        let history = [
            Message(id: 1, conversationID: 1, role: .user, content: "add a task to renew passport", toolCalls: [], model: nil, createdAt: Date()),
            Message(id: 2, conversationID: 1, role: .assistant, content: first.text, toolCalls: first.toolCalls, model: "basic", createdAt: Date()),
        ]
        let reply = try await BasicAgent().respond(to: "actually, delete it", history: history, tools: tools)
        #expect(reply.text == "Deleted task 6: Renew passport.")
        #expect(try await service.list().count == 5)
    }

    @Test func updatesTitleAndDescription() async throws {
        let (service, tools) = try await seeded()
        _ = try await BasicAgent().respond(to: "Rename task 5 to \"Dentist at 9am\"", history: [], tools: tools)
        _ = try await BasicAgent().respond(to: "Update the description of task 2 to: ask about the holidays", history: [], tools: tools)
        #expect(try await service.get(id: 5).title == "Dentist at 9am")
        #expect(try await service.get(id: 2).description == "ask about the holidays")
        #expect(try await service.get(id: 2).title == "Call mom")
    }

    @Test func listsWithNumbersAndStatus() async throws {
        let (_, tools) = try await seeded()
        let reply = try await BasicAgent().respond(to: "what have I completed?", history: [], tools: tools)
        #expect(reply.text == "You have completed 1 task:\n4. Pay electricity bill (completed)")
        #expect(reply.toolCalls.first?.arguments == ["status": "completed"])
    }
}

@Suite("Tool executor")
struct ToolExecutorTests {
    @Test func refusesArgumentsThatBreakTheSchema() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-tools-\(UUID().uuidString)")
        let provider = try SQLiteStoreProvider(dataDirectory: directory, logger: Logger(label: "test"))
        let store = try await provider.store(for: TenantID("acme")!, provisioning: .createIfMissing)
        let service = TaskService(repository: store.tasks, user: UserID("bob")!)
        let tools = TaskToolExecutor(tasks: service)

        let cases: [(String, JSONValue, String)] = [
            ("add_task", [:], "title: is required"),
            ("add_task", ["title": "   "], "title: must not be empty"),
            ("add_task", ["title": .string(String(repeating: "x", count: 201))], "title: must be at most 200 characters"),
            ("add_task", ["title": "ok", "user_id": "mallory"], "user_id: is not a known argument"),
            ("complete_task", ["task_id": "three"], "task_id: must be an integer"),
            ("delete_task", ["task_id": 0], "task_id: must be at least 1"),
            ("list_tasks", ["status": "someday"], "status: must be one of all, pending, completed"),
            ("drop_tables", [:], "no tool named drop_tables"),
        ]
        for (name, arguments, message) in cases {
            let record = await tools.call(name, arguments: arguments)
            #expect(record.result["error"]?["message"]?.stringValue == message, "\(name) \(arguments)")
        }
        #expect(try await service.list().isEmpty)
    }

    @Test func everyToolHasAnObjectSchema() {
        #expect(TaskTools.all.map(\.name) == ["add_task", "list_tasks", "complete_task", "delete_task", "update_task", "restore_task"])
        for tool in TaskTools.all {
            #expect(tool.inputSchema["type"] == "object")
            #expect(tool.inputSchema["additionalProperties"] == false)
        }
    }
}
