extension PIIKind {
    public static let email = PIIKind(rawValue: "email")
}

/// Email addresses: a local part, `@`, and a domain of two or more labels ending in letters.
struct EmailRecognizer: PIIRecognizer {
    let kind = PIIKind.email

    func mayOccur(in text: PIIText) -> Bool { text.hasAt }

    func recognize(in text: PIIText) -> [PIICandidate] {
        var scan = PIIScan(text)
        scan.scanEmails()
        return scan.found
    }

    func normalize(_ value: String) -> String {
        value.lowercased()
    }
}

extension PIIScan {
    mutating func scanEmails() {
        func isLocal(_ c: Unicode.Scalar) -> Bool {
            c.isASCII && (isDigit(c) || isASCIILetter(c) || c == "." || c == "_" || c == "%" || c == "+" || c == "-")
        }
        func isDomain(_ c: Unicode.Scalar) -> Bool {
            c.isASCII && (isDigit(c) || isASCIILetter(c) || c == "." || c == "-")
        }
        var i = 0
        while i < n {
            guard s[i] == "@" else { i += 1; continue }
            var a = i
            while a > 0, isLocal(s[a - 1]) { a -= 1 }
            while a < i, s[a] == "." || s[a] == "-" || s[a] == "+" { a += 1 }
            var b = i + 1
            while b < n, isDomain(s[b]) { b += 1 }
            while b > i + 1, s[b - 1] == "." || s[b - 1] == "-" { b -= 1 }
            guard a < i, s[i - 1] != ".", b > i + 1, validDomain(i + 1, b) else { i += 1; continue }
            found.append(PIICandidate(kind: .email, start: a, end: b))
            i = b
        }
    }

    private func validDomain(_ start: Int, _ end: Int) -> Bool {
        var labels = 0
        var labelStart = start
        var lastLabelAllLetters = true
        for k in start...end {
            if k == end || s[k] == "." {
                let length = k - labelStart
                guard length > 0, s[labelStart] != "-", s[k - 1] != "-" else { return false }
                labels += 1
                lastLabelAllLetters = length >= 2 && (labelStart..<k).allSatisfy { isASCIILetter(s[$0]) }
                labelStart = k + 1
            }
        }
        return labels >= 2 && lastLabelAllLetters
    }
}
