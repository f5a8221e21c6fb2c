// libFuzzer target: the basic agent's natural-language command parser, on arbitrary bytes read
// as UTF-8. Built with Sources/ParleyAgent/CommandParser.swift, CompoundCommands.swift and
// ItemLists.swift into one module by scripts/fuzz-parsers.sh (swiftc -sanitize=fuzzer,address).
//
// Oracles beyond "no crash": parsing is deterministic; what it extracts is usable as it is —
// new task titles and updates are non-empty, trimmed, and made of the message's own words
// (never longer than it); task numbers are not negative ("task 0" is a number the agent then
// does not find, not a parse error); referenced text is non-empty; each of several requests in one
// message holds to the same.

import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
    let message = String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    let commands = CommandParser.commands(message)
    check(CommandParser.commands(message) == commands, "parsing is not deterministic")
    check(!commands.isEmpty, "a message without a command")
    let limit = message.unicodeScalars.count
    func checkText(_ text: String, _ what: String) {
        check(!text.isEmpty, "\(what) is empty")
        check(text.trimmingCharacters(in: .whitespacesAndNewlines) == text, "\(what) is not trimmed: \(text)")
        check(text.unicodeScalars.count <= limit, "\(what) is longer than the message")
    }
    func checkReference(_ reference: TaskReference) {
        switch reference {
        case .numbers(let numbers):
            check(!numbers.isEmpty && numbers.allSatisfy { $0 >= 0 }, "task numbers \(numbers)")
        case .text(let text), .contextual(let text), .reported(let text):
            check(!text.isEmpty, "an empty task reference")
        case .latest, .previous, .scope:
            break
        }
    }
    for command in commands {
        switch command {
        case .add(let drafts):
            check(!drafts.isEmpty, "an add without a task")
            for draft in drafts { checkText(draft.title, "a new task's title") }
        case .show(let reference), .complete(let reference), .reopen(let reference), .delete(let reference):
            checkReference(reference)
        case .update(let reference, let title, let description):
            checkReference(reference)
            check(title != nil || description != nil, "an update that changes nothing")
            if let title { checkText(title, "an updated title") }
        case .edit(let reference, let old, let new):
            checkReference(reference)
            checkText(old, "the words an edit replaces")
            checkText(new, "the words an edit puts in")
        case .list, .greeting, .help, .thanks, .unknown, .confirm, .decline, .undo:
            break
        }
    }
    return 0
}
