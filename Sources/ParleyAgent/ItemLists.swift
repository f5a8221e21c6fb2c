import Foundation

/// Several new tasks in one request: "milk, eggs and bread", "two tasks: call the bank and book
/// flights", "1. milk 2. eggs", or one item a line with bullets. A title that merely contains "and"
/// stays whole ("Research and write the report", "Salt and pepper"): two items joined by "and" are
/// split only when each is a task of its own (a verb with its object: "buy milk and walk the dog"),
/// or when the request says how many there are.
enum ItemLists {
    /// Items of a message written as a list, one a line ("- milk", "* eggs", "2) bread", "• jam"),
    /// after an optional lead-in such as "add these:" or "shopping list:". `nil` for anything else.
    static func lines(_ message: String) -> [String]? {
        var lines = message.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard lines.count >= 2 else { return nil }
        if bullet.firstCapture(in: lines[0]) == nil {
            // A lead-in: a request to add, or a heading that ends in a colon.
            let lead = lines.removeFirst().lowercased()
            guard lead.hasSuffix(":") || addLeadIn.matches(CommandParser.stripTrailingPunctuation(lead)) else { return nil }
        }
        let items = lines.compactMap { bullet.firstCapture(in: $0).map(CommandParser.cleanValue) }
        guard items.count == lines.count, items.count >= 2, items.allSatisfy({ !$0.isEmpty }) else { return nil }
        return items
    }

    static let bullet = Pattern(#"(?:(?:[-*•·+]|\d{1,2}[.)]|\[\s?\])\s*)+(.+)"#)
    static let addLeadIn = Pattern(
        #"(?:please\s+)?(?:add|create|put|new|save|remember|remind me(?: to)?|i need to|i have to|to-?dos?|tasks?)\b.*"#)

    /// How many items the request announces: "add two tasks: …", "3 things to do: …".
    static func announcedCount(_ text: String) -> Int? {
        guard let word = announced.firstCapture(in: text)?.lowercased() else { return nil }
        return Int(word) ?? CommandParser.numberWords[word]
    }

    static let announced = Pattern(
        #".*?\b(\d{1,2}|two|three|four|five|six|seven|eight|nine|ten)\s+(?:new\s+|more\s+|separate\s+|different\s+)?(?:tasks|items|todos|to-dos|things|reminders|entries)\b.*"#)

    /// The items of one add request's text, or the text alone when it is one task.
    static func split(_ text: String, announced: Int?) -> [String] {
        let trimmed = CommandParser.cleanValue(text)
        // "1. milk 2. eggs" / "1) milk, 2) eggs" on one line.
        let numbered = inlineNumbered(trimmed)
        if numbered.count >= 2 { return numbered }
        // "milk; eggs; bread"
        let bySemicolon = pieces(trimmed, separators: [";"])
        if bySemicolon.count >= 2 { return bySemicolon }
        // "milk, eggs and bread", "milk, eggs, and bread"
        let commaParts = trimmed.components(separatedBy: ", ").flatMap(splitLastAnd)
            .map(CommandParser.cleanValue).filter { !$0.isEmpty }
        if trimmed.contains(", "), commaParts.count >= 3 || announced == commaParts.count
            || (commaParts.count == 2 && areSeparateTasks(commaParts[0], commaParts[1]))
        {
            return commaParts
        }
        // "X and Y": two tasks only when each is one, or when two were announced.
        let andParts = splitLastAnd(trimmed).map(CommandParser.cleanValue).filter { !$0.isEmpty }
        if andParts.count == 2, announced == 2 || areSeparateTasks(andParts[0], andParts[1]) {
            return andParts
        }
        return [trimmed]
    }

    static func inlineNumbered(_ text: String) -> [String] {
        let pattern = numberedItem.regex
        let matches = pattern.matches(in: text, range: NSRange(text.startIndex..., in: text))
        guard matches.count >= 2, let first = matches.first, let firstRange = Range(first.range, in: text) else { return [] }
        // Only a lead-in that ends in a colon may come first ("the following: 1. stamps 2. envelopes").
        let lead = text[..<firstRange.lowerBound].trimmingCharacters(in: .whitespaces)
        guard lead.isEmpty || lead.hasSuffix(":") else { return [] }
        var items: [String] = []
        for (index, match) in matches.enumerated() {
            guard let start = Range(match.range, in: text)?.upperBound else { return [] }
            let end = index + 1 < matches.count ? Range(matches[index + 1].range, in: text)?.lowerBound ?? text.endIndex : text.endIndex
            let item = CommandParser.cleanValue(String(text[start..<end]))
            guard !item.isEmpty else { return [] }
            items.append(item)
        }
        return items
    }

    static let numberedItem = Pattern.unanchored(#"(?:^|[\s,;])\(?\d{1,2}[.)]\s+"#)

    static func pieces(_ text: String, separators: [String]) -> [String] {
        var parts = [text]
        for separator in separators { parts = parts.flatMap { $0.components(separatedBy: separator) } }
        return parts.map(CommandParser.cleanValue).filter { !$0.isEmpty }
    }

    /// "eggs and bread" -> ["eggs", "bread"]; "and bread" (after an Oxford comma) -> ["bread"].
    static func splitLastAnd(_ text: String) -> [String] {
        if text.lowercased().hasPrefix("and ") { return [String(text.dropFirst(4))] }
        for joiner in [" and ", " & "] {
            // Searched in `text` itself: indices of a lowercased copy need not fit it ("İ" lowercases to two scalars).
            if let range = text.range(of: joiner, options: [.backwards, .caseInsensitive]) {
                let head = String(text[..<range.lowerBound])
                let tail = String(text[range.upperBound...])
                return [head, tail]
            }
        }
        return [text]
    }

    /// The verb of "buy milk", "walk the dog": a task verb and what it is done to.
    static func verb(of phrase: String) -> String? {
        let words = phrase.lowercased().split(separator: " ")
        guard words.count >= 2, let first = words.first.map(String.init), taskVerbs.contains(first) else { return nil }
        return first
    }

    /// "buy milk and walk the dog" is two tasks; "call the bank and ask about the loan" or "go to
    /// the store and get milk" is one: the second verb carries on what the first began.
    static func areSeparateTasks(_ first: String, _ second: String) -> Bool {
        guard let lead = verb(of: first), let next = verb(of: second) else { return false }
        return !errandVerbs.contains(lead) && !followUpVerbs.contains(next)
    }

    static let errandVerbs: Set<String> = ["go", "head", "stop", "run", "pop", "drive", "walk over", "visit"]
    static let followUpVerbs: Set<String> = [
        "ask", "tell", "say", "mention", "discuss", "confirm", "check", "see", "find", "get", "let", "explain",
        "thank", "request", "arrange", "sort", "pick", "grab", "bring", "remind", "invite",
    ]

    static let taskVerbs: Set<String> = [
        "buy", "get", "pick", "grab", "order", "call", "phone", "ring", "text", "email", "message", "contact", "ask",
        "tell", "invite", "reply", "answer", "pay", "book", "schedule", "reschedule", "plan", "organize", "organise",
        "clean", "wash", "tidy", "vacuum", "mop", "dust", "iron", "fold", "sweep", "mow", "water", "feed", "walk",
        "fix", "repair", "replace", "install", "update", "upgrade", "charge", "fill", "refill", "empty", "take",
        "bring", "return", "drop", "send", "mail", "post", "ship", "deliver", "collect", "sign", "file", "submit",
        "write", "draft", "read", "review", "finish", "prepare", "print", "scan", "cook", "bake", "make", "renew",
        "cancel", "visit", "see", "meet", "check", "study", "practice", "practise", "learn", "pack", "unpack",
        "sell", "donate", "back", "download", "upload", "register", "apply", "research", "clear", "sort", "throw",
        "change", "move", "go", "do", "start", "confirm", "remind",
    ]
}
