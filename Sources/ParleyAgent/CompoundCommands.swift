import Foundation

/// Several requests in one message: "add a task to buy milk and mark task 2 as done", "finished
/// the meeting, and add a task to write the minutes", "add buy milk, then show me my list",
/// "rename task 1 to X and task 2 to Y". A message is split where a clause boundary is followed by
/// a new request (a verb of the agent's operations, or "then"); each part must read as a command on
/// its own, or as one with the verb of the part before ("… and task 2 to Y"). Otherwise it stays
/// one request, so "remind me to call mom and dad" is one task.
enum Compound {
    static func split(_ text: String) -> [Command]? {
        guard let commands = splitParts(text, previousVerb: nil), commands.count >= 2 else { return nil }
        return commands
    }

    /// The commands of `text` split at the first boundary that works, recursively.
    private static func splitParts(_ text: String, previousVerb: String?) -> [Command]? {
        for boundary in boundaries(in: text) {
            let head = String(text[..<boundary.lowerBound])
            let tail = String(text[boundary.upperBound...])
            guard let first = command(head, previousVerb: previousVerb) else { continue }
            let verb = leadingVerb(head) ?? previousVerb
            if let rest = splitParts(tail, previousVerb: verb) { return [first] + rest }
            if let last = command(tail, previousVerb: verb) { return [first, last] }
        }
        return nil
    }

    /// One part as a command: as written, or with the previous part's verb put in front
    /// ("task 2 to Call mom back" after "rename task 1 to …").
    private static func command(_ part: String, previousVerb: String?) -> Command? {
        let text = CommandParser.normalize(part)
        guard !text.isEmpty else { return nil }
        // A part that starts with a task number and no verb of its own takes the previous part's.
        if elided.matches(text) {
            guard let verb = previousVerb, let command = CommandParser.parseCommand(verb + " " + text), isRequest(command) else {
                return nil
            }
            return command
        }
        // "the meeting got cancelled, remove it": "it" is the other part, which parseCommand reads as one.
        if let command = CommandParser.parseCommand(text), isRequest(command), !command.pointsBack { return command }
        return nil
    }

    private static func isRequest(_ command: Command) -> Bool {
        switch command {
        case .unknown, .greeting, .help, .thanks, .confirm, .decline, .undo: false
        // "…, add that": a pointer to the other part, not a task called "That".
        case .add(let drafts): !(drafts.count == 1 && pronouns.contains(drafts[0].title.lowercased()))
        default: true
        }
    }

    private static let pronouns: Set<String> = ["it", "that", "this", "them", "those", "these", "that one", "this one", "one"]

    /// Where one request may end and the next begin: ", then", "and then", "; ", ". ", ", and",
    /// ", ", " and ", " also ", each followed by the start of a request.
    private static func boundaries(in text: String) -> [Range<String.Index>] {
        let range = NSRange(text.startIndex..., in: text)
        return boundary.regex.matches(in: text, range: range).compactMap { match -> Range<String.Index>? in
            guard let whole = Range(match.range, in: text) else { return nil }
            let rest = text[whole.upperBound...]
            let nextStartsRequest = starter.matches(String(rest.prefix(60)))
            let thenOrElided = match.range(at: 1).location != NSNotFound
            guard nextStartsRequest || thenOrElided || elided.matches(String(rest)) else { return nil }
            return whole
        }
    }

    private static let boundary = Pattern.unanchored(
        #"\s*(?:[,;]\s*(?:and\s+)?(then\s+|after that\s+|afterwards\s+|also\s+)?|\s+and\s+(then\s+|after that\s+|also\s+)?|\s+(then)\s+|\.\s+(?:(then|also|and)\s+)?)"#)

    /// The first words of a request of its own.
    private static let starter = Pattern(
        #"(?:please\s+|also\s+|can you\s+|could you\s+)?(?:add|create|put|insert|new task|remind me|mark|complete|finish|check off|tick off|cross off|cross out|close|delete|remove|erase|drop|get rid of|trash|rename|change|update|edit|set|show|list|display|give me|tell me|what's|what is|what are|let me see|reopen|uncheck|unmark)\b.*"#)

    /// A part that leaves out its verb: "task 2 to Call mom back", "#3 as done", "3 too".
    private static let elided = Pattern(#"(?:the\s+)?(?:task|item|number|#)\s*#?\d+\b.*"#)

    /// The verb a part starts with, for a next part that leaves it out.
    private static func leadingVerb(_ part: String) -> String? {
        let text = CommandParser.normalize(part).lowercased()
        for verb in ["rename", "retitle", "change", "update", "edit", "mark", "delete", "remove", "complete", "finish", "reopen"]
        where text.hasPrefix(verb + " ") {
            return verb
        }
        return nil
    }
}
