extension PIIKind {
    public static let phone = PIIKind(rawValue: "phone")
}

/// Phone numbers: international, national with a trunk 0, North American, or any number a phone word introduces; not dates, versions, amounts or identifiers.
struct PhoneRecognizer: PIIRecognizer {
    let kind = PIIKind.phone

    func mayOccur(in text: PIIText) -> Bool { text.hasDigit }

    func recognize(in text: PIIText) -> [PIICandidate] {
        var scan = PIIScan(text)
        scan.scanPhones()
        return scan.found
    }

    func normalize(_ value: String) -> String {
        let hasPlus = value.hasPrefix("+")
        return (hasPlus ? "+" : "") + String(value.unicodeScalars.filter { $0.properties.numericType != nil && $0.isASCII })
    }
}

extension PIIScan {
    mutating func scanPhones() {
        var i = 0
        while i < n {
            let c = s[i]
            let startsPhone = isDigit(c) || ((c == "+" || c == "(") && at(i + 1).map(isDigit) == true)
            guard startsPhone else { i += 1; continue }
            if let prev = at(i - 1), !phoneMayFollow(i - 1, prev) {
                // Skip this whole number so we never start from its middle.
                i = numberRunEnd(from: i)
                continue
            }
            guard let shape = phoneRun(from: i) else { i = numberRunEnd(from: i); continue }
            if acceptPhone(shape) {
                found.append(PIICandidate(kind: .phone, start: i, end: shape.end))
                i = max(shape.end, i + 1)
            } else {
                i = max(numberRunEnd(from: i), i + 1)
            }
        }
    }

    /// The end of the digits-and-separators run starting at `start` ("+49 (0)30 123456 ...").
    private func numberRunEnd(from start: Int) -> Int {
        var j = start
        while j < n {
            let c = s[j]
            if isDigit(c) || c == "+" || c == "(" || c == ")" { j += 1; continue }
            if c == " " || c == "-" || c == "." || c == "/", let next = at(j + 1), isDigit(next) || next == "(" { j += 1; continue }
            break
        }
        return max(j, start + 1)
    }

    private func phoneMayFollow(_ p: Int, _ prev: Unicode.Scalar) -> Bool {
        if isLetter(prev) || isDigit(prev) { return false }
        if ".,/\\$€£¥₹#_@&=%~^*".unicodeScalars.contains(prev) { return false }
        if prev == "-" || prev == ":" || prev == "+" {
            // "Tel:+1 ..." and "Phone - 020 ..." are fine; "10:30", "a-1234" and "+-" are not.
            if let before = at(p - 1), isAlnum(before) { return prev == ":" && isLetter(before) }
            return prev != "+"
        }
        return true
    }

    private struct PhoneShape {
        var start: Int
        var end: Int
        var groups: [Int] = []          // digit counts
        var separators: [Unicode.Scalar] = []
        var plus = false
        var parenFirst = false           // "(202) 555-0143"
        var hasParen = false
        var digits: [Int] = []
        var tailBad = false
    }

    /// The longest phone-like run from `start`: digits in groups separated by one space, dash, dot or
    /// slash, with one optional parenthesized group.
    private func phoneRun(from start: Int) -> PhoneShape? {
        var shape = PhoneShape(start: start, end: start)
        var j = start
        if s[j] == "+" { shape.plus = true; j += 1 }
        var sawParen = false
        while j < n {
            var inParen = false
            if s[j] == "(" {
                guard !sawParen, let d = at(j + 1), isDigit(d) else { break }
                inParen = true
                sawParen = true
                j += 1
            }
            var digits: [Int] = []
            while j < n, isDigit(s[j]) { digits.append(digitValue(s[j])); j += 1 }
            if digits.isEmpty { break }
            if inParen {
                guard j < n, s[j] == ")", digits.count <= 5 else { return shape.groups.isEmpty ? nil : finish(shape, end: shape.end) }
                if shape.groups.isEmpty { shape.parenFirst = true }
                shape.hasParen = true
                j += 1
            }
            shape.groups.append(digits.count)
            shape.digits.append(contentsOf: digits)
            shape.end = j
            guard shape.digits.count <= 16 else { return nil }
            // A separator and the next group?
            guard j < n else { break }
            let sep = s[j]
            if inParen, isDigit(sep) { shape.separators.append(")"); continue }
            if sep == " " || sep == "-" || sep == "." || sep == "/" {
                if let next = at(j + 1), isDigit(next) || (next == "(" && sep == " " && !sawParen) {
                    shape.separators.append(inParen ? ")" : sep)
                    j += 1
                    continue
                }
            }
            break
        }
        guard !shape.groups.isEmpty else { return nil }
        return finish(shape, end: shape.end)
    }

    private func finish(_ shape: PhoneShape, end: Int) -> PhoneShape {
        var shape = shape
        shape.end = end
        if let next = at(end) {
            if isLetter(next) || next == "%" || next == "_" { shape.tailBad = true }
            if (next == ":" || next == "." || next == ",") && at(end + 1).map(isDigit) == true { shape.tailBad = true }
        }
        return shape
    }

    private mutating func acceptPhone(_ shape: PhoneShape) -> Bool {
        let count = shape.digits.count
        guard !shape.tailBad, count >= 7, count <= 15 else { return false }
        let seps = shape.separators.filter { $0 != ")" }
        let uniformSeps = Set(seps).count <= 1
        let g = shape.groups
        // Dates: 2026-11-21, 21.11.2026, 11/21/2026, 2026 11 21.
        if !shape.plus, !shape.parenFirst, g.count == 3, uniformSeps {
            if g[0] == 4, g[1] <= 2, g[2] <= 2 { return false }
            if g[0] <= 2, g[1] <= 2, g[2] == 4 || g[2] == 2 { return false }
        }
        // Versions and decimals: dots are only for "202.555.0143" or international numbers.
        if seps.contains(".") && !shape.plus {
            let us = g == [3, 3, 4] && uniformSeps
            let trunkDotted = shape.digits.first == 0 && uniformSeps && g.allSatisfy { $0 >= 2 } && g.count >= 4
            if !(us || trunkDotted) { return false }
        }
        if seps.contains("/") && (shape.plus || g.count != 2 || shape.digits.first != 0) { return false }
        let start = shape.start
        let before = previousWords(before: start, count: 4)
        let immediate = before.first { !PhoneWords.fillerWords.contains($0) }
        let firstIsNegative = immediate.map { PhoneWords.notPhoneWords.contains($0) } ?? false
        let hasCue = before.contains { PhoneWords.phoneWords.contains($0) }
        if firstIsNegative && !(before.first.map { PhoneWords.phoneWords.contains($0) } ?? false) { return false }
        if shape.plus { return count >= 8 }
        if let after = nextWord(after: shape.end), PhoneWords.quantityWords.contains(after) { return false }
        if let prev = previousNonSpace(before: start), "$€£¥₹".unicodeScalars.contains(prev) { return false }
        let d = shape.digits
        // International with 00.
        if d.count >= 11, d[0] == 0, d[1] == 0, d[2] != 0 { return true }
        // (202) 555-0143, (030) 1234567.
        if shape.parenFirst, let first = g.first, first >= 2, count >= 9 { return true }
        // National numbers with a trunk 0: 020 7946 0958, 0171 1234567, 030-1234567, 030/123456.
        if d[0] == 0, d[1] != 0 {
            if g.count >= 2, count >= 9, count <= 12, g.allSatisfy({ $0 >= 2 }) { return true }
            if g.count == 1, count >= 10, count <= 11 { return true }
        }
        // North American: 202-555-0143, 202.555.0143, 202 555 0143, 1-800-555-0199.
        if uniformSeps, g == [3, 3, 4], d[0] >= 2 { return true }
        if uniformSeps || shape.hasParen, g == [1, 3, 3, 4], d[0] == 1, d[1] >= 2 { return true }
        // Anything else needs a phone word nearby ("call 555-0143", "my number is 30 1234567").
        let yearsOnly = g.allSatisfy { $0 == 4 } && stride(from: 0, to: d.count, by: 4).allSatisfy { (d[$0] == 1 && d[$0 + 1] == 9) || (d[$0] == 2 && d[$0 + 1] == 0) }
        if hasCue, !yearsOnly, count <= 13, g.count <= 5, g.allSatisfy({ $0 >= 2 }) {
            if g.count == 1 { return count >= 7 && count <= 12 }
            return true
        }
        return false
    }
}
