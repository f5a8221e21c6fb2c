import Foundation

/// How a message points at a task.
public enum TaskReference: Sendable, Hashable {
    /// "task 3", "#3", "the third task"
    case numbers([Int])
    /// "the last task", "my latest one"
    case latest
    /// "it", "that one": the task the conversation was last about
    case previous
    /// "the meeting task", "buying groceries": matched against titles
    case text(String)
    /// A clause that names the task among other words ("the meeting got cancelled, delete it"):
    /// a number in it, else the title it overlaps most, else the conversation's last task.
    case contextual(String)
    /// "I paid the electricity bill": a report of something done, matched strictly against titles.
    case reported(String)
}

public enum ListFilter: String, Sendable, Hashable {
    case all, pending, completed
}

public struct TaskDraft: Sendable, Hashable {
    public var title: String
    public var description: String?
}

/// What the user asked for, in the basic agent's terms.
public enum Command: Sendable, Hashable {
    case add([TaskDraft])
    case list(ListFilter)
    case show(TaskReference)
    case complete(TaskReference)
    case reopen(TaskReference)
    case delete(TaskReference)
    case update(TaskReference, title: String?, description: String?)
    case greeting(alsoHelp: Bool)
    case help
    case thanks
    case unknown
}

extension Command {
    /// True when the command is about "it" / "that one" rather than a named task.
    var pointsBack: Bool {
        switch self {
        case .show(.previous), .complete(.previous), .reopen(.previous), .delete(.previous), .update(.previous, _, _): true
        default: false
        }
    }

    func replacingReference(with reference: TaskReference) -> Command {
        switch self {
        case .show: .show(reference)
        case .complete: .complete(reference)
        case .reopen: .reopen(reference)
        case .delete: .delete(reference)
        case .update(_, let title, let description): .update(reference, title: title, description: description)
        default: self
        }
    }
}

/// A deterministic parser of English task commands. It recognises the five operations by the
/// shapes people use for them (imperatives, "I finished …", "remind me to …", questions about
/// the list), not by fixed sentences; anything it cannot place is `.unknown`.
public enum CommandParser {
    public static func parse(_ message: String) -> Command {
        let text = normalize(message)
        guard !text.isEmpty else { return .unknown }
        if let greeting = parseGreeting(text) { return greeting }
        return parseCommand(text) ?? .unknown
    }

    // MARK: Normalisation

    static func normalize(_ message: String) -> String {
        var text = message
            .replacingOccurrences(of: "\u{2019}", with: "'").replacingOccurrences(of: "\u{2018}", with: "'")
            .replacingOccurrences(of: "\u{201C}", with: "\"").replacingOccurrences(of: "\u{201D}", with: "\"")
            .replacingOccurrences(of: "\u{2013}", with: "-").replacingOccurrences(of: "\u{2014}", with: "-")
        text = text.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        var previous = ""
        while previous != text {
            previous = text
            text = stripTrailingPunctuation(text)
            for filler in leadingFillers {
                if let rest = filler.firstCapture(in: text), !rest.isEmpty { text = rest }
            }
            if let rest = trailingPoliteness.firstCapture(in: text), !rest.isEmpty { text = rest }
        }
        return text
    }

    static func stripTrailingPunctuation(_ text: String) -> String {
        var text = Substring(text)
        while let last = text.last, ".!?,;: ".contains(last) { text = text.dropLast() }
        return String(text)
    }

    static let leadingFillers: [Pattern] = [
        Pattern(#"(?:hey|hi|hello|ok|okay|so|um+|uh+|well|alright|right|yo|oh)[,!.]?\s+(.+)"#),
        Pattern(#"(?:please|pls|plz|kindly|just|now|also|and|then|quickly)[,]?\s+(.+)"#),
        Pattern(#"(?:can|could|would|will)\s+(?:you|u|ya)\s+(?:please\s+|kindly\s+|just\s+)?(.+)"#),
        Pattern(#"(?:i want you to|i'd like you to|i would like you to|i need you to|go ahead and|let's|lets|help me|i want to|i wanted to|i'd like to|i would like to|i'd love to)\s+(.+)"#),
        Pattern(#"(?:parley|assistant|bot)[,:]?\s+(.+)"#),
        Pattern(#"(?:you can|you may|u can|you could|feel free to|time to|ok to)\s+(.+)"#),
    ]
    static let trailingPoliteness = Pattern(
        #"(.+?)(?:[,\s]+(?:please|pls|plz|thanks|thank you|thx|for me|now|asap|right now))+"#)

    // MARK: Greetings, help, thanks

    static let greetingPattern = Pattern(
        #"(?:hi|hello|hey|hiya|howdy|greetings|yo|good (?:morning|afternoon|evening)|hi there|hello there|hey there)(?:[\s,!.]+(.*))?"#)
    static let helpPattern = Pattern(
        #"(?:help|\?|what can you do|what do you do|what are you|who are you|how does (?:this|it) work|how do i use (?:this|you)|what can i (?:say|do|ask)|what are (?:the|your) commands|commands|options|how can you help(?: me)?|what are you able to do|what can you help (?:me )?with)"#)
    static let thanksPattern = Pattern(#"(?:thanks|thank you|thx|ty|cheers|great|awesome|perfect|cool|nice|ok thanks)(?:[\s,!.]+.{0,40})?"#)

    static func parseGreeting(_ text: String) -> Command? {
        if helpPattern.matches(text) { return .help }
        if let captures = greetingPattern.captures(in: text) {
            let rest = stripTrailingPunctuation(captures[0] ?? "")
            if rest.isEmpty { return .greeting(alsoHelp: false) }
            if helpPattern.matches(rest) { return .greeting(alsoHelp: true) }
            if let command = parseCommand(rest) { return command }
            return .greeting(alsoHelp: true)
        }
        if thanksPattern.matches(text), parseCommand(text) == nil { return .thanks }
        return nil
    }

    // MARK: Commands

    static func parseCommand(_ text: String) -> Command? {
        let command = parseSingle(text)
        if let command, !command.pointsBack { return command }
        // "the meeting got cancelled, remove it": the command is in one clause, the task in another.
        if let (context, clause) = splitClauses(text), let inner = parseSingle(normalize(clause)), inner.pointsBack {
            return inner.replacingReference(with: .contextual(context))
        }
        return command ?? parseReport(text)
    }

    static func parseSingle(_ text: String) -> Command? {
        parseUpdate(text) ?? parseDelete(text) ?? parseComplete(text) ?? parseReopen(text) ?? parseExplicitAdd(text)
            ?? parseList(text) ?? parseAdd(text)
    }

    static let clauseSplit = Pattern(#"(.+?)(?:\s*[,;:]\s*|\s+-\s+|\s+so\s+|\s+and\s+(?:then\s+)?|\s*\.\s+)(.+)"#)

    /// Splits "context, command" at the first clause boundary.
    static func splitClauses(_ text: String) -> (String, String)? {
        guard let c = clauseSplit.captures(in: text), let head = c[0], let tail = c[1] else { return nil }
        return (head, tail)
    }

    // "I paid the electricity bill", "I called mom already": something done, told in the past.
    static let reportPattern = Pattern(
        #"(?:i|we)\s+(?:already\s+|just\s+|finally\s+|have\s+|'ve\s+)?((?:\w+ed|bought|paid|went to|got|made|sent|wrote|took|met|saw|did|ate|fed|read|gave|brought|sold|built|swept|ran)\s+.+?)(?:\s+(?:already|just now|today|yesterday|earlier|finally))?"#)
    static let notReports: Set<String> = [
        "wanted", "needed", "decided", "planned", "forgot", "hoped", "tried", "started", "liked", "loved", "used",
        "asked", "wondered", "added", "created", "listed", "deleted", "removed", "changed", "renamed", "updated",
    ]

    static func parseReport(_ text: String) -> Command? {
        guard let c = reportPattern.captures(in: text), let phrase = c[0] else { return nil }
        let verb = phrase.split(separator: " ").first.map { $0.lowercased() } ?? ""
        guard !notReports.contains(verb), !phrase.lowercased().contains(" to ") || verb == "went" else { return nil }
        return .complete(.reported(phrase))
    }

    // Update: "rename task 5 to X", "change the description of task 2 to: Y", "set task 3's title to X"
    static let updateVerbs = #"(?:change|update|edit|modify|set|rename|retitle|alter|fix|correct|replace)"#
    static let fieldWords = #"(description|desc|details|detail|notes?|title|name|text|wording)"#
    static let updateFieldFirst = Pattern(
        #"\#(updateVerbs)\s+(?:the\s+)?\#(fieldWords)\s+(?:of|for|on|in)\s+(.+?)\s*(?:\s+to\s+(?:say|read|be)\s+|\s+to\s*:?\s*|\s+as\s+|\s+with\s+|\s*:\s*|\s*=\s*|\s+into\s+)(.+)"#)
    static let updateTaskFirst = Pattern(
        #"\#(updateVerbs)\s+(.+?)(?:'s)?(?:\s+\#(fieldWords))?\s*(?:\s+to\s+(?:say|read|be)\s+|\s+to\s*:?\s*|\s*:\s*|\s*=\s*|\s+into\s+|\s+as\s+)(.+)"#)
    static let addDetailTo = Pattern(
        #"(?:add|put|attach|give|write)\s+(?:a\s+|the\s+)?(?:description|note|notes|details|detail)\s+(?:to|for|on)\s+(.+?)(?:\s*:\s*|\s+saying\s+|\s+that says\s+|\s+-\s+|,\s*)(.+)"#)
    static let updateSoThat = Pattern(
        #"\#(updateVerbs)\s+(.+?)\s+so\s+(?:that\s+)?(?:the\s+|its\s+|it\s+)?\#(fieldWords)?\s*(?:says|reads|is|becomes|will be|=)\s+(.+)"#)
    static let callIt = Pattern(
        #"(?:call|name|title|retitle|rename)\s+(it|that|this|that one|this one)\s+(?:to\s+|as\s+)?(.+)"#)
    static let updateFieldOnly = Pattern(
        #"\#(updateVerbs)\s+(?:the\s+|its\s+)?\#(fieldWords)\s*(?:\s+to\s+(?:say|read|be)\s+|\s+to\s*:?\s*|\s*:\s*|\s*=\s*|\s+as\s+)(.+)"#)
    static let shouldBeCalled = Pattern(
        #"(.+?)\s+should\s+(?:be\s+)?(?:called|named|titled|say|read)\s+(.+)"#)

    static func parseUpdate(_ text: String) -> Command? {
        if let c = updateFieldFirst.captures(in: text), let field = c[0], let target = c[1], let value = c[2] {
            return update(reference: target, field: field, value: value)
        }
        if let c = updateSoThat.captures(in: text), let target = c[0], let value = c[2] {
            return update(reference: target, field: c[1] ?? "title", value: value)
        }
        if let c = callIt.captures(in: text), let target = c[0], let value = c[1] {
            return update(reference: target, field: "title", value: value)
        }
        if let c = updateFieldOnly.captures(in: text), let field = c[0], let value = c[1] {
            return update(reference: "it", field: field, value: value)
        }
        if let c = addDetailTo.captures(in: text), let target = c[0], let value = c[1] {
            return update(reference: target, field: "description", value: value)
        }
        if let c = updateTaskFirst.captures(in: text), let target = c[0], let value = c[2] {
            // "set task 3 as done" is a completion, not a rename.
            if completionWords.matches(value) || reopenWords.matches(value) { return nil }
            return update(reference: target, field: c[1] ?? "title", value: value)
        }
        if let c = shouldBeCalled.captures(in: text), let target = c[0], let value = c[1] {
            return update(reference: target, field: "title", value: value)
        }
        return nil
    }

    static func update(reference: String, field: String, value: String) -> Command? {
        let value = cleanValue(value)
        guard !value.isEmpty, let reference = parseReference(reference) else { return nil }
        let lower = field.lowercased()
        if lower.hasPrefix("desc") || lower.hasPrefix("detail") || lower.hasPrefix("note") {
            return .update(reference, title: nil, description: value)
        }
        return .update(reference, title: capitalizeFirst(value), description: nil)
    }

    // Delete: "delete task 2", "remove the meeting task", "get rid of X", "take X off my list"
    static let deleteVerbs =
        #"(?:delete|remove|erase|drop|trash|bin|discard|cancel|scrap|scratch|ditch|nuke|purge|get rid of|throw away|throw out|forget about|forget|eliminate|kill|clear|wipe|axe)"#
    static let listTail = #"(?:\s+(?:from|off|out of|on|in)\s+(?:my|the)\s+(?:to-?do\s+|task\s+)?(?:list|tasks|to-?dos|to-?do list))?"#
    static let deletePattern = Pattern(#"\#(deleteVerbs)\s+(.+?)\#(listTail)"#)
    static let takeOffPattern = Pattern(#"(?:take|strike|scratch)\s+(.+?)\s+(?:off|out of|from)\s+(?:my|the)\s+(?:to-?do\s+|task\s+)?(?:list|tasks|to-?dos)"#)
    static let noLongerNeeded = Pattern(
        #"(?:i\s+)?(?:don't|do not|no longer|dont)\s+(?:need|have|want)\s+to\s+(.+?)(?:\s+(?:anymore|any more|after all))?"#)
    static let isCancelled = Pattern(#"(.+?)\s+(?:is|are|was|has been|got)\s+(?:cancel+ed|called off|no longer needed|not needed anymore|off)"#)

    static func parseDelete(_ text: String) -> Command? {
        for pattern in [deletePattern, takeOffPattern, noLongerNeeded, isCancelled] {
            if let c = pattern.captures(in: text), let target = c[0], let reference = parseReference(target) {
                if case .text(let words) = reference, isListNoun(words) { return nil }
                return .delete(reference)
            }
        }
        return nil
    }

    // Complete: "mark task 3 as done", "I finished buying groceries", "cross off task 2", "task 3 is done"
    static let completionWords = Pattern(
        #"(?:as\s+)?(?:done|complete|completed|finished|checked(?: off)?|resolved|closed|ticked(?: off)?|crossed(?: off)?)"#)
    static let reopenWords = Pattern(#"(?:as\s+)?(?:not done|undone|incomplete|pending|open|not complete|not completed|unfinished|todo|to do)"#)
    static let markPattern = Pattern(
        #"(?:mark|set|flag|tag|make|put|change|update|move)\s+(.+?)\s+(?:as\s+|to\s+|to be\s+|into\s+)?(?:done|complete|completed|finished|checked(?: off)?|resolved|closed)"#)
    static let completeVerbPattern = Pattern(
        #"(?:complete|finish|check off|tick off|cross off|cross out|strike off|strike out|close out|close|resolve|wrap up|knock out|knock off|done with)\s+(.+?)(?:\s+(?:off|out|as done|as complete))?\#(listTail)"#)
    static let offPattern = Pattern(#"(?:check|tick|cross|strike|knock|mark)\s+(.+?)\s+off\#(listTail)"#)
    static let iDidPattern = Pattern(
        #"(?:i\s+|i've\s+|i have\s+|we\s+|we've\s+)?(?:just\s+|already\s+|finally\s+)?(?:finished|completed|did|done|accomplished|took care of|handled|wrapped up|sorted out|sorted|dealt with|knocked out)\s+(.+?)(?:\s+(?:already|just now|today|finally))?"#)
    static let doneWithPattern = Pattern(#"(?:i'm|i am|im|we're|we are)\s+(?:all\s+)?(?:done|finished|through)\s+(?:with\s+)?(.+)"#)
    static let isDonePattern = Pattern(
        #"(.+?)\s+(?:is|are|was|has been|have been|got)\s+(?:now\s+|already\s+|finally\s+|all\s+)?(?:done|complete|completed|finished|taken care of|sorted|handled|dealt with)"#)
    static let terseDonePattern = Pattern(#"(.+?)\s*(?:[:\-]\s*)?(?:done|complete|completed|finished|✓|✅)"#)

    static let question = Pattern(#"(?:which|what|what's|whats|how|do|did|does|have|has|are|any|is there|show|list|tell)\b.*"#)

    static func parseComplete(_ text: String) -> Command? {
        // "which tasks are done?" asks; it does not tell.
        if question.matches(text) { return nil }
        for pattern in [markPattern, completeVerbPattern, offPattern, iDidPattern, doneWithPattern, isDonePattern] {
            if let c = pattern.captures(in: text), let target = c[0], let reference = parseReference(target) {
                if case .text(let words) = reference, isListNoun(words) { continue }
                return .complete(reference)
            }
        }
        // "task 3 done" only with an explicit number, so "get it done" is not a command.
        if let c = terseDonePattern.captures(in: text), let target = c[0], let reference = parseReference(target),
            case .numbers = reference
        {
            return .complete(reference)
        }
        return nil
    }

    static let reopenPattern = Pattern(
        #"(?:(?:mark|set|flag|put)\s+(.+?)\s+(?:as\s+)?(?:not done|undone|incomplete|pending|open|not complete|not completed|unfinished)|(?:reopen|re-open|uncomplete|undo|unmark|uncheck|untick)\s+(.+?))"#)

    static func parseReopen(_ text: String) -> Command? {
        guard let c = reopenPattern.captures(in: text), let target = c[0] ?? c[1], let reference = parseReference(target)
        else { return nil }
        return .reopen(reference)
    }

    // List: "show me all my tasks", "what's pending?", "what have I completed?", "anything left?"
    static let listOpeners = Pattern(
        #"(?:show|list|display|view|see|give|get|print|read|tell|what|what's|whats|what're|which|how many|do i|have i|did i|are there|is there|any|anything|let me see|can i see|check|review|go over|pull up|bring up|where|my|all|current|remaining|pending|completed|finished|open|outstanding|to-?do|tasks?)\b.*"#)
    static let listNouns = Pattern(
        #".*\b(?:tasks?|to-?dos?|to-?do list|list|items?|pending|left|remaining|outstanding|open|incomplete|unfinished|completed|complete|done|finished|agenda|plate|schedule|everything|backlog|need to do|have to do|got to do|should i do|to do|accomplished|checked off|crossed off|achieved)\b.*"#)
    static let completedWords = Pattern(
        #".*\b(?:completed|complete|done|finished|accomplished|checked off|crossed off|achieved|closed|ticked off)\b.*"#)
    static let pendingWords = Pattern(
        #".*\b(?:pending|left|remaining|outstanding|open|incomplete|unfinished|not done|not yet|still|need to do|have to do|got to do|should i do|to do|todo|uncompleted|not completed|not finished|undone|ahead)\b.*"#)
    static let everythingWords = Pattern(
        #".*\b(?:including|done or not|finished or not|complete or not|both|every task|everything|all of (?:my|the) tasks|all tasks|all my tasks|all of them|whole list|full list|entire list)\b.*"#)
    static let showOnePattern = Pattern(
        #"(?:show|display|view|see|get|read|open|what's|what is|whats|details of|tell me about)\s+(?:me\s+)?(?:the\s+)?(?:details\s+(?:of|for)\s+)?(task\s*#?\s*\d+|#\d+)"#)

    static func parseList(_ text: String) -> Command? {
        if let c = showOnePattern.captures(in: text), let target = c[0], let reference = parseReference(target) {
            return .show(reference)
        }
        guard listOpeners.matches(text), listNouns.matches(text) else { return nil }
        // "to-do list" names the list, it does not ask for pending items.
        let lower = text.lowercased()
            .replacingOccurrences(of: "to-do list", with: "list").replacingOccurrences(of: "todo list", with: "list")
            .replacingOccurrences(of: "to do list", with: "list")
        if everythingWords.matches(lower) { return .list(.all) }
        let wantsCompleted = completedWords.matches(lower) && !pendingWords.matches(lower)
        if wantsCompleted { return .list(.completed) }
        if pendingWords.matches(lower) && !lower.contains("all ") { return .list(.pending) }
        return .list(.all)
    }

    // Add: "add a task to buy milk", "remind me to water the plants", "I need to renew my passport"
    static let addWithNoun = Pattern(
        #"(?:add|create|make|new|insert|save|record|log|open|start|set up|setup|put in|enter|register|jot down|write down|note down|note)\s+(?:(?:a|an|one|another|the|this|my)\s+)?(?:new\s+)?(?:task|todo|to-do|to do|item|reminder|entry|note)(?:s)?(?:\s+(?:called|named|titled|that says|saying|for|to|about|of|which is|that is|:|-)|\s*:|\s*-)?\s+(.+)"#)
    static let nounColon = Pattern(#"(?:new\s+)?(?:task|todo|to-do|reminder|item)\s*(?::|-)\s*(.+)"#)
    static let addToList = Pattern(
        #"(?:add|put|write|jot|note|stick|pop|throw|place|include)\s+(?:down\s+)?(.+?)\s+(?:to|on|onto|in|into)\s+(?:my|the)\s+(?:to-?do\s+|task\s+|todo\s+)?(?:list|tasks|to-?dos|to-?do list)"#)
    static let reminderPhrases = Pattern(
        #"(?:remind me to|remind me about|remind me that i need to|remind me that i have to|remind me|remember to|remember that i need to|remember|don't let me forget to|don't let me forget|dont let me forget to|don't forget to|dont forget to|don't forget|make sure i|i need to remember to|i must remember to|i have to remember to|i should remember to|i want to remember to|note that i need to|note to self:?|i need to|i have to|i've got to|i got to|i gotta|i should|i must|i ought to|i'll need to|i will need to|i still need to|i also need to|i really need to|we need to|we have to|we should|need to|have to|gotta|must|should)\s+(.+)"#)
    static let bareAdd = Pattern(#"(?:add|create)\s+(.+)"#)

    static let noteDown = Pattern(#"(?:jot down|write down|note down|jot|note|add|put down|save)\s*(?::|-)?\s*(.+)"#)

    /// Adds that say so outright ("new task: …", "jot down …"), checked before list questions.
    static func parseExplicitAdd(_ text: String) -> Command? {
        if let c = nounColon.captures(in: text), let rest = c[0] { return add(rest) }
        if let c = addWithNoun.captures(in: text), let rest = c[0] { return add(rest) }
        if text.lowercased().hasPrefix("add") || text.lowercased().hasPrefix("save") { return nil }
        if let c = noteDown.captures(in: text), let rest = c[0] { return add(rest) }
        return nil
    }

    static func parseAdd(_ text: String) -> Command? {
        if let command = parseExplicitAdd(text) { return command }
        if let c = addToList.captures(in: text), let rest = c[0] { return add(rest) }
        if let c = reminderPhrases.captures(in: text), let rest = c[0] { return add(rest) }
        if let c = bareAdd.captures(in: text), let rest = c[0] { return add(rest) }
        return nil
    }

    static let descriptionSplit = Pattern(
        #"(.+?)\s*[,;]?\s+(?:with|and)\s+(?:a\s+|the\s+)?(?:description|desc|details|detail|notes?)\s*(?:of|:|saying|that says|reading|-)?\s*(.+)"#)
    static let descriptionColon = Pattern(#"(.+?)\s*[,;.]?\s+(?:description|desc|details|notes?)\s*:\s*(.+)"#)
    static let titleTail = Pattern(
        #"(.+?)(?:\s+(?:to|on|onto|in|into)\s+(?:my|the)\s+(?:to-?do\s+|task\s+|todo\s+)?(?:list|tasks|to-?dos|to-?do list)|\s+as\s+a\s+(?:task|todo|to-do|reminder)|\s+please)+"#)

    static func add(_ rest: String) -> Command? {
        var title = rest
        var description: String?
        for pattern in [descriptionSplit, descriptionColon] {
            if let c = pattern.captures(in: rest), let head = c[0], let tail = c[1] {
                title = head
                description = cleanValue(tail)
                break
            }
        }
        if let c = titleTail.captures(in: title), let head = c[0] { title = head }
        title = cleanValue(title)
        for prefix in ["to ", "that i need to ", "that i have to ", "called ", "named ", "titled ", "about ", "for "]
        where title.lowercased().hasPrefix(prefix) && title.count > prefix.count + 1 {
            title = String(title.dropFirst(prefix.count))
        }
        title = cleanValue(title)
        guard !title.isEmpty else { return nil }
        return .add([TaskDraft(title: capitalizeFirst(title), description: description.flatMap { $0.isEmpty ? nil : $0 })])
    }

    // MARK: References

    static let numberList = Pattern(
        #"(?:the\s+)?(?:(?:tasks?|items?|todos?|to-dos?)\s*)?(?:(?:numbers?|nos?\.?|ids?)\s*)?#?\s*(\d+)((?:\s*(?:,|and|&|\+|,\s*and)\s*#?\s*\d+)*)(?:\s+(?:tasks?|items?))?"#)
    static let wordNumber = Pattern(
        #"(?:the\s+)?(?:(?:task|item|number)\s+(\w+)|(\w+)\s+(?:task|item|one|todo))"#)
    static let latestPattern = Pattern(#"(?:the\s+|my\s+)?(?:last|latest|newest|most recent)(?:\s+(?:task|item|one|todo|thing))?"#)
    static let previousPattern = Pattern(#"(?:it|that|this|that one|this one|that task|this task|the same one|same one)"#)
    static let numberWords: [String: Int] = [
        "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
        "eleven": 11, "twelve": 12, "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
        "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12,
    ]
    static let referenceNoise = Pattern(
        #"(?:the\s+|my\s+|a\s+|an\s+|our\s+)?(?:(?:task|item|todo|to-do|one|reminder)\s+(?:called|named|titled|about|for|to|that says|saying|with)\s+)?(.+?)(?:\s+(?:task|item|todo|to-do|one|reminder|thing|entry))?"#)

    public static func parseReference(_ raw: String) -> TaskReference? {
        let text = stripTrailingPunctuation(raw.trimmingCharacters(in: .whitespaces))
        guard !text.isEmpty else { return nil }
        if let c = numberList.captures(in: text), let first = c[0].flatMap({ Int($0) }) {
            let more = (c[1] ?? "").split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            return .numbers([first] + more)
        }
        if let c = wordNumber.captures(in: text), let word = (c[0] ?? c[1])?.lowercased(), let number = numberWords[word] {
            return .numbers([number])
        }
        if latestPattern.matches(text) { return .latest }
        if previousPattern.matches(text) { return .previous }
        var words = text
        if let c = referenceNoise.captures(in: text), let core = c[0] { words = core }
        words = cleanValue(words)
        guard !words.isEmpty else { return nil }
        return .text(words)
    }

    static let numberInClause = Pattern(#".*?(?:\btasks?\s*|\bnumber\s*|\bitem\s*|#)#?\s*(\d+)\b.*"#)

    /// "edit task 1" inside a longer clause.
    static func numberMentioned(in clause: String) -> TaskReference? {
        guard let number = numberInClause.firstCapture(in: clause).flatMap({ Int($0) }) else { return nil }
        return .numbers([number])
    }

    static let listNounOnly = Pattern(
        #"(?:all|everything|every task|all tasks|all my tasks|my tasks|tasks|the list|my list|list|all of them|them all|all of it)"#)

    static func isListNoun(_ words: String) -> Bool { listNounOnly.matches(words) }

    // MARK: Text helpers

    /// Strips quotes, trailing punctuation and spaces from a title or description.
    static func cleanValue(_ raw: String) -> String {
        var value = raw.trimmingCharacters(in: .whitespaces)
        var changed = true
        while changed {
            changed = false
            value = stripTrailingPunctuationKeepingQuestion(value)
            for (open, close) in [("\"", "\""), ("'", "'"), ("`", "`"), ("(", ")"), ("[", "]")]
            where value.count >= 2 && value.hasPrefix(open) && value.hasSuffix(close) {
                value = String(value.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                changed = true
            }
            if value.hasPrefix(":") || value.hasPrefix("-") {
                value = String(value.dropFirst()).trimmingCharacters(in: .whitespaces)
                changed = true
            }
        }
        return value
    }

    static func stripTrailingPunctuationKeepingQuestion(_ text: String) -> String {
        var text = Substring(text)
        while let last = text.last, ".!,;: ".contains(last) { text = text.dropLast() }
        return String(text)
    }

    static func capitalizeFirst(_ text: String) -> String {
        guard let first = text.first else { return text }
        return first.uppercased() + text.dropFirst()
    }
}

/// A compiled, case-insensitive regular expression anchored to the whole string.
struct Pattern: @unchecked Sendable {
    // NSRegularExpression is immutable and documented thread-safe once created.
    let regex: NSRegularExpression

    init(_ pattern: String) {
        do {
            regex = try NSRegularExpression(pattern: "^(?:" + pattern + ")$", options: [.caseInsensitive])
        } catch {
            preconditionFailure("invalid pattern \(pattern): \(error)")
        }
    }

    func matches(_ text: String) -> Bool {
        regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    /// The capture groups of a whole-string match (nil for groups that did not take part).
    func captures(in text: String) -> [String?]? {
        guard let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) else { return nil }
        return (1..<max(match.numberOfRanges, 1)).map { index in
            Range(match.range(at: index), in: text).map { String(text[$0]) }
        }
    }

    func firstCapture(in text: String) -> String? {
        captures(in: text)?.first ?? nil
    }
}
