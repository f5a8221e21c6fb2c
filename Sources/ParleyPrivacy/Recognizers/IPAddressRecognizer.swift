extension PIIKind {
    public static let ip = PIIKind(rawValue: "ip")
}

/// IPv4 and IPv6 addresses that are well formed (not version numbers or times).
struct IPAddressRecognizer: PIIRecognizer {
    let kind = PIIKind.ip

    func mayOccur(in text: PIIText) -> Bool { text.hasDigit }

    func recognize(in text: PIIText) -> [PIICandidate] {
        var scan = PIIScan(text)
        scan.scanIPv4()
        if text.hasColon { scan.scanIPv6() }
        return scan.found
    }

    func normalize(_ value: String) -> String {
        value.lowercased()
    }
}

extension PIIScan {
    static let versionWords: Set<String> = [
        "version", "versions", "ver", "v", "build", "release", "firmware", "update", "upgrade", "patch", "sdk", "api",
        "ios", "macos", "android", "app", "chapter", "section", "step", "rule", "clause", "paragraph", "figure", "table",
    ]

    mutating func scanIPv4() {
        var i = 0
        while i < n {
            guard isDigit(s[i]), i == 0 || !(isAlnum(s[i - 1]) || s[i - 1] == "." || s[i - 1] == "_") else { i += 1; continue }
            var j = i
            var octets = 0
            var ok = true
            while octets < 4 {
                let g = j
                while j < n, isDigit(s[j]), j - g < 4 { j += 1 }
                let length = j - g
                if length == 0 || length > 3 { ok = false; break }
                if length > 1, s[g] == "0" { ok = false; break }
                var value = 0
                for p in g..<j { value = value * 10 + digitValue(s[p]) }
                if value > 255 { ok = false; break }
                octets += 1
                if octets < 4 {
                    if j + 1 < n, s[j] == ".", isDigit(s[j + 1]) { j += 1 } else { ok = false; break }
                }
            }
            if ok, let next = at(j) {
                if isLetter(next) || isDigit(next) || next == "_" { ok = false }
                if (next == "." || next == ","), let after = at(j + 1), isDigit(after) { ok = false }
            }
            if ok, let word = previousWords(before: i, count: 1).first, Self.versionWords.contains(word) { ok = false }
            if ok {
                found.append(PIICandidate(kind: .ip, start: i, end: j))
                i = j
            } else {
                // Skip the rest of this dotted number so "1.2.3.4.5" is not matched from its middle.
                while i < n, isDigit(s[i]) || (s[i] == "." && at(i + 1).map(isDigit) == true) { i += 1 }
            }
        }
    }

    mutating func scanIPv6() {
        var i = 0
        while i < n {
            let c = s[i]
            guard isHex(c) || c == ":", i == 0 || !(isAlnum(s[i - 1]) || s[i - 1] == ":" || s[i - 1] == "." || s[i - 1] == "_") else { i += 1; continue }
            var j = i
            var colons = 0
            while j < n {
                let d = s[j]
                if isHex(d) { j += 1; continue }
                if d == ":" { colons += 1; j += 1; continue }
                if d == ".", j > i, isDigit(s[j - 1]), let after = at(j + 1), isDigit(after) { j += 1; continue }
                break
            }
            let tokenEnd = j
            if colons < 2 || (j < n && (isLetter(s[j]) || s[j] == "_")) { i = max(tokenEnd, i + 1); continue }
            var end = j
            if end - i >= 2, s[end - 1] == ":", s[end - 2] != ":" { end -= 1 }
            if ipv6Valid(i, end) {
                found.append(PIICandidate(kind: .ip, start: i, end: end))
            }
            i = max(tokenEnd, i + 1)
        }
    }

    private func ipv6Valid(_ start: Int, _ end: Int) -> Bool {
        let token = Array(s[start..<end])
        guard token.contains(where: isDigit) else { return false }
        // Split on "::" (at most once).
        var doubleAt: Int? = nil
        var k = 0
        while k + 1 < token.count {
            if token[k] == ":", token[k + 1] == ":" {
                if doubleAt != nil { return false }
                doubleAt = k
                k += 2
                continue
            }
            k += 1
        }
        func groups(_ part: ArraySlice<Unicode.Scalar>, allowV4Tail: Bool) -> Int? {
            if part.isEmpty { return 0 }
            var count = 0
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if piece.isEmpty { return nil }
                if piece.contains(".") {
                    guard allowV4Tail, index == pieces.count - 1, ipv4Valid(piece) else { return nil }
                    count += 2
                } else {
                    guard piece.count <= 4, piece.allSatisfy(isHex) else { return nil }
                    count += 1
                }
            }
            return count
        }
        if let d = doubleAt {
            guard let head = groups(token[0..<d], allowV4Tail: false),
                  let tail = groups(token[(d + 2)...], allowV4Tail: true) else { return false }
            return head + tail <= 7 && (head + tail) >= 1
        }
        guard let all = groups(token[...], allowV4Tail: true) else { return false }
        return all == 8
    }

    private func ipv4Valid(_ piece: ArraySlice<Unicode.Scalar>) -> Bool {
        let parts = piece.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(isDigit) else { return false }
            if part.count > 1, part.first == "0" { return false }
            if part.reduce(0, { $0 * 10 + digitValue($1) }) > 255 { return false }
        }
        return true
    }
}
