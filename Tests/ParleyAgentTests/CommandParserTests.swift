import Testing
import ParleyCore

@testable import ParleyAgent

@Suite("Command parser")
struct CommandParserTests {
    @Test(arguments: [
        ("Add a task to buy milk", "Buy milk"),
        ("add buy milk", "Buy milk"),
        ("please add a new task: call the plumber", "Call the plumber"),
        ("Remind me to water the plants", "Water the plants"),
        ("I need to remember to renew my passport", "Renew my passport"),
        ("don't let me forget to send the invoice", "Send the invoice"),
        ("put pick up dry cleaning on my list", "Pick up dry cleaning"),
        ("Could you add 'email Sarah' to my to-do list?", "Email Sarah"),
        ("new task: book the venue", "Book the venue"),
        ("I have to pick up the kids at 5", "Pick up the kids at 5"),
        ("jot down: return library books", "Return library books"),
    ])
    func addsATaskWithACleanTitle(message: String, title: String) {
        guard case .add(let drafts) = CommandParser.parse(message) else {
            Issue.record("\(message) was not parsed as an add: \(CommandParser.parse(message))")
            return
        }
        #expect(drafts.map(\.title) == [title])
    }

    @Test func addSplitsOffADescription() {
        let command = CommandParser.parse("Create a task called Book flights with description compare prices first")
        #expect(command == .add([TaskDraft(title: "Book flights", description: "compare prices first")]))
    }

    @Test func addNeverReadsAVerbInsideTheTitleAsACommand() {
        #expect(CommandParser.parse("add a task to delete old emails") == .add([TaskDraft(title: "Delete old emails", description: nil)]))
        #expect(CommandParser.parse("remind me to cancel the gym membership") == .add([TaskDraft(title: "Cancel the gym membership", description: nil)]))
    }

    @Test(arguments: [
        ("Show me all my tasks", ListFilter.all),
        ("what's on my list?", .all),
        ("list my to-do list", .all),
        ("What's pending?", .pending),
        ("what's left to do", .pending),
        ("what do I still need to do?", .pending),
        ("anything outstanding?", .pending),
        ("What have I completed?", .completed),
        ("show me the tasks I've finished", .completed),
        ("which tasks are done", .completed),
    ])
    func listsWithTheRightFilter(message: String, filter: ListFilter) {
        #expect(CommandParser.parse(message) == .list(filter))
    }

    @Test(arguments: [
        ("Mark task 3 as complete", Command.complete(.numbers([3]))),
        ("complete #2", .complete(.numbers([2]))),
        ("cross off task 2", .complete(.numbers([2]))),
        ("tick off number 4", .complete(.numbers([4]))),
        ("task 5 is done", .complete(.numbers([5]))),
        ("finish the third task", .complete(.numbers([3]))),
        ("mark tasks 1 and 3 as done", .complete(.numbers([1, 3]))),
        ("I finished buying groceries", .complete(.text("buying groceries"))),
        ("I'm done with the dentist appointment", .complete(.text("dentist appointment"))),
        ("mark it as done", .complete(.previous)),
    ])
    func completes(message: String, command: Command) {
        #expect(CommandParser.parse(message) == command)
    }

    @Test(arguments: [
        ("Delete task 2", Command.delete(.numbers([2]))),
        ("remove #4", .delete(.numbers([4]))),
        ("Remove the meeting task", .delete(.text("meeting"))),
        ("get rid of the dentist appointment", .delete(.text("dentist appointment"))),
        ("take call mom off my list", .delete(.text("call mom"))),
        ("delete tasks 2, 3 and 5", .delete(.numbers([2, 3, 5]))),
        ("delete the last task", .delete(.latest)),
    ])
    func deletes(message: String, command: Command) {
        #expect(CommandParser.parse(message) == command)
    }

    @Test(arguments: [
        ("Change task 1 to 'Call mom tonight'", Command.update(.numbers([1]), title: "Call mom tonight", description: nil)),
        ("Rename task 5 to \"Dentist at 9am\"", .update(.numbers([5]), title: "Dentist at 9am", description: nil)),
        ("Update the description of task 2 to: ask about the holidays", .update(.numbers([2]), title: nil, description: "ask about the holidays")),
        ("change the title of task 3 to standup", .update(.numbers([3]), title: "Standup", description: nil)),
        ("add a note to task 4: paid online", .update(.numbers([4]), title: nil, description: "paid online")),
        ("rename the dentist task to Orthodontist", .update(.text("dentist"), title: "Orthodontist", description: nil)),
    ])
    func updates(message: String, command: Command) {
        #expect(CommandParser.parse(message) == command)
    }

    @Test func completionPhrasedAsSetIsNotARename() {
        #expect(CommandParser.parse("set task 3 as done") == .complete(.numbers([3])))
    }

    @Test func greetingsHelpAndThanks() {
        #expect(CommandParser.parse("hi") == .greeting(alsoHelp: false))
        #expect(CommandParser.parse("Hello! What can you do?") == .help)
        #expect(CommandParser.parse("help") == .help)
        #expect(CommandParser.parse("thanks!") == .thanks)
        #expect(CommandParser.parse("hey, add a task to buy bread") == .add([TaskDraft(title: "Buy bread", description: nil)]))
    }

    @Test func unknownStaysUnknown() {
        #expect(CommandParser.parse("the weather is nice") == .unknown)
        #expect(CommandParser.parse("") == .unknown)
        #expect(CommandParser.parse("   ") == .unknown)
    }
}

@Suite("Task matcher")
struct TaskMatcherTests {
    let tasks = [
        TaskSummary(id: 1, title: "Buy groceries", completed: false),
        TaskSummary(id: 2, title: "Call mom", completed: false),
        TaskSummary(id: 3, title: "Team meeting at 3pm", completed: false),
        TaskSummary(id: 4, title: "Pay electricity bill", completed: true),
        TaskSummary(id: 5, title: "Call mom about the holidays", completed: false),
        TaskSummary(id: 6, title: "Email Bob", completed: false),
        TaskSummary(id: 7, title: "Email Alice", completed: false),
    ]

    @Test func matchesInflectedWords() {
        #expect(TaskMatcher.match("buying groceries", in: tasks, preferPending: true) == .one(tasks[0]))
        #expect(TaskMatcher.match("the meeting", in: tasks, preferPending: false) == .one(tasks[2]))
        #expect(TaskMatcher.match("electricity", in: tasks, preferPending: false) == .one(tasks[3]))
    }

    @Test func prefersTheTitleThePhraseCoversBest() {
        #expect(TaskMatcher.match("call mom", in: tasks, preferPending: false) == .one(tasks[1]))
    }

    @Test func reportsNoneAndAmbiguity() {
        #expect(TaskMatcher.match("walk the dog", in: tasks, preferPending: false) == .none)
        #expect(TaskMatcher.match("email", in: tasks, preferPending: false) == .ambiguous([tasks[5], tasks[6]]))
    }
}

extension TaskSummary {
    init(id: Int, title: String, completed: Bool) {
        self.init(["id": .number(Double(id)), "title": .string(title), "status": .string(completed ? "completed" : "pending")])!
    }
}
