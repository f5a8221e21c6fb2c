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
        let text = await turn.run(CommandParser.commands(message))
        // Its answer exists all at once: one piece.
        await events?(.text(text))
        return AgentReply(text: text, toolCalls: turn.calls, model: Self.modelName)
    }

    /// Whether the conversation's last answer asked a question this agent takes the answer to
    /// ("Reply yes to go ahead"), so that a bare "yes" or "no" is for it.
    public static func isAwaitingAnswer(_ history: [Message]) -> Bool {
        Turn.pendingDeletion(in: history) != nil
    }

    static let helpText = """
        I keep your to-do list. You can ask me to:
        - add a task: "add a task to buy milk", "remind me to call the bank"
        - list tasks: "what's on my list?", "what's pending?", "what have I completed?"
        - complete a task: "mark task 3 as done", "I finished buying groceries"
        - update a task: "rename task 2 to Call mom tonight", "change the description of task 2 to ask about the holidays"
        - delete a task: "delete task 2", "remove the meeting task"
        Several at once work too: "add milk, eggs and bread", "delete tasks 1 through 3", \
        "mark all my tasks as done", "add a task to call the bank and mark task 2 as done".
        Changed your mind? "undo" reverts my last change.
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
        if name != TaskTools.listTasks.name { knownTasks = nil }  // the list has changed
        return record.result
    }

    /// Resolves every task the commands name before anything is written, so a request that is
    /// partly unclear or names a missing task changes nothing and asks instead; then runs them.
    mutating func run(_ commands: [Command]) async -> String {
        switch await plan(commands) {
        case .steps(let steps):
            var lines: [String] = []
            for step in steps { lines.append(await execute(step)) }
            return lines.joined(separator: "\n")
        case .ask(let question):
            return question
        }
    }

    static let notUnderstood = """
        I'm not sure what you'd like me to do. I can add, list, complete, update and delete tasks: \
        try "add a task to buy milk" or "what's on my list?".
        """

    /// One thing to do, with its tasks resolved to numbers.
    enum Step {
        case add([TaskDraft])
        case list(ListFilter)
        case show(Int)
        case complete([Int])
        case reopen([Int])
        case delete([Int])
        /// Deleting several tasks picked by status waits for a yes.
        case confirmDelete([TaskSummary])
        case update(Int, title: String?, description: String?)
        case edit(Int, replacing: String, with: String)
        /// Reverts these tool calls (the last change of the conversation), in this order.
        case undo([ToolCallRecord])
        case say(String)

        /// The tasks this step changes.
        var changedIDs: [Int] {
            switch self {
            case .complete(let ids), .reopen(let ids), .delete(let ids): ids
            case .update(let id, _, _), .edit(let id, _, _): [id]
            default: []
            }
        }
    }

    enum Plan {
        case steps([Step])
        /// Nothing is done; the user is asked (or told why not).
        case ask(String)
    }

    mutating func plan(_ commands: [Command]) async -> Plan {
        var steps: [Step] = []
        for command in commands {
            switch await plan(command) {
            case .steps(let more): steps += more
            case .ask(let question): return .ask(question)
            }
        }
        // One task by number is left to the tool (it answers "not found" and changes nothing);
        // with several, each must exist before the first is changed.
        let named = steps.flatMap(\.changedIDs)
        if named.count > 1 {
            guard let tasks = await loadTasks() else { return .ask("I couldn't read your tasks right now.") }
            let existing = Set(tasks.map(\.id))
            let missing = named.filter { !existing.contains($0) }
            if !missing.isEmpty {
                let which = missing.map { "task \($0)" }.joined(separator: " or ")
                return .ask("I couldn't find \(which), so I haven't changed anything.")
            }
        }
        return .steps(steps)
    }

    mutating func plan(_ command: Command) async -> Plan {
        switch command {
        case .add(let drafts): return .steps([.add(drafts)])
        case .list(let filter): return .steps([.list(filter)])
        case .show(let reference):
            return await resolved(reference, preferPending: false) { ids in ids.map { Step.show($0) } }
        case .complete(let reference):
            if case .scope(let filter) = reference { return await completeAll(filter) }
            return await resolved(reference, preferPending: true) { [.complete($0)] }
        case .reopen(let reference):
            return await resolved(reference, preferPending: false) { [.reopen($0)] }
        case .delete(let reference):
            if case .scope(let filter) = reference { return await deleteAll(filter) }
            return await resolved(reference, preferPending: false) { [.delete($0)] }
        case .update(let reference, let title, let description):
            return await resolvedOne(reference) { .update($0, title: title, description: description) }
        case .edit(let reference, let old, let new):
            return await resolvedOne(reference) { .edit($0, replacing: old, with: new) }
        case .confirm: return confirmPending()
        case .undo: return Self.planUndo(history)
        case .decline:
            if pendingDeletion() != nil { return .steps([.say("OK, I won't delete them. Your tasks are unchanged.")]) }
            return .steps([.say("OK.")])
        case .greeting(let alsoHelp):
            return .steps([.say(alsoHelp ? "Hello! " + BasicAgent.helpText : "Hello! How can I help with your tasks today?")])
        case .help: return .steps([.say(BasicAgent.helpText)])
        case .thanks: return .steps([.say("You're welcome! Anything else on your to-do list?")])
        case .unknown: return .ask(Self.notUnderstood)
        }
    }

    mutating func resolved(_ reference: TaskReference, preferPending: Bool, _ steps: ([Int]) -> [Step]) async -> Plan {
        switch await resolve(reference, preferPending: preferPending) {
        case .ids(let ids): return .steps(steps(ids))
        case .failed(let answer): return .ask(answer)
        }
    }

    mutating func resolvedOne(_ reference: TaskReference, _ step: (Int) -> Step) async -> Plan {
        switch await resolve(reference, preferPending: false) {
        case .ids(let ids) where ids.count == 1: return .steps([step(ids[0])])
        case .ids(let ids): return .ask("Which task do you mean: \(ids.map { "task \($0)" }.joined(separator: " or "))?")
        case .failed(let answer): return .ask(answer)
        }
    }

    /// "mark all my tasks as done": every pending task of the scope (completing can be undone by reopening).
    mutating func completeAll(_ filter: ListFilter) async -> Plan {
        guard let tasks = await loadTasks() else { return .ask("I couldn't read your tasks right now.") }
        let open = tasks.filter { !$0.isCompleted }
        if filter == .completed { return .steps([.say("Those tasks are already completed.")]) }
        if open.isEmpty { return .steps([.say(tasks.isEmpty ? "You don't have any tasks yet." : "Every task is already completed.")]) }
        return .steps([.complete(open.map(\.id))])
    }

    /// "remove all completed tasks": one task goes at once; several wait for a yes.
    mutating func deleteAll(_ filter: ListFilter) async -> Plan {
        guard let tasks = await loadTasks() else { return .ask("I couldn't read your tasks right now.") }
        let chosen = tasks.filter { filter == .all || $0.isCompleted == (filter == .completed) }
        switch chosen.count {
        case 0:
            let what = filter == .completed ? "completed tasks" : filter == .pending ? "pending tasks" : "tasks"
            return .steps([.say("You don't have any \(what), so nothing was deleted.")])
        case 1: return .steps([.delete([chosen[0].id])])
        default: return .steps([.confirmDelete(chosen)])
        }
    }

    /// "yes" after "That deletes 4 tasks: … Reply yes to go ahead": exactly the tasks that message
    /// listed (those still there), never a fresh reading of the scope.
    func confirmPending() -> Plan {
        guard let ids = pendingDeletion() else { return .steps([.say("OK. What would you like to do with your tasks?")]) }
        return .steps([.delete(ids)])
    }

    static let confirmationHeader = "That deletes "
    static let confirmationFooter = "Reply yes to go ahead, or no to keep them."

    func pendingDeletion() -> [Int]? { Self.pendingDeletion(in: history) }

    /// The tasks the previous assistant message asked to delete, if it asked.
    static func pendingDeletion(in history: [Message]) -> [Int]? {
        guard let last = history.last(where: { $0.role == .assistant }), last.content.hasPrefix(Self.confirmationHeader),
            last.content.hasSuffix(Self.confirmationFooter)
        else { return nil }
        let ids = last.content.split(separator: "\n").dropFirst().compactMap { line -> Int? in
            guard let dot = line.firstIndex(of: ".") else { return nil }
            return Int(line[..<dot])
        }
        return ids.isEmpty ? nil : ids
    }

    // MARK: Undo

    static let undoHeader = "Undid your last change:"

    /// "undo": the tool calls that changed tasks in the conversation's last answer that changed
    /// any, reverted once (an answer that was itself an undo is not undone again).
    static func planUndo(_ history: [Message]) -> Plan {
        for message in history.reversed() where message.role == .assistant {
            let changes = message.toolCalls.filter(isChange)
            guard !changes.isEmpty else { continue }
            if message.content.hasPrefix(undoHeader) {
                return .steps([.say("I've already undone your last change, and I can undo it only once.")])
            }
            // Newest first when one task changed twice (added, then completed); else in the order told.
            let ids = changes.compactMap { TaskSummary($0.result["task"])?.id }
            return .steps([.undo(Set(ids).count == ids.count ? changes : changes.reversed())])
        }
        return .steps([.say("There's nothing to undo: I haven't changed any of your tasks in this conversation.")])
    }

    /// A tool call that changed a task (not a read, not a failure, not a task already done).
    static func isChange(_ call: ToolCallRecord) -> Bool {
        guard call.result["error"] == nil, TaskSummary(call.result["task"]) != nil else { return false }
        switch call.name {
        case TaskTools.addTask.name, TaskTools.deleteTask.name, TaskTools.updateTask.name, TaskTools.restoreTask.name: return true
        case TaskTools.completeTask.name: return call.result["already_completed"]?.boolValue != true
        default: return false
        }
    }

    /// Each change's inverse, one tool call each: an add is deleted, a completion reopened, an
    /// update set back to the `previous` it recorded, a deleted task restored under its number.
    mutating func undo(_ changes: [ToolCallRecord]) async -> String {
        var lines = [Self.undoHeader]
        for change in changes {
            guard let task = TaskSummary(change.result["task"]) else { continue }
            switch change.name {
            case TaskTools.addTask.name, TaskTools.restoreTask.name:
                let result = await call(TaskTools.deleteTask.name, ["task_id": JSONValue(task.id)])
                lines.append(TaskSummary(result["task"]) != nil ? "Removed task \(task.id): \(task.title)." : Self.failure(result, id: task.id))
            case TaskTools.completeTask.name:
                let result = await call(TaskTools.updateTask.name, ["task_id": JSONValue(task.id), "status": "pending"])
                lines.append(
                    TaskSummary(result["task"]) != nil ? "Task \(task.id) is pending again: \(task.title)." : Self.failure(result, id: task.id))
            case TaskTools.updateTask.name:
                lines.append(await revert(task, to: TaskSummary(change.result["previous"])))
            case TaskTools.deleteTask.name:
                lines.append(await restore(task))
            default: continue
            }
        }
        return lines.joined(separator: "\n")
    }

    mutating func revert(_ task: TaskSummary, to before: TaskSummary?) async -> String {
        guard let before else { return "I can't undo the change to task \(task.id): I don't know what it was before." }
        var arguments: [String: JSONValue] = ["task_id": JSONValue(task.id)]
        if before.title != task.title { arguments["title"] = .string(before.title) }
        if before.description != task.description { arguments["description"] = .string(before.description ?? "") }
        if before.isCompleted != task.isCompleted { arguments["status"] = .string(before.isCompleted ? "completed" : "pending") }
        guard arguments.count > 1 else { return "Task \(task.id) had not changed: \(task.title)." }
        let result = await call(TaskTools.updateTask.name, .object(arguments))
        guard let now = TaskSummary(result["task"]) else { return Self.failure(result, id: task.id) }
        return "Task \(now.id) is back to \(Self.quoted(now))."
    }

    mutating func restore(_ task: TaskSummary) async -> String {
        var arguments: [String: JSONValue] = [
            "task_id": JSONValue(task.id), "title": .string(task.title), "status": .string(task.isCompleted ? "completed" : "pending"),
        ]
        if let description = task.description { arguments["description"] = .string(description) }
        let result = await call(TaskTools.restoreTask.name, .object(arguments))
        if let restored = TaskSummary(result["task"]) { return "Restored task \(restored.id): \(restored.title)." }
        if result["error"]?["code"]?.stringValue == "conflict" {
            return "I couldn't restore task \(task.id) (\(task.title)): that number is in use again."
        }
        return Self.failure(result, id: task.id)
    }

    mutating func execute(_ step: Step) async -> String {
        switch step {
        case .add(let drafts): return await add(drafts)
        case .list(let filter): return await list(filter)
        case .show(let id): return await show(id)
        case .complete(let ids): return await each(ids) { turn, id in await turn.complete(id) }
        case .reopen(let ids): return await each(ids) { turn, id in await turn.reopen(id) }
        case .delete(let ids): return await each(ids) { turn, id in await turn.delete(id) }
        case .confirmDelete(let tasks):
            return Self.confirmationHeader + "\(tasks.count) tasks:\n" + tasks.map(Self.line).joined(separator: "\n") + "\n"
                + Self.confirmationFooter
        case .update(let id, let title, let description): return await update(id, title: title, description: description)
        case .undo(let changes): return await undo(changes)
        case .edit(let id, let old, let new): return await edit(id, replacing: old, with: new)
        case .say(let text): return text
        }
    }

    mutating func each(_ ids: [Int], _ body: (inout Turn, Int) async -> String) async -> String {
        var lines: [String] = []
        for id in ids { lines.append(await body(&self, id)) }
        return lines.joined(separator: "\n")
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

    /// Replaces the words `old` inside the title (matched case-insensitively, at word boundaries)
    /// with `new`; a title without them gets `new` as a whole.
    mutating func edit(_ id: Int, replacing old: String, with new: String) async -> String {
        guard let task = await loadTasks()?.first(where: { $0.id == id }) else { return "I couldn't find task \(id)." }
        return await update(id, title: Self.replacing(old, with: new, in: task.title), description: nil)
    }

    static func replacing(_ old: String, with new: String, in title: String) -> String {
        // New words that already hold the whole title are the whole new title.
        if CommandParser.mentions(new, title) { return CommandParser.capitalizeFirst(new) }
        let pattern = "(?<![\\p{L}\\p{N}])" + NSRegularExpression.escapedPattern(for: old) + "(?![\\p{L}\\p{N}])"
        guard let regex = try? NSRegularExpression(pattern: pattern, options: [.caseInsensitive]),
            let match = regex.firstMatch(in: title, range: NSRange(title.startIndex..., in: title)),
            let range = Range(match.range, in: title)
        else { return CommandParser.capitalizeFirst(new) }
        let edited = title.replacingCharacters(in: range, with: new)
        return range.lowerBound == title.startIndex ? CommandParser.capitalizeFirst(edited) : edited
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
        case .scope(let filter):
            guard let tasks = await loadTasks() else { return .failed("I couldn't read your tasks right now.") }
            let chosen = tasks.filter { filter == .all || $0.isCompleted == (filter == .completed) }
            guard !chosen.isEmpty else { return .failed("You don't have any \(filter == .all ? "" : filter.rawValue + " ")tasks.") }
            return .ids(chosen.map(\.id))
        case .text(let phrase), .reported(let phrase):
            guard let tasks = await loadTasks() else { return .failed("I couldn't read your tasks right now.") }
            // "the dentist appointment and the team meeting", "called mom and bought the groceries":
            // several tasks when every part names one of its own.
            if let ids = Self.eachPartNamesOne(phrase, in: tasks, preferPending: preferPending) { return .ids(ids) }
            switch TaskMatcher.match(phrase, in: tasks, preferPending: preferPending) {
            case .one(let task): return .ids([task.id])
            case .none: return .failed("I couldn't find a task matching \"\(phrase)\".")
            case .ambiguous(let candidates):
                let options = candidates.map(Self.line).joined(separator: "\n")
                return .failed("More than one task matches \"\(phrase)\". Which one do you mean?\n\(options)")
            }
        }
    }

    static func eachPartNamesOne(_ phrase: String, in tasks: [TaskSummary], preferPending: Bool) -> [Int]? {
        let parts = phrase.replacingOccurrences(of: ", and ", with: ", ").replacingOccurrences(of: " & ", with: ", ")
            .replacingOccurrences(of: " and ", with: ", ", options: .caseInsensitive).components(separatedBy: ", ")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard parts.count >= 2 else { return nil }
        var ids: [Int] = []
        for part in parts {
            guard case .one(let task) = TaskMatcher.match(part, in: tasks, preferPending: preferPending), !ids.contains(task.id) else {
                return nil
            }
            ids.append(task.id)
        }
        return ids
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

    /// "Buy groceries (pending)", with its description when it has one.
    static func quoted(_ task: TaskSummary) -> String {
        "\"\(task.title)\"" + (task.description.map { " (\($0))" } ?? "") + (task.isCompleted ? ", completed" : ", pending")
    }

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
