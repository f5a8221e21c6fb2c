import Foundation
import ParleyCore
import Testing

@testable import ParleyAgent

/// "undo" reverts the last change of the conversation, once, through the same tools, and says
/// what it restored. On the seeded store of `CompoundCommandTests` (tasks 1–5, task 4 completed).
extension CompoundCommandTests {
    /// Runs `message`, then "undo" with that turn as the history.
    func undoing(_ message: String, history: [Message] = [], tools: TaskToolExecutor) async throws -> (AgentReply, AgentReply) {
        let change = try await BasicAgent().respond(to: message, history: history, tools: tools)
        let undo = try await BasicAgent().respond(to: "undo", history: history + conversation((message, change)), tools: tools)
        return (change, undo)
    }

    @Test(arguments: [
        "undo", "Undo!", "undo that", "undo it please", "oops, undo", "revert my last change", "put it back",
        "put them back", "bring it back", "restore it", "I didn't mean that, undo it", "undo the last change",
        "can you undo that?", "take that back", "undo the delete", "no wait, put it back",
    ])
    func recognisesUndo(message: String) {
        #expect(CommandParser.commands(message) == [.undo], "\(message)")
    }

    @Test func undoWithATaskNumberStillReopensThatTask() {
        #expect(CommandParser.parse("undo task 3") == .reopen(.numbers([3])))
    }

    @Test func undoesAnAdd() async throws {
        let (service, tools) = try await seeded()
        let (_, undo) = try await undoing("add a task to buy milk", tools: tools)
        #expect(undo.text == "Undid your last change:\nRemoved task 6: Buy milk.")
        #expect(undo.toolCalls.map(\.name) == ["delete_task"])
        #expect(try await service.list().map(\.id) == [1, 2, 3, 4, 5])
    }

    @Test func aDeletedTaskComesBackWithItsNumberAndStatus() async throws {
        let (service, tools) = try await seeded()
        _ = try await service.update(id: 4, patch: TaskPatch(description: "the March bill"))
        let (_, undo) = try await undoing("delete task 4", tools: tools)
        #expect(undo.text == "Undid your last change:\nRestored task 4: Pay electricity bill.")
        #expect(undo.toolCalls.map(\.name) == ["restore_task"])
        let restored = try await service.get(id: 4)
        #expect(restored.status == .completed && restored.description == "the March bill")
        // Its number was never handed out again, and the next task still gets a new one.
        #expect(try await service.add(title: "Walk the dog", description: nil).id == 6)
    }

    @Test func undoesAConfirmedBulkDelete() async throws {
        let (service, tools) = try await seeded()
        let question = try await BasicAgent().respond(to: "delete all my tasks", history: [], tools: tools)
        let asked = conversation(("delete all my tasks", question))
        let (yes, undo) = try await undoing("yes", history: asked, tools: tools)
        #expect(yes.toolCalls.filter { $0.name == "delete_task" }.count == 5)
        #expect(undo.toolCalls.map(\.name) == Array(repeating: "restore_task", count: 5))
        #expect(undo.text.hasPrefix("Undid your last change:\nRestored task 1: Buy groceries.\nRestored task 2: Call mom."))
        #expect(try await service.list().map(\.title) == ["Buy groceries", "Call mom", "Team meeting at 3pm", "Pay electricity bill", "Dentist appointment"])
        #expect(try await service.get(id: 4).status == .completed)
    }

    @Test func undoesABulkCompletionButNotWhatWasDoneBefore() async throws {
        let (service, tools) = try await seeded()
        let (_, undo) = try await undoing("mark all my tasks as done", tools: tools)
        #expect(undo.toolCalls.count == 4)
        #expect(try await service.list(status: .completed).map(\.id) == [4])
        #expect(undo.text.contains("Task 1 is pending again: Buy groceries."))
    }

    @Test func undoesAnEditAndADescription() async throws {
        let (service, tools) = try await seeded()
        let (_, undoEdit) = try await undoing("change groceries to organic groceries", tools: tools)
        #expect(undoEdit.text == "Undid your last change:\nTask 1 is back to \"Buy groceries\", pending.")
        #expect(try await service.get(id: 1).title == "Buy groceries")

        let (_, undoDescription) = try await undoing("change the description of task 2 to ask about the holidays", tools: tools)
        #expect(try await service.get(id: 2).description == nil, "\(undoDescription.text)")
    }

    @Test func undoesEveryPartOfACombinedRequest() async throws {
        let (service, tools) = try await seeded()
        let (_, undo) = try await undoing("add a task to buy milk and mark task 2 as done", tools: tools)
        #expect(undo.text == "Undid your last change:\nRemoved task 6: Buy milk.\nTask 2 is pending again: Call mom.")
        #expect(try await service.list().count == 5)
        #expect(try await service.get(id: 2).status == .pending)
    }

    @Test func undoReachesPastReadsAndWorksOnlyOnce() async throws {
        let (service, tools) = try await seeded()
        let delete = try await BasicAgent().respond(to: "delete task 3", history: [], tools: tools)
        let list = try await BasicAgent().respond(to: "show my list", history: conversation(("delete task 3", delete)), tools: tools)
        let history = conversation(("delete task 3", delete), ("show my list", list))
        let undo = try await BasicAgent().respond(to: "put it back", history: history, tools: tools)
        #expect(undo.text == "Undid your last change:\nRestored task 3: Team meeting at 3pm.")

        let again = try await BasicAgent().respond(to: "undo", history: history + conversation(("put it back", undo)), tools: tools)
        #expect(again.text == "I've already undone your last change, and I can undo it only once.")
        #expect(again.toolCalls.isEmpty)
        #expect(try await service.list().count == 5)
    }

    @Test func nothingToUndoInANewConversation() async throws {
        let (service, tools) = try await seeded()
        let reply = try await BasicAgent().respond(to: "undo", history: [], tools: tools)
        #expect(reply.text == "There's nothing to undo: I haven't changed any of your tasks in this conversation.")
        #expect(reply.toolCalls.isEmpty)
        #expect(try await service.list().count == 5)
    }

    @Test func aNumberInUseAgainIsNotOverwritten() async throws {
        let (service, tools) = try await seeded()
        let delete = try await BasicAgent().respond(to: "delete task 5", history: [], tools: tools)
        // Elsewhere (another conversation, the REST API) the number comes back first.
        _ = try await service.restore(TodoTask(id: 5, title: "Something else", description: nil, status: .pending, createdAt: Date(), updatedAt: Date(), completedAt: nil))
        let undo = try await BasicAgent().respond(to: "undo", history: conversation(("delete task 5", delete)), tools: tools)
        #expect(undo.text == "Undid your last change:\nI couldn't restore task 5 (Dentist appointment): that number is in use again.")
        #expect(try await service.get(id: 5).title == "Something else")
    }

    @Test func oneTaskChangedTwiceIsRevertedNewestFirst() async throws {
        let (service, tools) = try await seeded()
        // As a model could make them: an add and a completion of the same task in one answer.
        let add = await tools.call("add_task", arguments: ["title": "Buy milk"])
        let complete = await tools.call("complete_task", arguments: ["task_id": 6])
        let history = conversation(("add milk, already bought", AgentReply(text: "Added and completed task 6.", toolCalls: [add, complete], model: "m")))
        let undo = try await BasicAgent().respond(to: "undo", history: history, tools: tools)
        #expect(undo.text == "Undid your last change:\nTask 6 is pending again: Buy milk.\nRemoved task 6: Buy milk.")
        #expect(try await service.list().count == 5)
    }
}
