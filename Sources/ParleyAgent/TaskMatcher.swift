import Foundation
import ParleyCore

/// The little a reply needs to know about a task, read back from a tool result.
struct TaskSummary: Sendable, Hashable {
    let id: Int
    let title: String
    let description: String?
    let isCompleted: Bool

    init?(_ json: JSONValue?) {
        guard let json, let id = json["id"]?.intValue, let title = json["title"]?.stringValue else { return nil }
        self.id = id
        self.title = title
        self.description = json["description"]?.stringValue
        self.isCompleted = json["status"]?.stringValue == "completed"
    }
}

/// Finds the task a phrase such as "buying groceries" or "the meeting" is about, by comparing
/// word stems with titles ("buying groceries" ~ "Buy groceries").
enum TaskMatcher {
    enum Match: Equatable {
        case one(TaskSummary)
        case ambiguous([TaskSummary])
        case none
    }

    static let stopWords: Set<String> = [
        "the", "a", "an", "my", "our", "task", "tasks", "item", "todo", "to", "do", "one", "that", "this", "about",
        "for", "of", "on", "in", "with", "and", "i", "me", "it", "thing", "please", "off", "list", "called", "named",
        "is", "are", "was", "at", "go", "get", "some", "any", "entry", "reminder",
    ]

    /// `loose` accepts a single shared word (the phrase is a whole clause such as "the meeting
    /// got cancelled"); otherwise at least half of the phrase's words must be in the title.
    static func match(_ phrase: String, in tasks: [TaskSummary], preferPending: Bool, loose: Bool = false) -> Match {
        let wanted = Set(stems(phrase))
        guard !wanted.isEmpty else { return .none }
        // An exact title wins outright.
        let exact = tasks.filter { $0.title.caseInsensitiveCompare(phrase) == .orderedSame }
        if exact.count == 1 { return .one(exact[0]) }

        var best: [(task: TaskSummary, score: Double)] = []
        for task in tasks {
            let title = Set(stems(task.title))
            guard !title.isEmpty else { continue }
            let hits = wanted.filter { word in title.contains { similar(word, $0) } }.count
            guard hits > 0, loose || Double(hits) / Double(wanted.count) >= 0.5 else { continue }
            // Cover of the phrase first, then of the title, so "call mom" prefers "Call mom"
            // over "Call mom about the holidays".
            let score = Double(hits) / Double(wanted.count) * 10 + Double(hits) / Double(title.count)
            best.append((task, score))
        }
        guard let top = best.map(\.score).max() else { return .none }
        var leaders = best.filter { $0.score == top }.map(\.task)
        if leaders.count > 1, preferPending {
            let pending = leaders.filter { !$0.isCompleted }
            if pending.count == 1 { return .one(pending[0]) }
            if !pending.isEmpty { leaders = pending }
        }
        return leaders.count == 1 ? .one(leaders[0]) : .ambiguous(leaders.sorted { $0.id < $1.id })
    }

    static func similar(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        // "pay" ~ "payment", "dentist" ~ "dentists": a shared stem of four letters or more.
        let (short, long) = a.count <= b.count ? (a, b) : (b, a)
        return short.count >= 4 && long.hasPrefix(short)
    }

    static func stems(_ text: String) -> [String] {
        text.lowercased()
            .split(whereSeparator: { !($0.isLetter || $0.isNumber) })
            .map(String.init)
            .filter { !stopWords.contains($0) }
            .map(stem)
    }

    /// A crude English stemmer: enough to make "buying", "buys" and "buy" meet.
    /// Irregular past forms people use to report what they did ("I paid the bill").
    static let irregular: [String: String] = [
        "bought": "buy", "paid": "pay", "went": "go", "got": "get", "made": "make", "sent": "send", "wrote": "write",
        "took": "take", "met": "meet", "saw": "see", "did": "do", "ate": "eat", "fed": "feed", "gave": "give",
        "brought": "bring", "sold": "sell", "built": "build", "swept": "sweep", "ran": "run", "done": "do",
    ]

    static func stem(_ word: String) -> String {
        if let base = irregular[word] { return base }
        var w = word
        if w.count > 4, w.hasSuffix("ies") { w = String(w.dropLast(3)) + "y" }
        else if w.count > 5, w.hasSuffix("ing") { w = String(w.dropLast(3)) }
        else if w.count > 4, w.hasSuffix("ed") { w = String(w.dropLast(2)) }
        else if w.count > 3, w.hasSuffix("es"), !w.hasSuffix("ses") { w = String(w.dropLast(1)) }
        else if w.count > 3, w.hasSuffix("s"), !w.hasSuffix("ss") { w = String(w.dropLast()) }
        if w.count > 3, w.hasSuffix("e") { w = String(w.dropLast()) }
        if w.count > 3, let last = w.last, let beforeLast = w.dropLast().last, last == beforeLast, !"aeiouls".contains(last) {
            w = String(w.dropLast())
        }
        return w
    }
}
