extension PIIKind {
    public static let card = PIIKind(rawValue: "card")
}

/// Payment card numbers: 13-19 digits in the usual groupings, an issuer prefix, and the Luhn check.
struct PaymentCardRecognizer: PIIRecognizer {
    let kind = PIIKind.card

    func mayOccur(in text: PIIText) -> Bool { text.hasDigit }

    func recognize(in text: PIIText) -> [PIICandidate] {
        var scan = PIIScan(text)
        scan.scanCards()
        return scan.found
    }

    func normalize(_ value: String) -> String {
        let hasPlus = value.hasPrefix("+")
        return (hasPlus ? "+" : "") + String(value.unicodeScalars.filter { $0.properties.numericType != nil && $0.isASCII })
    }
}

extension PIIScan {
    mutating func scanCards() {
        var i = 0
        while i < n {
            guard isDigit(s[i]) else { i += 1; continue }
            let runStart = i
            var groups: [(start: Int, end: Int)] = []
            var j = i
            while j < n {
                let g = j
                while j < n, isDigit(s[j]) { j += 1 }
                groups.append((g, j))
                if j + 1 < n, s[j] == " " || s[j] == "-", isDigit(s[j + 1]), groups.count < 8 { j += 1 } else { break }
            }
            i = max(j, runStart + 1)
            if let prev = at(runStart - 1), isLetter(prev) || isDigit(prev) || ".,+/\\:_$€£¥#@=".unicodeScalars.contains(prev) { continue }
            let tailBad: Bool = {
                guard let next = at(j) else { return false }
                if isLetter(next) { return true }
                if next == "." || next == ",", let after = at(j + 1), isDigit(after) { return true }
                return false
            }()
            var k = groups.count
            while k >= 1 {
                // A card cut from a longer run only if the run does not go on in groups of four the same way.
                let cutOK = k == groups.count ? !tailBad
                    : (groups[k].end - groups[k].start != 4 || (k >= 2 && s[groups[k - 1].start - 1] != s[groups[k].start - 1]))
                if cutOK, cardValid(groups, k) {
                    found.append(PIICandidate(kind: .card, start: runStart, end: groups[k - 1].end))
                    break
                }
                k -= 1
            }
        }
    }

    private func cardValid(_ groups: [(start: Int, end: Int)], _ k: Int) -> Bool {
        let lengths = groups[0..<k].map { $0.end - $0.start }
        let total = lengths.reduce(0, +)
        guard total >= 13, total <= 19 else { return false }
        let shapeOK: Bool
        if k == 1 {
            shapeOK = true
        } else if lengths == [4, 6, 5] || lengths == [4, 6, 4] {
            shapeOK = true
        } else {
            shapeOK = lengths.dropLast().allSatisfy { $0 == 4 } && (1...4).contains(lengths.last!)
        }
        guard shapeOK else { return false }
        var digits: [Int] = []
        digits.reserveCapacity(total)
        for g in 0..<k { for p in groups[g].start..<groups[g].end { digits.append(digitValue(s[p])) } }
        // Issuer ranges: 2 (Mastercard), 3 (Amex, Diners, JCB), 4 (Visa), 5 (Mastercard, Maestro), 6 (Discover, UnionPay, Maestro).
        guard (2...6).contains(digits[0]) else { return false }
        guard Set(digits).count > 1 else { return false }
        var sum = 0
        for (offset, digit) in digits.reversed().enumerated() {
            if offset % 2 == 1 {
                let doubled = digit * 2
                sum += doubled > 9 ? doubled - 9 : doubled
            } else {
                sum += digit
            }
        }
        return sum % 10 == 0
    }
}
