import Foundation
import Logging
import ParleyCore
import ParleyStore
import Testing

@testable import ParleyAgent

/// What people type beyond one operation on one task: several tasks, bulk changes, combined
/// requests, partial edits, and the confirmation a bulk delete waits for. Each on a real SQLite
/// store, seeded like the evaluation set (tasks 1–5, task 4 completed).
@Suite("Basic agent: several tasks at once")
struct CompoundCommandTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-compound-\(UUID().uuidString)")
    let user = UserID("alice")!

    func seeded(extra: [String] = []) async throws -> (TaskService, TaskToolExecutor) {
        let provider = try SQLiteStoreProvider(dataDirectory: directory, logger: Logger(label: "test"))
        let store = try await provider.store(for: TenantID("acme")!, provisioning: .createIfMissing)
        let service = TaskService(repository: store.tasks, user: user)
        for title in ["Buy groceries", "Call mom", "Team meeting at 3pm", "Pay electricity bill", "Dentist appointment"] + extra {
            _ = try await service.add(title: title, description: nil)
        }
        _ = try await service.complete(id: 4)
        return (service, TaskToolExecutor(tasks: service))
    }

    func titles(_ service: TaskService) async throws -> [String] {
        try await service.list().map(\.title)
    }

    @Test(arguments: [
        ("Add milk, eggs and bread to my list", ["Milk", "Eggs", "Bread"]),
        ("add two tasks: call the bank and book flights", ["Call the bank", "Book flights"]),
        ("Add these:\n- oat milk\n- coffee beans\n- 2) rice", ["Oat milk", "Coffee beans", "Rice"]),
        ("add the following: 1. buy stamps 2. mail the letter", ["Buy stamps", "Mail the letter"]),
        ("I need to buy milk and walk the dog", ["Buy milk", "Walk the dog"]),
        ("add milk; eggs; butter", ["Milk", "Eggs", "Butter"]),
    ])
    func addsEveryItemOfAList(message: String, added: [String]) async throws {
        let (service, tools) = try await seeded()
        let reply = try await BasicAgent().respond(to: message, history: [], tools: tools)
        #expect(try await titles(service).dropFirst(5).map { $0 } == added, "\(reply.text)")
        #expect(reply.toolCalls.filter { $0.name == "add_task" }.count == added.count)
        for (offset, title) in added.enumerated() { #expect(reply.text.contains("Added task \(6 + offset): \(title).")) }
    }

    @Test(arguments: [
        ("add salt and pepper to my list", "Salt and pepper"),
        ("add a task to research and write the report", "Research and write the report"),
        ("remind me to call the bank and ask about the loan", "Call the bank and ask about the loan"),
        ("remind me to go to the store and get milk", "Go to the store and get milk"),
        ("add a task to call mom and dad", "Call mom and dad"),
    ])
    func keepsATitleThatContainsAnd(message: String, title: String) async throws {
        let (service, tools) = try await seeded()
        let reply = try await BasicAgent().respond(to: message, history: [], tools: tools)
        #expect(try await titles(service).dropFirst(5).map { $0 } == [title], "\(reply.text)")
    }

    @Test(arguments: [
        ("delete tasks 1 and 3", [1, 3]),
        ("get rid of tasks 1 through 3", [1, 2, 3]),
        ("remove #2 #5", [2, 5]),
        ("Delete the dentist appointment and the team meeting", [5, 3]),
        ("delete tasks 2-3", [2, 3]),
    ])
    func deletesSeveralNamedTasks(message: String, deleted: [Int]) async throws {
        let (service, tools) = try await seeded()
        let reply = try await BasicAgent().respond(to: message, history: [], tools: tools)
        #expect(reply.toolCalls.filter { $0.name == "delete_task" }.map { $0.arguments["task_id"]?.intValue } == deleted, "\(reply.text)")
        let left = try await service.list().map(\.id)
        #expect(Set(left) == Set(1...5).subtracting(deleted))
        for id in deleted { #expect(reply.text.contains("Deleted task \(id):")) }
    }

    @Test func completesEveryTaskAReportNames() async throws {
        let (service, tools) = try await seeded()
        let reply = try await BasicAgent().respond(to: "I called mom and bought the groceries", history: [], tools: tools)
        let statuses = try await service.list().filter { $0.status == .completed }.map(\.id)
        #expect(statuses == [1, 2, 4], "\(reply.text)")
        #expect(reply.text.contains("Marked task 2 as complete: Call mom.") && reply.text.contains("Marked task 1 as complete: Buy groceries."))
    }

    @Test func completesEverythingAtOnceWithoutAsking() async throws {
        let (service, tools) = try await seeded()
        let reply = try await BasicAgent().respond(to: "mark all my tasks as complete", history: [], tools: tools)
        #expect(try await service.list().allSatisfy { $0.status == .completed }, "\(reply.text)")
        // Task 4 was already done: four completions, one tool call each.
        #expect(reply.toolCalls.filter { $0.name == "complete_task" }.map { $0.arguments["task_id"]?.intValue } == [1, 2, 3, 5])
    }

    @Test func removesTheCompletedTasks() async throws {
        let (service, tools) = try await seeded()
        // One completed task: deleted at once.
        let one = try await BasicAgent().respond(to: "Remove all completed tasks", history: [], tools: tools)
        #expect(one.text == "Deleted task 4: Pay electricity bill.")
        #expect(try await service.list().map(\.id) == [1, 2, 3, 5])
    }

    @Test func aBulkDeleteWaitsForYesAndDeletesWhatItListed() async throws {
        let (service, tools) = try await seeded()
        _ = try await service.complete(id: 1)
        let question = try await BasicAgent().respond(to: "delete everything I've finished", history: [], tools: tools)
        #expect(question.text == "That deletes 2 tasks:\n1. Buy groceries (completed)\n4. Pay electricity bill (completed)\nReply yes to go ahead, or no to keep them.")
        #expect(!question.toolCalls.contains { $0.name == "delete_task" })
        #expect(try await service.list().count == 5)

        // Meanwhile task 2 is completed too: "yes" deletes the two it listed, not a new reading of "finished".
        _ = try await service.complete(id: 2)
        let history = conversation(("delete everything I've finished", question))
        let yes = try await BasicAgent().respond(to: "yes, go ahead", history: history, tools: tools)
        #expect(yes.text == "Deleted task 1: Buy groceries.\nDeleted task 4: Pay electricity bill.")
        #expect(try await service.list().map(\.id) == [2, 3, 5])
    }

    @Test func noKeepsTheTasksAndALaterYesDeletesNothing() async throws {
        let (service, tools) = try await seeded()
        let question = try await BasicAgent().respond(to: "clear my whole list", history: [], tools: tools)
        #expect(question.text.hasPrefix("That deletes 5 tasks:"))
        let no = try await BasicAgent().respond(to: "no", history: conversation(("clear my whole list", question)), tools: tools)
        #expect(no.text == "OK, I won't delete them. Your tasks are unchanged.")
        let laterYes = try await BasicAgent().respond(
            to: "yes", history: conversation(("clear my whole list", question), ("no", no)), tools: tools)
        #expect(!laterYes.toolCalls.contains { $0.name == "delete_task" })
        #expect(try await service.list().count == 5)
    }

    @Test(arguments: [
        ("Add a task to buy milk and mark task 2 as done", ["add_task", "complete_task"], "Added task 6: Buy milk.\nMarked task 2 as complete: Call mom."),
        ("finished the meeting, and add a task to write the minutes", ["list_tasks", "complete_task", "add_task"],
         "Marked task 3 as complete: Team meeting at 3pm.\nAdded task 6: Write the minutes."),
        // Two tasks by number: both are looked up before either changes.
        ("Rename task 1 to Buy organic groceries and task 2 to Call mom back", ["list_tasks", "update_task", "update_task"],
         "Updated task 1: Buy organic groceries.\nUpdated task 2: Call mom back."),
    ])
    func runsCombinedRequestsInOrder(message: String, tools expected: [String], answer: String) async throws {
        let (_, tools) = try await seeded()
        let reply = try await BasicAgent().respond(to: message, history: [], tools: tools)
        #expect(reply.toolCalls.map(\.name) == expected)
        #expect(reply.text == answer)
    }

    @Test func addsThenShowsTheListWithTheNewTask() async throws {
        let (_, tools) = try await seeded()
        let reply = try await BasicAgent().respond(to: "add buy milk, then show me my list", history: [], tools: tools)
        #expect(reply.text.hasPrefix("Added task 6: Buy milk.\nHere are your tasks:"))
        #expect(reply.text.contains("6. Buy milk (pending)"))
    }

    @Test func aCombinedRequestWithAMissingTaskChangesNothing() async throws {
        let (service, tools) = try await seeded()
        let before = try await service.list()
        let reply = try await BasicAgent().respond(to: "mark task 2 as done and delete task 99", history: [], tools: tools)
        #expect(reply.text == "I couldn't find task 99, so I haven't changed anything.")
        #expect(try await service.list() == before)
        let unclear = try await BasicAgent().respond(to: "add a task to buy milk and delete the gym task", history: [], tools: tools)
        #expect(unclear.text == "I couldn't find a task matching \"gym\".")
        #expect(try await service.list() == before)
    }

    @Test(arguments: [
        ("change groceries to organic groceries", 1, "Buy organic groceries"),
        ("change 3pm to 4pm", 3, "Team meeting at 4pm"),
        ("replace mom with dad in task 2", 2, "Call dad"),
        ("change 3pm to 5pm in the team meeting", 3, "Team meeting at 5pm"),
        ("rename task 2 to Phone the bank", 2, "Phone the bank"),
    ])
    func editsKeepTheRestOfTheTitle(message: String, id: Int, title: String) async throws {
        let (service, tools) = try await seeded()
        let reply = try await BasicAgent().respond(to: message, history: [], tools: tools)
        #expect(try await service.get(id: id).title == title, "\(reply.text)")
        #expect(reply.text == "Updated task \(id): \(title).")
    }

    func conversation(_ turns: (String, AgentReply)...) -> [Message] {
        var messages: [Message] = []
        for (said, reply) in turns {
            messages.append(Message(id: messages.count + 1, conversationID: 1, role: .user, content: said, toolCalls: [], model: nil, createdAt: Date()))
            messages.append(
                Message(id: messages.count + 1, conversationID: 1, role: .assistant, content: reply.text, toolCalls: reply.toolCalls, model: "basic",
                        createdAt: Date()))
        }
        return messages
    }
}
