// libFuzzer target: the RESP2 parser that reads Redis's replies, on arbitrary bytes. Built with
// Sources/ParleyRedis/RESPParser.swift and RESPValue.swift into one module by
// scripts/fuzz-parsers.sh (swiftc -sanitize=fuzzer,address).
//
// Oracles beyond "no crash":
// - a value cut short anywhere before its end is "not yet" (nil), never an error or another
//   value: a network read boundary can never break a reply;
// - a parsed value, written back in RESP's canonical form, parses to the same value and takes
//   exactly those bytes; the reported length is within the input;
// - parsing is deterministic, and small limits refuse what large ones accept, never the reverse.

import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: count)
    let parser = RESPParser()
    var small = RESPParser.Limits()
    small.maxBulkLength = 16
    small.maxArrayCount = 8
    small.maxDepth = 3
    small.maxLineLength = 24
    let strict = RESPParser(limits: small)

    let parsed = outcome(parser, bytes)
    check(outcome(parser, bytes) == parsed, "parsing is not deterministic")
    if case .value = outcome(strict, bytes) {
        check(outcome(strict, bytes) == parsed, "small limits accept what large ones do not")
    }
    guard case .value(let value, let length) = parsed else { return 0 }
    check(length > 0 && length <= count, "length \(length) outside the input of \(count) bytes")

    let step = max(1, length / 64)
    for cut in stride(from: 0, to: length, by: step) {
        let prefix = UnsafeRawBufferPointer(rebasing: bytes[0..<cut])
        check(outcome(parser, prefix) == .incomplete, "a cut at \(cut) of \(length) is not just incomplete")
    }

    var canonical: [UInt8] = []
    write(value, to: &canonical)
    canonical.withUnsafeBytes { written in
        check(outcome(parser, written) == .value(value, written.count), "the canonical form parses differently")
    }
    return 0
}

enum Outcome: Equatable {
    case value(RESPValue, Int)
    case incomplete
    case refused
}

func outcome(_ parser: RESPParser, _ bytes: UnsafeRawBufferPointer) -> Outcome {
    do {
        guard let (value, length) = try parser.parse(bytes) else { return .incomplete }
        return .value(value, length)
    } catch {
        return .refused
    }
}

func write(_ value: RESPValue, to out: inout [UInt8]) {
    func line(_ type: Character, _ text: String) {
        out.append(contentsOf: String(type).utf8)
        out.append(contentsOf: text.utf8)
        out.append(contentsOf: [13, 10])
    }
    switch value {
    case .simpleString(let text): line("+", text)
    case .error(let error): line("-", error.message)
    case .integer(let number): line(":", String(number))
    case .null: line("$", "-1")
    case .bulkString(let body):
        line("$", String(body.count))
        out.append(contentsOf: body)
        out.append(contentsOf: [13, 10])
    case .array(let values):
        line("*", String(values.count))
        for element in values { write(element, to: &out) }
    }
}
