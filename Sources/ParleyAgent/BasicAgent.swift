import Foundation
import ParleyCore

/// The rule-based agent: parses the message with `CommandParser`, calls the task tools, and
/// answers like an assistant. It needs no model, so Parley is useful with none configured, and
/// it answers when every model has failed or the `chatbot.ai` flag is off.
public struct BasicAgent: ChatAgent {
    public static let modelName = "basic"

    public init() {}

    public func respond(
        to message: String, history: [Message], tools: any ToolExecutor, events: AgentEventSink? = nil
    ) async throws -> AgentReply {
        var turn = Turn(tools: tools, history: history)
        let text = await turn.run(CommandParser.parse(message))
        // Its answer exists all at once: one piece.
        await events?(.text(text))
        return AgentReply(text: text, toolCalls: turn.calls, model: Self.modelName)
    }

    static let helpText = """
        I keep your to-do list. You can ask me to:
        - add a task: "add a task to buy milk", "remind me to call the bank"
        - list tasks: "what's on my list?", "what's pending?", "what have I completed?"
        - complete a task: "mark task 3 as done", "I finished buying groceries"
        - update a task: "rename task 2 to Call mom tonight", "change the description of task 2 to ask about the holidays"
        - delete a task: "delete task 2", "remove the meeting task"
        """
}

/// One answer in the making: the tool calls made so far and the words to say.
private struct Turn {
    let tools: any ToolExecutor
    let history: [Message]
    var calls: [ToolCallRecord] = []
    /// The user's tasks, once a tool has listed them in this turn.
    var knownTasks: [TaskSummary]?

    init(tools: any ToolExecutor, history: [Message]) {
        self.tools = tools
        self.history = history
    }

    mutating func call(_ name: String, _ arguments: JSONValue) async -> JSONValue {
        let record = await tools.call(name, arguments: arguments)
        calls.append(record)
        return record.result
    }

    mutating func run(_ command: Command) async -> String {
        switch command {
        case .add(let drafts): return await add(drafts)
        case .list(let filter): return await list(filter)
        case .show(let reference): return await forEach(reference, preferPending: false) { turn, task in
                await turn.show(task)
            }
        case .complete(let reference):
            return await forEach(reference, preferPending: true) { turn, id in await turn.complete(id) }
        case .reopen(let reference):
            return await forEach(reference, preferPending: false) { turn, id in await turn.reopen(id) }
        case .delete(let reference):
            return await forEach(reference, preferPending: false) { turn, id in await turn.delete(id) }
        case .update(let reference, let title, let description):
            return await forEach(reference, preferPending: false, single: true) { turn, id in
                await turn.update(id, title: title, description: description)
            }
        case .greeting(let alsoHelp):
            return alsoHelp ? "Hello! " + BasicAgent.helpText : "Hello! How can I help with your tasks today?"
        case .help:
            return BasicAgent.helpText
        case .thanks:
            return "You're welcome! Anything else on your to-do list?"
        case .unknown:
            return """
                I'm not sure what you'd like me to do. I can add, list, complete, update and delete tasks: \
                try "add a task to buy milk" or "what's on my list?".
                """
        }
    }

    // MARK: Operations

    mutating func add(_ drafts: [TaskDraft]) async -> String {
        var lines: [String] = []
        for draft in drafts {
            var arguments: [String: JSONValue] = ["title": .string(draft.title)]
            if let description = draft.description { arguments["description"] = .string(description) }
            let result = await call(TaskTools.addTask.name, .object(arguments))
            if let task = TaskSummary(result["task"]) {
                lines.append("Added task \(task.id): \(task.title)." + (task.description.map { " (\($0))" } ?? ""))
            } else {
                lines.append("I couldn't add \"\(draft.title)\": \(Self.reason(result)).")
            }
        }
        return lines.joined(separator: "\n")
    }

    mutating func list(_ filter: ListFilter) async -> String {
        let result = await call(TaskTools.listTasks.name, ["status": .string(filter.rawValue)])
        guard let items = result["tasks"]?.arrayValue else { return "I couldn't read your tasks: \(Self.reason(result))." }
        let tasks = items.compactMap(TaskSummary.init)
        if filter == .all { knownTasks = tasks }
        let lines = tasks.map(Self.line).joined(separator: "\n")
        switch (filter, tasks.count) {
        case (.all, 0): return "Your list is empty. Try \"add a task to buy milk\"."
        case (.pending, 0): return "Nothing pending: you're all done!"
        case (.completed, 0): return "You haven't completed any tasks yet."
        case (.all, _): return "Here are your tasks:\n\(lines)"
        case (.pending, let n): return "You have \(n) pending \(n == 1 ? "task" : "tasks"):\n\(lines)"
        case (.completed, let n): return "You have completed \(n) \(n == 1 ? "task" : "tasks"):\n\(lines)"
        }
    }

    mutating func show(_ id: Int) async -> String {
        if knownTasks == nil { _ = await loadTasks() }
        guard let task = knownTasks?.first(where: { $0.id == id }) else { return "I couldn't find task \(id)." }
        return Self.line(task) + (task.description.map { "\n\($0)" } ?? "")
    }

    mutating func complete(_ id: Int) async -> String {
        let result = await call(TaskTools.completeTask.name, ["task_id": JSONValue(id)])
        guard let task = TaskSummary(result["task"]) else { return Self.failure(result, id: id) }
        if result["already_completed"]?.boolValue == true {
            return "Task \(task.id) was already completed: \(task.title)."
        }
        return "Marked task \(task.id) as complete: \(task.title)."
    }

    mutating func reopen(_ id: Int) async -> String {
        let result = await call(TaskTools.updateTask.name, ["task_id": JSONValue(id), "status": "pending"])
        guard let task = TaskSummary(result["task"]) else { return Self.failure(result, id: id) }
        return "Reopened task \(task.id): \(task.title)."
    }

    mutating func delete(_ id: Int) async -> String {
        let result = await call(TaskTools.deleteTask.name, ["task_id": JSONValue(id)])
        guard let task = TaskSummary(result["task"]) else { return Self.failure(result, id: id) }
        return "Deleted task \(task.id): \(task.title)."
    }

    mutating func update(_ id: Int, title: String?, description: String?) async -> String {
        var arguments: [String: JSONValue] = ["task_id": JSONValue(id)]
        if let title { arguments["title"] = .string(title) }
        if let description { arguments["description"] = .string(description) }
        let result = await call(TaskTools.updateTask.name, .object(arguments))
        guard let task = TaskSummary(result["task"]) else { return Self.failure(result, id: id) }
        if description != nil, title == nil {
            return "Updated the description of task \(task.id) (\(task.title)): \(task.description ?? "")."
        }
        return "Updated task \(task.id): \(task.title)."
    }

    // MARK: Resolving references

    /// Resolves the reference to task numbers and runs `body` for each, joining the answers.
    mutating func forEach(
        _ reference: TaskReference, preferPending: Bool, single: Bool = false,
        _ body: (inout Turn, Int) async -> String
    ) async -> String {
        switch await resolve(reference, preferPending: preferPending) {
        case .ids(let ids):
            if single, ids.count > 1 { return "Which task do you mean: \(ids.map { "task \($0)" }.joined(separator: " or "))?" }
            var lines: [String] = []
            for id in ids { lines.append(await body(&self, id)) }
            return lines.joined(separator: "\n")
        case .failed(let answer):
            return answer
        }
    }

    enum Resolution {
        case ids([Int])
        case failed(String)
    }

    mutating func resolve(_ reference: TaskReference, preferPending: Bool) async -> Resolution {
        switch reference {
        case .numbers(let ids):
            return .ids(ids)
        case .previous:
            if let id = lastMentionedTask() { return .ids([id]) }
            return .failed("Which task do you mean? Tell me its number, for example \"task 2\".")
        case .latest:
            guard let tasks = await loadTasks() else { return .failed("I couldn't read your tasks right now.") }
            guard let last = tasks.max(by: { $0.id < $1.id }) else { return .failed("You don't have any tasks yet.") }
            return .ids([last.id])
        case .contextual(let clause):
            if case .numbers(let ids)? = CommandParser.numberMentioned(in: clause) { return .ids(ids) }
            guard let tasks = await loadTasks() else { return .failed("I couldn't read your tasks right now.") }
            if case .one(let task) = TaskMatcher.match(clause, in: tasks, preferPending: preferPending, loose: true) {
                return .ids([task.id])
            }
            return await resolve(.previous, preferPending: preferPending)
        case .text(let phrase), .reported(let phrase):
            guard let tasks = await loadTasks() else { return .failed("I couldn't read your tasks right now.") }
            switch TaskMatcher.match(phrase, in: tasks, preferPending: preferPending) {
            case .one(let task): return .ids([task.id])
            case .none: return .failed("I couldn't find a task matching \"\(phrase)\".")
            case .ambiguous(let candidates):
                let options = candidates.map(Self.line).joined(separator: "\n")
                return .failed("More than one task matches \"\(phrase)\". Which one do you mean?\n\(options)")
            }
        }
    }

    mutating func loadTasks() async -> [TaskSummary]? {
        if let knownTasks { return knownTasks }
        let result = await call(TaskTools.listTasks.name, ["status": "all"])
        guard let items = result["tasks"]?.arrayValue else { return nil }
        knownTasks = items.compactMap(TaskSummary.init)
        return knownTasks
    }

    /// The task the last assistant message was about ("delete it", "mark that as done").
    func lastMentionedTask() -> Int? {
        for message in history.reversed() where message.role == .assistant {
            for record in message.toolCalls.reversed() {
                if let id = TaskSummary(record.result["task"])?.id { return id }
            }
        }
        return nil
    }

    // MARK: Wording

    static func line(_ task: TaskSummary) -> String {
        "\(task.id). \(task.title) (\(task.isCompleted ? "completed" : "pending"))"
    }

    static func failure(_ result: JSONValue, id: Int) -> String {
        if result["error"]?["code"]?.stringValue == "not_found" { return "I couldn't find task \(id)." }
        return "I couldn't change task \(id): \(reason(result))."
    }

    static func reason(_ result: JSONValue) -> String {
        result["error"]?["message"]?.stringValue ?? "something went wrong"
    }
}
