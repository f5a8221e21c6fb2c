// libFuzzer target: the basic agent's natural-language command parser, on arbitrary bytes read
// as UTF-8. Built with Sources/ParleyAgent/CommandParser.swift into one module by
// scripts/fuzz-parsers.sh (swiftc -sanitize=fuzzer,address).
//
// Oracles beyond "no crash": parsing is deterministic; what it extracts is usable as it is —
// new task titles and updates are non-empty, trimmed, and made of the message's own words
// (never longer than it); task numbers are not negative ("task 0" is a number the agent then
// does not find, not a parse error); referenced text is non-empty.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
    let message = String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    let command = CommandParser.parse(message)
    precondition(CommandParser.parse(message) == command, "parsing is not deterministic")
    let limit = message.unicodeScalars.count
    func checkText(_ text: String, _ what: String) {
        precondition(!text.isEmpty, "\(what) is empty")
        precondition(text.trimmingCharacters(in: .whitespacesAndNewlines) == text, "\(what) is not trimmed: \(text)")
        precondition(text.unicodeScalars.count <= limit, "\(what) is longer than the message")
    }
    func checkReference(_ reference: TaskReference) {
        switch reference {
        case .numbers(let numbers):
            precondition(!numbers.isEmpty && numbers.allSatisfy { $0 >= 0 }, "task numbers \(numbers)")
        case .text(let text), .contextual(let text), .reported(let text):
            precondition(!text.isEmpty, "an empty task reference")
        case .latest, .previous:
            break
        }
    }
    switch command {
    case .add(let drafts):
        precondition(!drafts.isEmpty, "an add without a task")
        for draft in drafts { checkText(draft.title, "a new task's title") }
    case .show(let reference), .complete(let reference), .reopen(let reference), .delete(let reference):
        checkReference(reference)
    case .update(let reference, let title, let description):
        checkReference(reference)
        precondition(title != nil || description != nil, "an update that changes nothing")
        if let title { checkText(title, "an updated title") }
    case .list, .greeting, .help, .thanks, .unknown:
        break
    }
    return 0
}
