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
    /// "all completed tasks", "everything on my list": every task with that status.
    case scope(ListFilter)
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
    /// "change groceries to organic groceries": the words `replacing` inside the title become
    /// `with` ("Buy groceries" -> "Buy organic groceries"); a title without them is replaced whole.
    case edit(TaskReference, replacing: String, with: String)
    /// "yes", "go ahead": the answer to a question the agent asked in its last message.
    case confirm
    /// "no", "never mind".
    case decline
    /// "undo", "put it back": revert the last change made in this conversation.
    case undo
    case greeting(alsoHelp: Bool)
    case help
    case thanks
    case unknown
}

extension Command {
    /// True when the command is about "it" / "that one" rather than a named task.
    var pointsBack: Bool {
        switch self {
        case .show(.previous), .complete(.previous), .reopen(.previous), .delete(.previous), .update(.previous, _, _),
            .edit(.previous, _, _):
            true
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
        case .edit(_, let old, let new): .edit(reference, replacing: old, with: new)
        default: self
        }
    }
}

/// A deterministic parser of English task commands. It recognises the five operations by the
/// shapes people use for them (imperatives, "I finished …", "remind me to …", questions about
/// the list), not by fixed sentences; anything it cannot place is `.unknown`.
public enum CommandParser {
    /// The message as one command (the first, when it makes several requests).
    public static func parse(_ message: String) -> Command {
        commands(message)[0]
    }

    /// The requests of a message, to run in order: usually one; several for "add milk and mark
    /// task 2 as done" or "finished the meeting, then show me my list".
    public static func commands(_ message: String) -> [Command] {
        if let drafts = ItemLists.lines(message)?.map(draft).filter({ !$0.title.isEmpty }), drafts.count >= 2 {
            return [.add(drafts)]
        }
        let text = normalize(message)
        guard !text.isEmpty else { return [.unknown] }
        if let answer = parseAnswer(text) { return [answer] }
        if undoPattern.matches(text) { return [.undo] }
        if let greeting = parseGreeting(text) { return [greeting] }
        if let parts = Compound.split(text) { return parts }
        return [parseCommand(text) ?? .unknown]
    }

    // MARK: Answers to a question

    static let yesWords: Set<String> = [
        "yes", "yeah", "yep", "yup", "y", "sure", "ok", "okay", "confirm", "confirmed", "go", "ahead", "do", "it",
        "please", "delete", "them", "that's", "thats", "fine", "correct", "right", "absolutely", "definitely",
        "proceed", "i'm", "im", "of", "course",
    ]
    static let yesStarts: Set<String> = ["yes", "yeah", "yep", "yup", "y", "sure", "ok", "okay", "confirm", "confirmed", "go", "do", "please", "proceed", "absolutely", "definitely", "of"]
    static let noWords: Set<String> = [
        "no", "nope", "nah", "n", "cancel", "stop", "don't", "dont", "do", "not", "never", "mind", "nevermind", "forget",
        "it", "leave", "keep", "them", "thanks", "thank", "you", "wait", "hold", "on",
    ]
    static let noStarts: Set<String> = ["no", "nope", "nah", "n", "cancel", "stop", "don't", "dont", "do", "never", "nevermind", "forget", "leave", "keep", "wait", "hold"]

    /// "yes", "yes, go ahead", "no thanks", "never mind": nothing but words of assent or refusal.
    static func parseAnswer(_ text: String) -> Command? {
        let words = text.lowercased().split(whereSeparator: { !$0.isLetter && $0 != "'" }).map(String.init)
        guard let first = words.first, words.count <= 6 else { return nil }
        if yesStarts.contains(first), words.allSatisfy(yesWords.contains) { return .confirm }
        if noStarts.contains(first), words.allSatisfy(noWords.contains) { return .decline }
        return nil
    }

    // MARK: Undo

    /// "undo", "undo that", "revert my last change", "put it back", "oops, bring them back",
    /// "I didn't mean that, undo it". "undo task 3" names a task and stays a reopen.
    static let undoPattern = Pattern(
        #"(?:(?:oops|whoops|oh no|sorry|no|wait|nope|my bad|my mistake|wrong one|that was wrong|that's wrong|thats wrong|i didn'?t mean (?:that|to(?: do that)?|to (?:delete|remove|complete|change|add) (?:that|it|them|those))|that was a mistake|mistake)[,!.;:]?\s+)*"#
            + #"(?:(?:please\s+|can you\s+|could you\s+)?(?:undo|revert|reverse|roll back|rollback|undelete|take back)(?:\s+(?:that|it|this|them|those|these|the last (?:change|action|thing|step|one|command)|my last (?:change|action|command|request|step)|your last (?:change|action|step)|the (?:last |previous )?(?:change|changes|delete|deletion|removal|completion|edit|update|rename|add|addition)|what (?:you|i) just did|what you did|the last thing(?: you did)?|everything you just did))?(?:\s+(?:back|please|again|for me|now))*"#
            + #"|(?:please\s+)?(?:put|bring|get|give|take)\s+(?:it|that|them|those|this|these|that task|those tasks|the tasks?(?: i (?:just )?(?:deleted|removed))?|what you (?:deleted|removed))\s+back(?:\s+(?:please|again))?"#
            + #"|(?:please\s+)?(?:bring|put|get)\s+back\s+(?:it|that|them|those|this|these|that task|those tasks|the tasks?(?: i (?:just )?(?:deleted|removed))?|what you (?:deleted|removed))"#
            + #"|(?:please\s+)?restore\s+(?:it|that|them|those|this|these|that task|those tasks|the tasks?(?: i (?:just )?(?:deleted|removed))?|what you (?:deleted|removed))"#
            + ")")

    // MARK: Normalisation

    static func normalize(_ message: String) -> String {
        // Control characters are never part of a command (and NULs trip Foundation's `contains` on Linux).
        var text = String(String.UnicodeScalarView(message.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
        text = text
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

    // Edits inside a title: "replace milk with oat milk in the shopping task", "change 3pm to 4pm in the meeting"
    static let replaceWithPattern = Pattern(#"(?:replace|swap|switch)\s+(.+?)\s+(?:with|for|by)\s+(.+?)(?:\s+(?:in|on|for)\s+(.+))?"#)
    static let changeInPattern = Pattern(#"(?:change|update|edit|fix|correct|alter|modify)\s+(.+?)\s+(?:to|into)\s+(.+?)\s+(?:in|on|for)\s+(.+)"#)
    /// Verbs that rewrite part of a title when the task is named by its words (rename replaces it all).
    static let partialEditVerbs = Pattern(#"(?:change|update|edit|fix|correct|alter|modify|replace)\b.*"#)

    static func parseUpdate(_ text: String) -> Command? {
        if let c = updateFieldFirst.captures(in: text), let field = c[0], let target = c[1], let value = c[2] {
            return update(reference: target, field: field, value: value)
        }
        if let c = replaceWithPattern.captures(in: text), let old = c[0], let new = c[1] {
            return edit(target: c[2] ?? old, replacing: old, with: new)
        }
        if let c = changeInPattern.captures(in: text), let old = c[0], let new = c[1], let target = c[2],
            parseReference(old).map({ if case .text = $0 { true } else { false } }) == true
        {
            return edit(target: target, replacing: old, with: new)
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
            // "change groceries to organic groceries", "change 3pm to 4pm": the words named are what
            // changes, when the new words build on them or both are a time, date or number.
            if c[1] == nil, partialEditVerbs.matches(text), !"\"'`".contains(value.first ?? " "), case .text(let words) = parseReference(target),
                mentions(value, words) || (words.contains(where: \.isNumber) && value.contains(where: \.isNumber))
            {
                return edit(target: target, replacing: target, with: value)
            }
            return update(reference: target, field: c[1] ?? "title", value: value)
        }
        if let c = shouldBeCalled.captures(in: text), let target = c[0], let value = c[1] {
            return update(reference: target, field: "title", value: value)
        }
        return nil
    }

    static func edit(target: String, replacing old: String, with new: String) -> Command? {
        let new = cleanValue(new)
        guard !new.isEmpty, let reference = parseReference(target) else { return nil }
        var words = cleanValue(old)
        if let c = referenceNoise.captures(in: words), let core = c[0] { words = cleanValue(core) }
        guard !words.isEmpty else { return nil }
        return .edit(reference, replacing: words, with: new)
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
        #"(?:delete|remove|erase|drop|trash|bin|discard|cancel|scrap|scratch|ditch|nuke|purge|get rid of|throw away|throw out|forget about|forget|eliminate|kill|clear out|clean out|clear away|clear|wipe out|wipe|axe)"#
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
        #"(?:add|create|make|new|insert|save|record|log|open|start|set up|setup|put in|enter|register|jot down|write down|note down|note)\s+(?:(?:a|an|one|another|the|this|my|these|some|\d{1,2}|two|three|four|five|six|seven|eight|nine|ten)\s+)?(?:new\s+|more\s+|separate\s+)?(?:task|todo|to-do|to do|item|reminder|entry|note)(?:s)?(?:\s+(?:called|named|titled|that says|saying|for|to|about|of|which is|that is|:|-)|\s*:|\s*-)?\s+(.+)"#)
    static let nounColon = Pattern(
        #"(?:(?:new|\d{1,2}|two|three|four|five|six|seven|eight|nine|ten)\s+)?(?:new\s+)?(?:task|todo|to-do|reminder|item)s?\s*(?::|-)\s*(.+)"#)
    static let addToList = Pattern(
        #"(?:add|put|write|jot|note|stick|pop|throw|place|include)\s+(?:down\s+)?(.+?)\s+(?:to|on|onto|in|into)\s+(?:my|the)\s+(?:to-?do\s+|task\s+|todo\s+)?(?:list|tasks|to-?dos|to-?do list)"#)
    static let reminderPhrases = Pattern(
        #"(?:remind me to|remind me about|remind me that i need to|remind me that i have to|remind me|remember to|remember that i need to|remember|don't let me forget to|don't let me forget|dont let me forget to|don't forget to|dont forget to|don't forget|make sure i|i need to remember to|i must remember to|i have to remember to|i should remember to|i want to remember to|note that i need to|note to self:?|i need to|i have to|i've got to|i got to|i gotta|i should|i must|i ought to|i'll need to|i will need to|i still need to|i also need to|i really need to|we need to|we have to|we should|need to|have to|gotta|must|should)\s+(.+)"#)
    static let bareAdd = Pattern(#"(?:add|create)(?:\s*:)?\s+(.+)"#)

    static let noteDown = Pattern(#"(?:jot down|write down|note down|jot|note|add|put down|save)\s*(?::|-)?\s*(.+)"#)

    /// Adds that say so outright ("new task: …", "jot down …"), checked before list questions.
    static func parseExplicitAdd(_ text: String) -> Command? {
        let count = ItemLists.announcedCount(text)
        if let c = nounColon.captures(in: text), let rest = c[0] { return add(rest, announced: count) }
        if let c = addWithNoun.captures(in: text), let rest = c[0] { return add(rest, announced: count) }
        if text.lowercased().hasPrefix("add") || text.lowercased().hasPrefix("save") { return nil }
        if let c = noteDown.captures(in: text), let rest = c[0] { return add(rest, announced: count) }
        return nil
    }

    static func parseAdd(_ text: String) -> Command? {
        if let command = parseExplicitAdd(text) { return command }
        let count = ItemLists.announcedCount(text)
        if let c = addToList.captures(in: text), let rest = c[0] { return add(rest, announced: count) }
        if let c = reminderPhrases.captures(in: text), let rest = c[0] { return add(rest, announced: count) }
        if let c = bareAdd.captures(in: text), let rest = c[0] { return add(rest, announced: count) }
        return nil
    }

    static let descriptionSplit = Pattern(
        #"(.+?)\s*[,;]?\s+(?:with|and)\s+(?:a\s+|the\s+)?(?:description|desc|details|detail|notes?)\s*(?:of|:|saying|that says|reading|-)?\s*(.+)"#)
    static let descriptionColon = Pattern(#"(.+?)\s*[,;.]?\s+(?:description|desc|details|notes?)\s*:\s*(.+)"#)
    static let titleTail = Pattern(
        #"(.+?)(?:\s+(?:to|on|onto|in|into)\s+(?:my|the)\s+(?:to-?do\s+|task\s+|todo\s+)?(?:list|tasks|to-?dos|to-?do list)|\s+as\s+a\s+(?:task|todo|to-do|reminder)|\s+please)+"#)

    static func add(_ rest: String, announced: Int? = nil) -> Command? {
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
        title = cleanTitle(title)
        guard !title.isEmpty else { return nil }
        // A description belongs to one task; without one, the text may list several.
        let items = description == nil ? ItemLists.split(title, announced: announced).map(cleanTitle).filter { !$0.isEmpty } : [title]
        guard let first = items.first else { return nil }
        if items.count == 1 {
            return .add([TaskDraft(title: capitalizeFirst(first), description: description.flatMap { $0.isEmpty ? nil : $0 })])
        }
        return .add(items.map { TaskDraft(title: capitalizeFirst($0), description: nil) })
    }

    /// One item of a list as a new task.
    static func draft(_ item: String) -> TaskDraft {
        TaskDraft(title: capitalizeFirst(cleanTitle(item)), description: nil)
    }

    static func cleanTitle(_ raw: String) -> String {
        var title = cleanValue(raw)
        for prefix in ["to ", "that i need to ", "that i have to ", "called ", "named ", "titled ", "about ", "for "]
        where title.lowercased().hasPrefix(prefix) && title.count > prefix.count + 1 {
            title = String(title.dropFirst(prefix.count))
        }
        return cleanValue(title)
    }

    // MARK: References

    static let numberList = Pattern(
        #"(?:the\s+)?(?:(?:tasks?|items?|todos?|to-dos?)\s*)?(?:(?:numbers?|nos?\.?|ids?)\s*)?#?\s*(\d+)((?:\s*(?:,|and|&|\+|,\s*and)\s*(?:(?:tasks?|items?|numbers?)\s*)?#?\s*\d+|\s+#\s*\d+)*)(?:\s+(?:tasks?|items?))?"#)
    /// "tasks 1 through 3", "1-3", "from 2 to 4"
    static let numberRange = Pattern(
        #"(?:the\s+)?(?:(?:tasks?|items?|todos?|to-dos?|numbers?)\s*)?(?:from\s+)?#?\s*(\d+)\s*(?:-|to|through|thru|till|until)\s*(?:(?:tasks?|items?|numbers?)\s*)?#?\s*(\d+)"#)

    // Scopes: "all completed tasks", "everything I've finished", "all my tasks", "everything on my list"
    static let completedScope = Pattern(
        #"(?:all\s+(?:of\s+)?)?(?:the\s+|my\s+)?(?:completed|complete|finished|done|checked off|crossed off|ticked off|closed)(?:\s+(?:ones|tasks|items|todos|to-dos|things))?|(?:all|everything|every task|all the tasks|all tasks|all my tasks|the tasks|tasks|the ones|anything)\s+(?:that\s+)?(?:i'?ve|i have|i|that's|that is|that are|which are|thats|already|are|is)?\s*(?:already\s+)?(?:completed|complete|finished|done|checked off|crossed off|ticked off|marked (?:as )?(?:done|complete|completed))"#)
    static let pendingScope = Pattern(
        #"(?:all\s+(?:of\s+)?)?(?:the\s+|my\s+)?(?:pending|open|remaining|outstanding|unfinished|incomplete|uncompleted)(?:\s+(?:ones|tasks|items|todos|to-dos|things))?|(?:all|everything|all the tasks|all tasks|all my tasks|the tasks|the ones)\s+(?:that\s+)?(?:is|are|i'?ve|that's|thats)?\s*(?:still\s+)?(?:pending|open|left|remaining|not done|not finished|not completed|undone)"#)
    static let allScope = Pattern(
        #"(?:all|everything|every task|every single task|all tasks|all the tasks|all my tasks|all of my tasks|all of the tasks|all of them|them all|all of it|my (?:whole |entire |full )?list|the (?:whole |entire |full )?list|my tasks|all my to-?dos|all to-?dos|my to-?do list|the to-?do list|everything on (?:my|the) list|everything in (?:my|the) list|all items|all the items|the lot|the whole lot|each task|each one|every one)(?:\s+(?:on|in|from)\s+(?:my|the)\s+(?:to-?do\s+)?list)?"#)

    /// Every task with a status, as a scope, or `nil` for a phrase that names tasks.
    static func parseScope(_ text: String) -> ListFilter? {
        let lower = text.lowercased()
        if completedScope.matches(lower) { return .completed }
        if pendingScope.matches(lower) { return .pending }
        if allScope.matches(lower) { return .all }
        return nil
    }
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
        if let c = numberRange.captures(in: text), let low = c[0].flatMap({ Int($0) }), let high = c[1].flatMap({ Int($0) }),
            low <= high, high - low < 100
        {
            return .numbers(Array(low...high))
        }
        if let scope = parseScope(text) { return .scope(scope) }
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

    /// Whether `text` holds `part`, ignoring case. (Foundation's `contains` traps on Linux for some
    /// strings with NUL characters, which a title may hold.)
    static func mentions(_ text: String, _ part: String) -> Bool {
        let haystack = Array(text.lowercased().unicodeScalars)
        let needle = Array(part.lowercased().unicodeScalars)
        guard let first = needle.first else { return true }
        guard needle.count <= haystack.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == first {
            if haystack[start..<start + needle.count].elementsEqual(needle) { return true }
        }
        return false
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
        self.init(compiling: "^(?:" + pattern + ")$")
    }

    private init(compiling pattern: String) {
        do {
            regex = try NSRegularExpression(pattern: pattern, options: [.caseInsensitive])
        } catch {
            preconditionFailure("invalid pattern \(pattern): \(error)")
        }
    }

    /// A pattern that matches anywhere in the text (for finding every occurrence).
    static func unanchored(_ pattern: String) -> Pattern {
        Pattern(compiling: pattern)
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
