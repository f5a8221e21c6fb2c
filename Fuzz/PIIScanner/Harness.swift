// libFuzzer target: the PII scanner and pseudonymizer, on arbitrary bytes read as UTF-8.
// Built with ParleyPrivacy's sources into one module by scripts/fuzz-parsers.sh
// (swiftc -sanitize=fuzzer,address); a failed check is a crash the fuzzer reports and keeps.
//
// Oracles beyond "no crash":
// - matches are in order, never overlap, and each `value` is exactly the text of its range;
// - restoring the pseudonymized text gives back the input exactly (for inputs that do not
//   already contain placeholder-like words, which restore would also replace: that is its job),
//   or, where two spellings of one value share a placeholder, text that pseudonymizes the same;
// - detection is deterministic (the detection cache returns what a fresh scan finds).

import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    let matches = PIIDetector.detect(in: text)
    var previousEnd = text.startIndex
    for match in matches {
        check(match.range.lowerBound >= previousEnd, "matches overlap or are out of order")
        check(match.range.upperBound <= text.endIndex, "a match ends past the text")
        check(String(text.unicodeScalars[match.range]) == match.value, "a match's value is not its text")
        previousEnd = match.range.upperBound
    }
    check(PIIDetector.detect(in: text) == matches, "detection is not deterministic")

    let stems = ["EMAIL", "PHONE", "CARD", "IBAN", "IP_", "PERSON"]
    let upper = text.uppercased()
    guard !stems.contains(where: { upper.contains($0) }) else { return 0 }
    var map = PseudonymMap()
    let hidden = map.pseudonymize(text)
    let restored = map.restore(hidden)
    if Set(matches.map(\.value)).count == map.placeholders.count {
        check(restored == text, "restore(pseudonymize(text)) != text")
    } else {
        // Two spellings of one value ("123 456 78", "123 45678") share a placeholder and come back
        // as the first: the text may change, but pseudonymizing it again gives the same text.
        var again = map
        check(again.pseudonymize(restored) == hidden, "pseudonymize(restore(hidden)) != hidden")
    }
    return 0
}
