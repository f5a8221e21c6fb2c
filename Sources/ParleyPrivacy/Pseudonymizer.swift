import Foundation

// PII detection and pseudonymization for chat text sent to a model.
//
// Everything here is hand-written scanners over the text's Unicode scalars: no regular expression
// is compiled per call, the lookup tables are `static let`s built once, and one call is a few linear
// passes over the message. The detector favours precision on the numbers a to-do app sees all the
// time (task ids, dates, times, amounts, versions, order numbers, years): cards must pass Luhn, IBANs
// mod-97, IPs must be well formed, phones need a phone-like shape (or a phone word nearby), and
// people are only found through cues ("call X", "my name is X", "Dr. X", "X's birthday", signatures
// ...): a capitalized name after the cue, or a common first name typed in lower case.

/// The kinds of personal data Parley pseudonymizes.
public enum PIIKind: String, CaseIterable, Sendable, Codable {
    case email, phone, card, iban, ip, person

    /// The placeholder stem: `EMAIL` in `<EMAIL_1>`.
    var stem: String { rawValue.uppercased() }

    /// When two detections overlap, the lower rank wins.
    fileprivate var rank: Int {
        switch self {
        case .email: 0
        case .iban: 1
        case .card: 2
        case .ip: 3
        case .phone: 4
        case .person: 5
        }
    }
}

/// One piece of personal data found in a text.
public struct PIIMatch: Sendable, Equatable {
    public let kind: PIIKind
    public let range: Range<String.Index>
    public let value: String

    public init(kind: PIIKind, range: Range<String.Index>, value: String) {
        self.kind = kind
        self.range = range
        self.value = value
    }
}

/// Finds emails, phone numbers, payment cards, IBANs, IP addresses and cued person names.
public enum PIIDetector {
    /// The matches in `text`, sorted by position and never overlapping.
    public static func detect(in text: String) -> [PIIMatch] {
        let scalars = Array(text.unicodeScalars)
        guard !scalars.isEmpty else { return [] }
        var scanner = PIIScanner(scalars)
        let found = scanner.run()
        guard !found.isEmpty else { return [] }
        var indices = Array(text.unicodeScalars.indices)
        indices.append(text.endIndex)
        return found.map { candidate in
            let range = indices[candidate.start]..<indices[candidate.end]
            return PIIMatch(kind: candidate.kind, range: range, value: String(text.unicodeScalars[range]))
        }
    }
}

/// Stable placeholders for one conversation: the same value always gets the same placeholder
/// (`<EMAIL_1>`, `<PHONE_2>`, `<CARD_1>`, `<IBAN_1>`, `<IP_1>`, `<PERSON_1>`).
public struct PseudonymMap: Sendable, Codable, Equatable {
    /// Placeholder (`<EMAIL_1>`) -> the original value, as first seen.
    private var forward: [String: String] = [:]
    /// Normalized value (`email:jane@example.com`) -> placeholder.
    private var reverse: [String: String] = [:]
    /// Placeholders handed out so far, per kind (`EMAIL` -> 2).
    private var counters: [String: Int] = [:]

    public init() {}

    public var isEmpty: Bool { forward.isEmpty }

    /// Placeholder -> original value.
    public var placeholders: [String: String] { forward }

    /// Replaces every detected value with its placeholder, reusing the ones already assigned.
    public mutating func pseudonymize(_ text: String) -> String {
        let matches = PIIDetector.detect(in: text)
        guard !matches.isEmpty else { return text }
        var output = ""
        output.reserveCapacity(text.utf8.count)
        var cursor = text.startIndex
        for match in matches {
            output += text[cursor..<match.range.lowerBound]
            output += placeholder(for: match.kind, value: match.value)
            cursor = match.range.upperBound
        }
        output += text[cursor...]
        return output
    }

    /// Puts the original values back. Accepts `<EMAIL_1>` and also the bare `EMAIL_1` or `[EMAIL_1]`
    /// a model sometimes writes; unknown placeholders are left as they are.
    public func restore(_ text: String) -> String {
        guard !forward.isEmpty else { return text }
        let scalars = Array(text.unicodeScalars)
        var output = String.UnicodeScalarView()
        var i = 0
        let n = scalars.count
        var changed = false
        while i < n {
            let c = scalars[i]
            // Placeholders start with a bracket or the first letter of a stem (E, P, C, I).
            let mayStart = c == "<" || c == "[" || c == "{" || (c.isASCII && "EPCIepci".unicodeScalars.contains(c))
            if mayStart, let (end, value) = placeholderAt(scalars, i) {
                output.append(contentsOf: value.unicodeScalars)
                changed = true
                i = end
                continue
            }
            output.append(c)
            i += 1
        }
        return changed ? String(output) : text
    }

    private mutating func placeholder(for kind: PIIKind, value: String) -> String {
        let key = kind.rawValue + ":" + Self.normalize(value, kind)
        if let existing = reverse[key] { return existing }
        let number = (counters[kind.stem] ?? 0) + 1
        counters[kind.stem] = number
        let placeholder = "<\(kind.stem)_\(number)>"
        reverse[key] = placeholder
        forward[placeholder] = value
        return placeholder
    }

    /// Two spellings of one value share a placeholder: emails and IPs ignore case, numbers ignore
    /// their separators.
    private static func normalize(_ value: String, _ kind: PIIKind) -> String {
        switch kind {
        case .email, .ip:
            return value.lowercased()
        case .phone, .card:
            let hasPlus = value.hasPrefix("+")
            return (hasPlus ? "+" : "") + String(value.unicodeScalars.filter { $0.properties.numericType != nil && $0.isASCII })
        case .iban:
            return String(value.unicodeScalars.filter { $0 != " " }).uppercased()
        case .person:
            return value
        }
    }

    /// A placeholder starting at `i` (optionally wrapped in `<>`, `[]`, `{}`), if it is a known one.
    private func placeholderAt(_ s: [Unicode.Scalar], _ i: Int) -> (end: Int, value: String)? {
        let n = s.count
        var open: Unicode.Scalar? = nil
        var j = i
        if s[j] == "<" || s[j] == "[" || s[j] == "{" {
            open = s[j]
            j += 1
        } else if i > 0, isWordScalar(s[i - 1]) {
            return nil
        }
        // STEM_N
        let stemStart = j
        while j < n, s[j].isASCII, s[j].properties.isAlphabetic { j += 1 }
        guard j > stemStart, j < n, s[j] == "_" else { return nil }
        let stem = String(String.UnicodeScalarView(s[stemStart..<j])).uppercased()
        guard PIIKind.allCases.contains(where: { $0.stem == stem }) else { return nil }
        j += 1
        let digitsStart = j
        while j < n, s[j].isASCII, s[j].properties.numericType != nil { j += 1 }
        guard j > digitsStart else { return nil }
        let number = String(String.UnicodeScalarView(s[digitsStart..<j]))
        guard let value = forward["<\(stem)_\(number)>"] else { return nil }
        if let open {
            let close: Unicode.Scalar = open == "<" ? ">" : open == "[" ? "]" : "}"
            if j < n, s[j] == close {
                return (j + 1, value)
            }
            // "<EMAIL_1" without its closing bracket: keep the bracket, restore the rest.
            return nil
        }
        if j < n, isWordScalar(s[j]) { return nil }
        return (j, value)
    }

    private func isWordScalar(_ c: Unicode.Scalar) -> Bool {
        c == "_" || c.properties.isAlphabetic || c.properties.numericType != nil
    }
}

// MARK: - Scanner

private struct PIICandidate {
    let kind: PIIKind
    let start: Int
    let end: Int
}

private struct PIIScanner {
    let s: [Unicode.Scalar]
    let n: Int
    var found: [PIICandidate] = []

    init(_ s: [Unicode.Scalar]) {
        self.s = s
        self.n = s.count
    }

    mutating func run() -> [PIICandidate] {
        var hasDigit = false, hasAt = false, hasColon = false
        for c in s {
            if isDigit(c) {
                hasDigit = true
            } else if c == "@" {
                hasAt = true
            } else if c == ":" {
                hasColon = true
            }
        }
        if hasAt { scanEmails() }
        if hasDigit {
            scanIBANs()
            scanCards()
            scanIPv4()
            if hasColon { scanIPv6() }
            scanPhones()
        }
        scanPeople()
        return resolve()
    }

    /// Keeps, among overlapping candidates, the one of the stronger kind (then the longer, then
    /// the earlier), and sorts the survivors by position.
    private func resolve() -> [PIICandidate] {
        func stronger(_ a: PIICandidate, _ b: PIICandidate) -> Bool {
            if a.kind.rank != b.kind.rank { return a.kind.rank < b.kind.rank }
            if (a.end - a.start) != (b.end - b.start) { return (a.end - a.start) > (b.end - b.start) }
            return a.start < b.start
        }
        let byStart = found.sorted { $0.start != $1.start ? $0.start < $1.start : $0.end > $1.end }
        var kept: [PIICandidate] = []
        // Resolve each cluster of mutually overlapping candidates on its own (clusters are tiny).
        var i = 0
        while i < byStart.count {
            var j = i + 1
            var clusterEnd = byStart[i].end
            while j < byStart.count, byStart[j].start < clusterEnd {
                clusterEnd = max(clusterEnd, byStart[j].end)
                j += 1
            }
            var chosen: [PIICandidate] = []
            for candidate in byStart[i..<j].sorted(by: stronger)
            where !chosen.contains(where: { $0.start < candidate.end && candidate.start < $0.end }) {
                chosen.append(candidate)
            }
            kept.append(contentsOf: chosen.sorted { $0.start < $1.start })
            i = j
        }
        return kept
    }

    // MARK: Character classes

    @inline(__always) func isDigit(_ c: Unicode.Scalar) -> Bool { c.value >= 48 && c.value <= 57 }
    @inline(__always) func isASCIILetter(_ c: Unicode.Scalar) -> Bool { (c.value | 0x20) >= 97 && (c.value | 0x20) <= 122 }
    @inline(__always) func isASCIIUpper(_ c: Unicode.Scalar) -> Bool { c.value >= 65 && c.value <= 90 }
    @inline(__always) func isHex(_ c: Unicode.Scalar) -> Bool { isDigit(c) || ((c.value | 0x20) >= 97 && (c.value | 0x20) <= 102) }
    @inline(__always) func isLetter(_ c: Unicode.Scalar) -> Bool { c.isASCII ? isASCIILetter(c) : c.properties.isAlphabetic }
    @inline(__always) func isAlnum(_ c: Unicode.Scalar) -> Bool { isDigit(c) || isLetter(c) }
    @inline(__always) func isSpace(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\u{A0}" }
    @inline(__always) func at(_ i: Int) -> Unicode.Scalar? { i >= 0 && i < n ? s[i] : nil }
    @inline(__always) func digitValue(_ c: Unicode.Scalar) -> Int { Int(c.value) - 48 }

    // MARK: Email

    private mutating func scanEmails() {
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

    // MARK: IBAN

    private static let ibanLengths: [String: Int] = [
        "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
        "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
        "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
        "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
        "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
        "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
        "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
        "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
        "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
    ]

    private mutating func scanIBANs() {
        var i = 0
        while i + 4 < n {
            guard isASCIILetter(s[i]), isASCIILetter(s[i + 1]), isDigit(s[i + 2]), isDigit(s[i + 3]),
                  isASCIIUpper(s[i]) == isASCIIUpper(s[i + 1]), i == 0 || !isAlnum(s[i - 1])
            else { i += 1; continue }
            // Groups of ASCII letters/digits separated by single spaces; the first is "CCkk...".
            var groups: [(start: Int, end: Int)] = []
            var j = i
            while j < n {
                let g = j
                while j < n, s[j].isASCII, isAlnum(s[j]) { j += 1 }
                if j == g { break }
                if j < n, isLetter(s[j]) { break } // a non-ASCII letter glued on: not an IBAN group
                groups.append((g, j))
                if j + 1 < n, s[j] == " ", s[j + 1].isASCII, isAlnum(s[j + 1]), groups.count < 10 { j += 1 } else { break }
            }
            var matchedEnd: Int? = nil
            var k = groups.count
            while k >= 1 {
                if ibanShapeValid(groups, k), ibanValid(groups, k) { matchedEnd = groups[k - 1].end; break }
                k -= 1
            }
            if let end = matchedEnd {
                found.append(PIICandidate(kind: .iban, start: i, end: end))
                i = end
            } else {
                i += 1
            }
        }
    }

    private func ibanShapeValid(_ groups: [(start: Int, end: Int)], _ k: Int) -> Bool {
        if k == 1 { return true }
        for g in 0..<(k - 1) where groups[g].end - groups[g].start != 4 { return false }
        let last = groups[k - 1].end - groups[k - 1].start
        return last >= 1 && last <= 4
    }

    private func ibanValid(_ groups: [(start: Int, end: Int)], _ k: Int) -> Bool {
        var chars: [Unicode.Scalar] = []
        for g in 0..<k { chars.append(contentsOf: s[groups[g].start..<groups[g].end]) }
        guard chars.count >= 15, chars.count <= 34 else { return false }
        let upper = chars.map { isASCIILetter($0) ? Unicode.Scalar($0.value & ~0x20)! : $0 }
        // Letters in an IBAN are either all upper case or (someone typing) all lower case.
        let hasUpper = chars.contains { isASCIIUpper($0) }
        let hasLower = chars.contains { isASCIILetter($0) && !isASCIIUpper($0) }
        guard !(hasUpper && hasLower) else { return false }
        let country = String(String.UnicodeScalarView(upper[0..<2]))
        if let expected = Self.ibanLengths[country] {
            guard chars.count == expected else { return false }
        }
        let check = digitValue(upper[2]) * 10 + digitValue(upper[3])
        guard check >= 2, check <= 98 else { return false }
        // The BBAN must carry digits (not a word that happens to follow "AB12").
        guard upper[4...].contains(where: { isDigit($0) }) else { return false }
        var remainder = 0
        for c in upper[4...] + upper[0..<4] {
            if isDigit(c) {
                remainder = (remainder * 10 + digitValue(c)) % 97
            } else {
                remainder = (remainder * 100 + Int(c.value) - 55) % 97
            }
        }
        return remainder == 1
    }

    // MARK: Payment card

    private mutating func scanCards() {
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

    // MARK: IP addresses

    private static let versionWords: Set<String> = [
        "version", "versions", "ver", "v", "build", "release", "firmware", "update", "upgrade", "patch", "sdk", "api",
        "ios", "macos", "android", "app", "chapter", "section", "step", "rule", "clause", "paragraph", "figure", "table",
    ]

    private mutating func scanIPv4() {
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

    private mutating func scanIPv6() {
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

    // MARK: Phone

    private static let phoneWords: Set<String> = [
        "call", "calls", "called", "calling", "phone", "phones", "tel", "telephone", "mobile", "cell", "cellphone", "handy",
        "number", "numbers", "text", "texts", "sms", "ring", "fax", "whatsapp", "signal", "dial", "reach", "reachable",
        "contact", "hotline", "landline", "ph", "mob", "callback", "voicemail",
    ]

    /// Words right before a number that make it an identifier, not a phone.
    private static let notPhoneWords: Set<String> = [
        "order", "orders", "invoice", "invoices", "ticket", "tickets", "ref", "reference", "id", "ids", "case", "tracking",
        "account", "acct", "confirmation", "booking", "policy", "serial", "sku", "item", "items", "task", "tasks", "po",
        "receipt", "transaction", "customer", "member", "membership", "pin", "code", "zip", "postcode", "version", "build",
        "flight", "room", "isbn", "iban", "bic", "swift", "card", "issue", "bug", "pr", "shipment", "parcel",
        "package", "contract", "claim", "patient", "student", "employee", "license", "licence", "vat", "tax", "passport",
        "batch", "lot", "step", "page", "pages", "chapter", "seat", "gate", "platform", "bus", "train", "route",
    ]

    /// Words skipped when looking for the word that names a number ("order no. 123", "my number is").
    private static let fillerWords: Set<String> = [
        "no", "nr", "num", "number", "is", "#", "the", "my", "his", "her", "their", "at", "on", "under", "via", "s",
    ]

    /// Words right after a number that make it a quantity.
    private static let quantityWords: Set<String> = [
        "eur", "euro", "euros", "usd", "dollar", "dollars", "gbp", "pound", "pounds", "chf", "yen", "jpy", "percent",
        "km", "kg", "mb", "gb", "kb", "tb", "items", "units", "pcs", "pieces", "times", "minutes", "mins", "hours", "hrs",
        "days", "weeks", "steps", "words", "points", "people", "users", "rows", "lines", "bytes", "miles", "meters",
        "calories", "cents", "bucks", "k", "m", "am", "pm",
    ]

    private mutating func scanPhones() {
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
        let immediate = before.first { !Self.fillerWords.contains($0) }
        let firstIsNegative = immediate.map { Self.notPhoneWords.contains($0) } ?? false
        let hasCue = before.contains { Self.phoneWords.contains($0) }
        if firstIsNegative && !(before.first.map { Self.phoneWords.contains($0) } ?? false) { return false }
        if shape.plus { return count >= 8 }
        if let after = nextWord(after: shape.end), Self.quantityWords.contains(after) { return false }
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

    private func previousNonSpace(before p: Int) -> Unicode.Scalar? {
        var q = p - 1
        while q >= 0, isSpace(s[q]) { q -= 1 }
        return at(q)
    }

    // MARK: Words

    fileprivate struct Token {
        var start: Int
        var end: Int
        /// The word in lower case, with ’ as '.
        var lower: String
        /// `lower` without a possessive 's.
        var stem: String
        /// Non-space scalars between the previous token and this one ("", ",", ":", "?—").
        var gap: String
        var gapHasNewline: Bool
        /// Upper-case first letter and some lower case: "Anna", "McDonald", "O'Brien" (not "IT", "iPhone").
        var capitalized: Bool
        /// Capitalized, not a stop word or title, at least two letters.
        var isName: Bool
        var possessive: Bool
    }

    private func tokens() -> [Token] {
        var result: [Token] = []
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var i = 0
        var gap = String.UnicodeScalarView()
        var gapNewline = false
        while i < n {
            let c = s[i]
            guard isLetter(c) else {
                if c == "\n" || c == "\r" || c == "\u{2028}" {
                    gapNewline = true
                } else if !isSpace(c) {
                    gap.append(c)
                }
                i += 1
                continue
            }
            let start = i
            var ascii = true
            var hasLower = false
            bytes.removeAll(keepingCapacity: true)
            while i < n {
                var d = s[i]
                if d == "’" { d = "'" }
                let inWord = isLetter(d) || (!d.isASCII && (d.properties.isDiacritic || d.properties.generalCategory == .nonspacingMark))
                    || ((d == "'" || d == "-") && i > start && at(i + 1).map(isLetter) == true)
                guard inWord else { break }
                if d.isASCII {
                    if d.value >= 97 && d.value <= 122 { hasLower = true }
                    bytes.append(UInt8(d.value >= 65 && d.value <= 90 ? d.value + 32 : d.value))
                } else {
                    ascii = false
                    if d.properties.isLowercase { hasLower = true }
                }
                i += 1
            }
            let word: String
            if ascii {
                word = String(decoding: bytes, as: UTF8.self)
            } else {
                var view = String.UnicodeScalarView()
                for p in start..<i { view.append(s[p] == "’" ? "'" : s[p]) }
                word = String(view).lowercased()
            }
            let possessive = word.hasSuffix("'s")
            let stem = possessive ? String(word.dropLast(2)) : word
            let capitalized = (c.isASCII ? isASCIIUpper(c) : c.properties.isUppercase) && hasLower
            let isName = capitalized && stem.unicodeScalars.count >= 2 && !Self.stopWords.contains(stem) && !Self.titles.contains(stem)
            result.append(Token(start: start, end: i, lower: word, stem: stem, gap: gap.isEmpty ? "" : String(gap),
                                gapHasNewline: gapNewline, capitalized: capitalized, isName: isName, possessive: possessive))
            gap = String.UnicodeScalarView()
            gapNewline = false
        }
        return result
    }

    /// Up to `count` lowercased words before scalar `p`, nearest first; digits and punctuation are skipped
    /// but a sentence end or a newline stops the walk.
    private func previousWords(before p: Int, count: Int) -> [String] {
        var words: [String] = []
        var q = p - 1
        while q >= 0, words.count < count {
            let c = s[q]
            if isLetter(c) {
                let end = q + 1
                while q >= 0, isLetter(s[q]) || s[q] == "'" || s[q] == "’" { q -= 1 }
                words.append(String(String.UnicodeScalarView(s[(q + 1)..<end])).lowercased())
                continue
            }
            if c == "\n" || c == "!" || c == "?" || c == ";" { break }
            if c == ".", q + 1 < n, isSpace(s[q + 1]), q > 0, isLetter(s[q - 1]) {
                // "Tel. 020 ..." keeps going; "call later. 020 ..." stops at the sentence end unless it is an abbreviation.
                var r = q - 1
                while r >= 0, isLetter(s[r]) { r -= 1 }
                if q - 1 - r > 4 { break }
            }
            if c == "#" { words.append("#") }
            q -= 1
        }
        return words
    }

    private func nextWord(after p: Int) -> String? {
        var q = p
        while q < n, isSpace(s[q]) { q += 1 }
        if q < n, s[q] == "%" { return "percent" }
        let start = q
        while q < n, isLetter(s[q]) { q += 1 }
        return q > start ? String(String.UnicodeScalarView(s[start..<q])).lowercased() : nil
    }

    // MARK: People

    private enum CueRule {
        /// Always a cue.
        case plain
        /// A cue only when one of these words comes shortly before ("send the report to Maria",
        /// not "flight to Paris").
        case after(Set<String>)
        /// A greeting: only at the start of a line.
        case greeting
    }

    private struct Cue {
        let words: [String]
        let rule: CueRule
        /// Prepositions that also introduce dates and places: a lone "May" or "Paris" after them is not a name.
        let temporal: Bool
    }

    private static let cues: [Cue] = {
        let plain: [[String]] = [
            ["my", "name", "is"], ["my", "name's"], ["name", "is"], ["names", "are"], ["i", "am"], ["i'm"], ["im"], ["this", "is"],
            ["it's"], ["here", "is"], ["call"], ["called"], ["calling"], ["call", "back"], ["ask"], ["asked"], ["email"], ["e-mail"],
            ["emailed"], ["mail"], ["remind"], ["reminded"], ["meet"], ["met"], ["meeting", "with"], ["meet", "with"],
            ["meet", "up", "with"], ["tell"], ["told"], ["text"], ["texted"], ["message"], ["whatsapp"], ["dm"], ["sms"],
            ["facetime"], ["skype"], ["ping"], ["invite"], ["invited"], ["thank"], ["visit"], ["contact"], ["phone"], ["ring"],
            ["named"], ["congratulate"], ["cc"], ["with"], ["talk", "to"], ["speak", "to"], ["speak", "with"], ["talk", "with"],
            ["reply", "to"], ["write", "to"], ["write", "back", "to"], ["respond", "to"], ["send"], ["forward"], ["pick", "up"],
            ["assign", "to"], ["assigned", "to"], ["assign"], ["delegate", "to"], ["hand", "over", "to"], ["follow", "up", "with"],
            ["check", "with"], ["check", "in", "with"], ["sync", "with"], ["catch", "up", "with"], ["interview"], ["introduce"],
            ["pay"], ["owe"], ["thanks", "to"], ["signed"], ["regards", "from"], ["let"], ["from"], ["wish"], ["congratulate"],
            ["surprise"], ["hug"], ["collect"], ["drive"], ["fetch"],
        ]
        let greetings: [[String]] = [["hi"], ["hello"], ["hey"], ["dear"]]
        let restricted: [String: Set<String>] = [
            "to": ["assign", "assigned", "reassign", "delegate", "delegated", "share", "shared", "send", "sent", "give", "gave",
                   "write", "wrote", "talk", "speak", "reply", "forward", "hand", "pass", "introduce", "say", "said", "show", "lend",
                   "return", "mail", "email", "deliver", "explain", "mention", "report", "text", "post", "hello", "hi", "goodbye",
                   "bye", "invoice", "letter", "note", "card", "gift", "present", "flowers", "reminder", "message", "thanks", "wave",
                   "handover", "pay", "transfer", "wire", "sell", "sold", "lent", "it", "them", "this", "that", "task", "tasks"],
            "for": ["gift", "present", "birthday", "card", "flowers", "cake", "party", "surprise", "buy", "bought", "get", "pick",
                    "book", "reserve", "order", "make", "bake", "cook", "prepare", "sign", "wait", "waiting", "cover", "ask", "asked",
                    "appointment", "reservation", "table", "ticket", "tickets", "dinner", "lunch", "something", "tip",
                    "reminder", "reminders", "note", "notes", "task", "tasks", "todo", "message", "question", "questions"],
            "about": ["remind", "reminder", "reminders", "note", "notes", "ask", "asked", "talk", "call", "email", "tell", "told",
                      "forget", "worry", "worried", "think", "news", "message", "question", "questions", "update", "task", "hear"],
            "by": ["signed", "sent", "written", "approved", "reviewed", "requested", "submitted", "owned", "assigned", "organized",
                   "organised", "hosted", "led", "run", "made", "shared", "recommended", "referred", "introduced", "called", "emailed"],
        ]
        let temporal: Set<String> = ["from", "to", "for", "by", "with", "visit", "meet", "about"]
        var all: [Cue] = []
        for words in plain { all.append(Cue(words: words, rule: .plain, temporal: temporal.contains(words.last!))) }
        for words in greetings { all.append(Cue(words: words, rule: .greeting, temporal: false)) }
        for (word, before) in restricted { all.append(Cue(words: [word], rule: .after(before), temporal: true)) }
        return all
    }()

    /// Cues by their first word, longest first so "meeting with" is tried before "with".
    /// Verbs whose objects are people, for names joined later in the sentence with "and".
    private static let coordinationCues: Set<String> = [
        "call", "email", "text", "ask", "tell", "remind", "meet", "invite", "message", "ping", "thank", "visit", "contact",
        "phone", "ring", "congratulate", "with",
    ]

    private static let cuesByFirstWord: [String: [Cue]] = {
        var map: [String: [Cue]] = [:]
        for cue in cues.sorted(by: { $0.words.count > $1.words.count }) {
            map[cue.words[0], default: []].append(cue)
        }
        return map
    }()

    /// Cues whose name may follow a colon ("From: Anna Schmidt").
    private static let colonCues: Set<String> = ["from", "cc", "to", "contact", "with", "by", "is"]

    private static let titles: Set<String> = [
        "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "sir", "madam", "mister", "señor", "herr", "frau",
        "aunt", "auntie", "uncle", "grandma", "grandpa", "granny", "nana", "cousin",
    ]
    /// Titles that also work lower case ("visit aunt Mary").
    private static let relationTitles: Set<String> = ["aunt", "auntie", "uncle", "grandma", "grandpa", "granny", "nana", "cousin"]

    /// "my colleague Sven Olsen", "the plumber, Tom": a role, then the person's name.
    private static let roles: Set<String> = [
        "colleague", "coworker", "co-worker", "friend", "manager", "boss", "neighbor", "neighbour", "landlord", "landlady",
        "dentist", "doctor", "plumber", "electrician", "assistant", "client", "customer", "wife", "husband", "son", "daughter",
        "brother", "sister", "partner", "teacher", "coach", "lawyer", "accountant", "tenant", "nanny", "babysitter", "tutor",
        "mentor", "intern", "recruiter", "roommate", "flatmate", "mother", "father", "niece", "nephew", "grandson",
        "granddaughter", "girlfriend", "boyfriend", "fiancé", "fiancée", "fiance", "fiancee", "supervisor", "teammate", "director",
        "ceo", "cto", "cfo", "founder", "therapist", "trainer", "realtor", "contractor", "mechanic", "hairdresser", "barber",
        "caretaker", "candidate", "applicant", "buddy", "cousin", "contact", "colleagues", "friends", "neighbours", "neighbors",
        "stepmom", "stepdad", "stepson", "stepdaughter", "lead", "owner", "organizer", "organiser", "host", "guest", "vet",
    ]

    /// After a name: "Anna Schmidt called", "Tom said ...".
    private static let reportingVerbs: Set<String> = [
        "called", "calls", "emailed", "texted", "messaged", "phoned", "rang", "said", "says", "asked", "asks", "wants", "wanted",
        "needs", "needed", "wrote", "writes", "sent", "mentioned", "told", "replied", "confirmed", "suggested", "promised",
        "offered", "invited", "agreed", "thinks", "prefers", "requested", "complained", "approved", "reminded", "dropped",
        "left", "owes", "lent", "paid", "recommended",
    ]

    private static let particles: Set<String> = [
        "van", "von", "de", "der", "den", "del", "della", "di", "da", "du", "la", "le", "dos", "das", "ten", "ter", "bin", "ibn",
        "al", "el", "zu", "y",
    ]

    /// Common first names, to accept a name typed in lower case right after a cue ("text jake about
    /// saturday"). Names that are also everyday words (will, mark, rose, max ...) are left out.
    private static let lowercaseFirstNames: Set<String> = {
        let names = """
        aaron abdul abigail adam adrian ahmed aisha alan albert alejandro alex alexander alexandra alexis alfred ali alice alicia
        alina alison amanda amelia amir amy ana anastasia andre andrea andreas andrew andy angela angelo anita ann anna anne
        annie anthony antonio arjun arthur ashley aurora barbara beatriz ben benjamin bernard beth betty bianca bjorn brandon
        brenda brian bruno caleb camila carla carlos carmen carol caroline carolyn casey catherine cathy charles charlie chen
        chloe chris christian christina christine christopher claire clara claudia colin connor craig cynthia daniel daniela
        daniele danielle david debbie deborah denise dennis derek diana diane diego dmitri dominic donald donna dorothy douglas
        dylan edward elena eli elias elif elijah elisa elizabeth ella ellen emily emma emmanuel eric erik erin ethan eva evelyn
        fabian farah fatima felix fernando fiona francesca francesco francis frederick gabriel gabriela gary george gerald
        giovanni giulia gloria gordon greg gregory gustavo hamid hana hannah harold harriet harry hassan heather helen helena
        henry hiroshi hugo ian igor ines ingrid irene isaac isabel isabella isla ivan jacob jake james jamie jane janet
        jasmine jason javier jean jeff jeffrey jennifer jenny jeremy jessica jesse jim jimmy joan joanna joao joe joel johan
        johann john jonas jonathan jordan jorge jose joseph joshua juan judith judy julia julian julie justin karen karin
        karl kate katherine kathleen kathy katie katrin kayla keith kelly ken kenji kenneth kevin khalid kim kimberly kofi
        kurt kyle lara laura lauren lea leah lena leo leon leonardo liam lina linda lisa liz lorenzo louis louise lucas lucia
        lucy luis luka lukas luke luna madeleine magdalena maria mariam marie marina mario marta martha martin mary maria
        mateo matteo matthew matthias maya megan mehmet mei melissa mia michael michaela michelle miguel mike mila milan
        mohammed monica mohamed muhammad nadia nancy naomi natalia natalie nathan nicholas nicole nikolai nina noah nora
        oliver olivia omar oscar pablo pamela patricia patrick paul paula pedro peter philip pierre priya rachel rahul raj
        ralph ramon randy raphael rebecca richard rick robert roberto robin roger ronald rosa ruth ryan sabrina sam samantha
        samuel sandra sara sarah scott sean sebastian sergei sergio shannon sharon simon simone sofia sophia sophie stefan
        stefanie stephanie stephen steve steven susan svetlana sven tanya tara teresa theresa thomas tim timothy tobias tom
        tomas tony tyler valentina valerie vanessa vera veronica victor vincent viktor walter wei william xavier yasmin yuki
        yusuf zara zoe zoey
        """
        return Set(names.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
    }()

    /// Names that are also months or places: alone after "from", "for", "to" ... they are not people.
    private static let monthNames: Set<String> = ["april", "may", "june", "august", "jan"]
    private static let placeNames: Set<String> = [
        "paris", "florence", "victoria", "sydney", "austin", "jordan", "georgia", "chelsea", "madison", "lincoln", "dallas",
        "houston", "charlotte", "phoenix", "savannah", "vienna", "adelaide", "regina", "santiago", "lourdes", "china", "india",
        "israel", "kent", "devon", "orlando", "denver", "nancy", "virginia", "carolina", "troy", "eugene",
    ]

    /// Capitalized words that are not names (or not names on their own after a cue).
    private static let stopWords: Set<String> = {
        let words = """
        i i'm i'd i'll i've me my mine myself you your yours yourself he him his himself she her hers herself it its itself we us
        our ours they them their theirs someone somebody anyone anybody everyone everybody nobody noone all both each either neither
        none one two three four five ten hundred some any every no not nothing everything something anything this that these those
        the a an and or but if then else so because as at by for from in into of on onto to up upon with without about after before
        over under again also just only still even really very too quite please pls plz thanks thank thx ty sorry okay ok yes yeah
        yep nope no hi hello hey dear bye goodbye welcome cheers regards best sincerely yours love
        monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun weekday weekdays weekend
        january february march july september october november december feb mar apr jun jul aug sep sept oct nov dec
        today tonight tomorrow yesterday tmrw tmr now later soon tonite morning afternoon evening night noon midnight week month
        year day days weeks months years hour hours minute minutes time next last this coming early late asap eod eow
        christmas xmas easter thanksgiving halloween hanukkah diwali ramadan eid new years nye valentine valentine's
        mom mum mommy mummy mother dad daddy father parents grandma grandpa granny nana papa grandmother grandfather sis bro
        sister brother aunt uncle cousin wife husband son daughter kids kid baby family boss manager team colleague colleagues
        client clients customer customers neighbor neighbour friend friends partner landlord roommate doctor dentist doc vet
        nurse plumber electrician mechanic lawyer accountant teacher coach therapist pharmacy pharmacist bank support helpdesk
        hr it sales marketing finance legal admin ops accounting payroll reception security it's that's what's here there where
        when who why how which whatever whoever home work office school church gym store shop market mall airport station
        hospital clinic hotel restaurant cafe library park downtown city town center centre street road avenue lane drive
        google amazon apple microsoft meta facebook instagram twitter linkedin whatsapp telegram signal zoom slack teams skype
        uber lyft netflix spotify youtube paypal venmo stripe visa mastercard amex ikea costco walmart target tesla github
        gitlab jira notion trello asana dropbox outlook gmail icloud excel word powerpoint siri alexa cortana chatgpt parley
        assistant bot ai gpt chat claude world gemini copilot what let men women children kids people nature
        mcdonald macy sainsbury harrod lloyd kellogg domino denny
        car cars diary journal wash repair repairs launch benefits onboarding offboarding training
        verizon comcast vodafone fedex ups dhl usps ebay etsy airbnb expedia starbucks reddit discord dropbox
        life earth other another rent taxes tax fees fee tuition mortgage insurance utilities groceries laundry dishes trash
        acme globex initech contoso fabrikam northwind hooli wonka cyberdyne umbrella vandelay
        product products engineering design operations research leadership management facilities procurement compliance
        infra devops qa data analytics growth partnerships success board staff recruiting talent people service services
        customers desk billing account accounts
        task tasks todo to-do list lists reminder reminders note notes meeting meetings call calls email emails mail message
        messages text texts appointment event events project projects deadline invoice invoices report reports document
        documents file files bill bills payment payments order orders ticket tickets item items agenda plan plans schedule
        add remove delete create update show list complete done finish finished cancel buy pay book get go make take
        send check review read write prepare fix clean call email text ask remind tell meet visit pick drop submit renew
        water feed walk wash cook bake order schedule start stop set move change rename edit find search sort filter
        subject re fwd fw cc bcc attn note nb ps tbd tba etc
        busy tired sick ill fine good great happy sad sorry sure ready done late early back away out off free available
        going trying working looking leaving coming running waiting thinking wondering interested excited glad afraid new old
        important urgent critical high low medium normal priority
        english german french spanish italian dutch swiss austrian british american canadian australian irish scottish welsh
        indian chinese japanese korean russian polish swedish danish norwegian finnish portuguese brazilian mexican greek turkish
        european african asian
        london berlin munich hamburg frankfurt cologne vienna zurich geneva amsterdam rotterdam brussels madrid barcelona rome
        milan lisbon dublin edinburgh manchester oxford cambridge stockholm oslo copenhagen helsinki warsaw prague budapest
        athens istanbul moscow tokyo beijing shanghai seoul singapore dubai mumbai delhi sydney melbourne toronto vancouver
        montreal chicago boston seattle denver miami atlanta york jersey angeles francisco diego vegas washington texas california
        florida germany france spain italy england britain scotland ireland wales europe america canada mexico brazil japan
        korea australia russia poland sweden norway denmark finland austria switzerland netherlands holland belgium portugal
        greece turkey africa asia usa uk eu us
        inc corp corporation llc ltd gmbh ag co company group holdings bank labs systems solutions services department dept
        university college institute hospital foundation association club studio studios agency partners consulting
        """
        return Set(words.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
    }()

    /// Words that, capitalized right after a name, mean it was an organization ("from Acme Corp").
    private static let organizationTails: Set<String> = [
        "inc", "corp", "corporation", "llc", "ltd", "gmbh", "ag", "co", "company", "group", "holdings", "bank", "labs", "systems",
        "solutions", "services", "department", "dept", "university", "college", "institute", "hospital", "clinic", "foundation",
        "association", "club", "studio", "studios", "agency", "partners", "consulting", "team", "support", "store", "shop",
        "street", "st", "road", "rd", "avenue", "ave", "lane", "drive", "park", "center", "centre", "station", "airport", "hotel",
        "restaurant", "cafe", "café", "library", "school", "academy", "office", "airlines", "airways", "insurance", "energy",
        "motors", "pharmacy", "market", "mall", "plaza", "square", "tower", "building", "hall", "city", "county", "state",
        "river", "lake", "mountain", "beach", "island", "app", "api", "cloud", "project", "program", "programme",
    ]

    private static let closings: [[String]] = [
        ["thanks"], ["thank", "you"], ["thanks", "again"], ["thanks", "so", "much"], ["thanks", "a", "lot"], ["many", "thanks"],
        ["thx"], ["ty"], ["best"], ["best", "regards"], ["best", "wishes"], ["regards"], ["kind", "regards"], ["warm", "regards"],
        ["warmest", "regards"], ["cheers"], ["sincerely"], ["yours"], ["yours", "truly"], ["yours", "sincerely"], ["love"],
        ["br"], ["all", "the", "best"], ["take", "care"], ["talk", "soon"], ["xoxo"], ["greetings"], ["much", "appreciated"],
        ["cordially"], ["respectfully"], ["ciao"], ["bye"], ["later"], ["see", "you"], ["with", "thanks"], ["gruß"], ["grüße"],
        ["thank", "you", "so", "much"], ["appreciate", "it"], ["kind", "wishes"], ["warmly"], ["sent", "by"], ["signed"],
    ]

    private static let closingsByFirstWord: [String: [[String]]] = Dictionary(grouping: closings, by: { $0[0] })

    private static let possessiveNouns: Set<String> = [
        "birthday", "bday", "wedding", "party", "anniversary", "graduation", "funeral", "baby", "shower", "retirement", "farewell",
        "mom", "mum", "dad", "wife", "husband", "kids", "son", "daughter", "parents", "brother", "sister", "family", "house",
        "place", "flat", "apartment", "address", "number", "phone", "email", "car", "dog", "cat", "recital", "game", "match",
        "appointment", "surgery", "visa", "passport", "flight", "train", "application", "interview", "promotion", "leaving",
        "present", "gift", "card", "feedback", "request", "invoice", "contract", "report", "presentation", "office", "desk",
        "team", "manager", "assistant", "boyfriend", "girlfriend", "partner", "fiancé", "fiance", "fiancée", "fiancee",
        "kid", "child", "children", "friend", "friends", "laptop", "keys", "book", "notes", "slides", "proposal", "cv", "resume",
    ]


    private func isNameWord(_ t: Token) -> Bool { t.isName }

    private func hasPossessive(_ t: Token) -> Bool { t.possessive }

    private func isLowercaseStart(_ t: Token) -> Bool {
        let c = s[t.start]
        return c.isASCII ? (c.value >= 97 && c.value <= 122) : c.properties.isLowercase
    }

    /// Two tokens on one line separated only by spaces.
    private func adjacent(_ t: Token) -> Bool { t.gap.isEmpty && !t.gapHasNewline }

    private struct Name {
        var start: Int
        var end: Int
        /// The index of the last token used.
        var last: Int
        var words: Int
    }

    /// A name starting at token `q`: 1-3 capitalized words (particles between them allowed) after an
    /// optional title ("Dr. Patel" gives "Patel").
    private func parseName(_ tokens: [Token], _ q: Int, allowTitle: Bool = true, temporal: Bool = false, lowercase: Bool = false) -> Name? {
        var k = q
        guard k < tokens.count else { return nil }
        if allowTitle, Self.titles.contains(tokens[k].lower),
           s[tokens[k].start].properties.isUppercase || Self.relationTitles.contains(tokens[k].lower), k + 1 < tokens.count,
           tokens[k + 1].gap.isEmpty || tokens[k + 1].gap == ".", !tokens[k + 1].gapHasNewline {
            k += 1
        }
        // An initial before a surname: "J. Alvarez".
        var initialStart: Int? = nil
        if tokens[k].end - tokens[k].start == 1, isASCIIUpper(s[tokens[k].start]), k + 1 < tokens.count,
           tokens[k + 1].gap == ".", !tokens[k + 1].gapHasNewline, tokens[k + 1].isName {
            initialStart = tokens[k].start
            k += 1
        }
        let first = tokens[k]
        guard isNameWord(first) else {
            // "call anna tomorrow": a well-known first name in lower case, right after a cue.
            guard lowercase, k == q, isLowercaseStart(first), !first.lower.contains("-"), Self.lowercaseFirstNames.contains(first.stem),
                  !Self.stopWords.contains(first.stem) else { return nil }
            return Name(start: first.start, end: first.end - (first.possessive ? 2 : 0), last: k, words: 1)
        }
        var words = 1
        var last = k
        var stop = hasPossessive(first)
        while !stop, words < 3, last + 1 < tokens.count {
            var next = last + 1
            guard adjacent(tokens[next]) else { break }
            if Self.particles.contains(tokens[next].lower) {
                // "van", "de la": only when a capitalized word follows.
                var p = next
                while p < tokens.count, Self.particles.contains(tokens[p].lower), adjacent(tokens[p]) { p += 1 }
                guard p < tokens.count, adjacent(tokens[p]), isNameWord(tokens[p]) else { break }
                next = p
            } else if !isNameWord(tokens[next]) {
                break
            }
            words += 1
            last = next
            stop = hasPossessive(tokens[next])
        }
        // "from Acme Corp", "call Main Street": an organization or a place, not a person.
        if last + 1 < tokens.count, adjacent(tokens[last + 1]), s[tokens[last + 1].start].properties.isUppercase,
           Self.organizationTails.contains(tokens[last + 1].lower) {
            return nil
        }
        if words == 1, k == q, initialStart == nil {
            let word = first.stem
            // "from May", "in May 2026", "Jan 12"; "flight to Paris".
            if Self.monthNames.contains(word) {
                if temporal { return nil }
                var p = first.end
                while p < n, isSpace(s[p]) { p += 1 }
                if let c = at(p), isDigit(c) { return nil }
            }
            if temporal, Self.placeNames.contains(word) { return nil }
        }
        var end = tokens[last].end
        if hasPossessive(tokens[last]) { end -= 2 }
        return Name(start: initialStart ?? tokens[k].start, end: end, last: last, words: words + (initialStart == nil ? 0 : 1))
    }

    /// After "my name is": 1-3 words of any case up to punctuation or a stop word.
    private func anyCaseName(_ tokens: [Token], _ q: Int) -> Name? {
        if let name = parseName(tokens, q) { return name }
        var last = q - 1
        while last + 1 < tokens.count, last + 1 - q < 3 {
            let t = tokens[last + 1]
            guard last + 1 == q || adjacent(t), !Self.stopWords.contains(t.stem), !t.lower.hasSuffix("ing"),
                  t.end - t.start >= 2 || last + 1 > q else { break }
            last += 1
            if t.possessive { break }
        }
        guard last >= q else { return nil }
        return Name(start: tokens[q].start, end: tokens[last].end - (tokens[last].possessive ? 2 : 0), last: last, words: last - q + 1)
    }

    private func matches(_ tokens: [Token], _ words: [String], at p: Int) -> Bool {
        guard p + words.count <= tokens.count else { return false }
        for (offset, word) in words.enumerated() {
            let t = tokens[p + offset]
            guard t.lower == word else { return false }
            if offset > 0, !adjacent(t) { return false }
        }
        return true
    }

    private func isSentenceStart(_ tokens: [Token], _ p: Int) -> Bool {
        p == 0 || tokens[p].gapHasNewline || tokens[p].gap.contains { ".!?:".contains($0) }
    }

    private mutating func scanPeople() {
        let tokens = tokens()
        guard !tokens.isEmpty else { return }
        var names: [Name] = []

        /// A name at `q` and the names listed after it ("call Anna and Tom", "email Anna, Tom and Maria").
        func addNames(at q: Int, temporal: Bool) {
            guard let name = parseName(tokens, q, temporal: temporal, lowercase: true) else { return }
            names.append(name)
            var last = name.last
            while last + 2 < tokens.count {
                let link = tokens[last + 1]
                if adjacent(link), link.lower == "and" || link.lower == "or",
                   adjacent(tokens[last + 2]), let more = parseName(tokens, last + 2, temporal: temporal, lowercase: name.words > 0 && !tokens[name.last].capitalized) {
                    names.append(more); last = more.last; continue
                }
                if link.gap == "," || link.gap == "&", !link.gapHasNewline, let more = parseName(tokens, last + 1, temporal: temporal) {
                    names.append(more); last = more.last; continue
                }
                break
            }
        }

        for p in 0..<tokens.count {
            let t = tokens[p]
            // Cue phrases: "call Anna", "meeting with Tom Baker", "my name is ...".
            if let cues = Self.cuesByFirstWord[t.lower] {
                for cue in cues where matches(tokens, cue.words, at: p) {
                    let q = p + cue.words.count
                    guard q < tokens.count, !tokens[q].gapHasNewline else { continue }
                    let gap = tokens[q].gap
                    guard gap.isEmpty || (gap == ":" && Self.colonCues.contains(cue.words.last!)) else { continue }
                    switch cue.rule {
                    case .plain:
                        break
                    case .after(let before):
                        guard tokens[max(0, p - 6)..<p].contains(where: { before.contains($0.lower) }) else { continue }
                    case .greeting:
                        guard isSentenceStart(tokens, p) else { continue }
                    }
                    if cue.words.first == "i" || cue.words == ["i'm"] || cue.words == ["im"], tokens[q].lower.count > 5,
                       tokens[q].lower.hasSuffix("ing") || tokens[q].lower.hasSuffix("ed"),
                       !Self.lowercaseFirstNames.contains(tokens[q].lower) {
                        // "I'm Feeling lucky", "I am Exhausted".
                        break
                    }
                    if cue.words.contains("name") || cue.words.contains("name's"), let name = anyCaseName(tokens, q) {
                        // "my name is li na": the strongest cue, so the case of the name does not matter.
                        names.append(name)
                        break
                    }
                    if cue.words == ["about"], !(tokens[q].isName && q + 1 < tokens.count && adjacent(tokens[q + 1]) && tokens[q + 1].isName),
                       !Self.lowercaseFirstNames.contains(tokens[q].stem) {
                        // "remind me about Katrin" but not "ask HR about Benefits": one word must be a known first name.
                        break
                    }
                    addNames(at: q, temporal: cue.temporal)
                    break
                }
            }
            // A second object of an earlier cue: "call my mum at 7 and Alessandro at 8".
            if (t.lower == "and" || t.lower == "or"), p + 1 < tokens.count, adjacent(tokens[p + 1]), tokens[p + 1].isName,
               !isSentenceStart(tokens, p) {
                var r = p - 1
                var cued = false
                while r >= 0, r >= p - 8 {
                    if Self.coordinationCues.contains(tokens[r].lower) { cued = true; break }
                    if isSentenceStart(tokens, r) { break }
                    r -= 1
                }
                if cued { addNames(at: p + 1, temporal: true) }
            }
            // "meeting w/ Tom".
            if t.lower == "w", p + 1 < tokens.count, tokens[p + 1].gap == "/", !tokens[p + 1].gapHasNewline {
                addNames(at: p + 1, temporal: true)
            }
            // A role, then the name: "my colleague Sven Olsen", "ask my manager, Ines Carvalho".
            if Self.roles.contains(t.lower), !t.capitalized, p + 1 < tokens.count, !tokens[p + 1].gapHasNewline,
               ["", ",", ":", "(", "-", "–", "—"].contains(tokens[p + 1].gap) {
                addNames(at: p + 1, temporal: false)
            }
            // Titles anywhere: "Dr. Patel", "Mrs Okafor", "aunt Mary".
            if Self.titles.contains(t.lower), s[t.start].properties.isUppercase || Self.relationTitles.contains(t.lower),
               let name = parseName(tokens, p), name.start != t.start {
                names.append(name)
            }
            // A name that starts a clause, then a reporting verb: "Anna Schmidt called", "Tom said".
            if isNameWord(t), !hasPossessive(t), p == 0 || !(adjacent(t) && isNameWord(tokens[p - 1]) && !Self.particles.contains(tokens[p - 1].lower)),
               let name = parseName(tokens, p, allowTitle: false), name.last + 1 < tokens.count {
                let verb = tokens[name.last + 1]
                if adjacent(verb), Self.reportingVerbs.contains(verb.lower), !Self.monthNames.contains(t.lower) {
                    names.append(name)
                }
            }
            // Possessive before a noun: "Sarah's birthday", "Anna Schmidt's office", "Imogen's books"
            // (not "Valentine's Day", "Paris's museums").
            if hasPossessive(t), isNameWord(t), p + 1 < tokens.count, adjacent(tokens[p + 1]),
               // At the start of a sentence "Dinner's ready" is a contraction, so only known nouns count there.
               Self.possessiveNouns.contains(tokens[p + 1].lower) || (!isSentenceStart(tokens, p) && isLowercaseStart(tokens[p + 1])),
               tokens[p + 1].lower != "day", tokens[p + 1].lower != "eve" {
                var first = p
                if p > 0, adjacent(t), isNameWord(tokens[p - 1]) { first = p - 1 }
                if !(first == p && (Self.monthNames.contains(t.stem) || Self.placeNames.contains(t.stem))) {
                    names.append(Name(start: tokens[first].start, end: t.end - 2, last: p, words: p - first + 1))
                }
            }
        }
        scanSignature(tokens, &names)
        guard !names.isEmpty else { return }

        // The same name elsewhere in the message: "Meeting with Anna Schmidt ... Anna prefers mornings".
        var variants: Set<String> = []
        for name in names {
            let value = String(String.UnicodeScalarView(s[name.start..<name.end]))
            variants.insert(value)
            if name.words > 1, let firstPart = value.split(separator: " ").first, !Self.monthNames.contains(firstPart.lowercased()) {
                variants.insert(String(firstPart))
            }
        }
        let variantScalars = variants.map { Array($0.unicodeScalars) }
        for token in tokens where token.capitalized {
            for vs in variantScalars {
                let start = token.start
                let end = start + vs.count
                guard end <= n, s[start..<end].elementsEqual(vs) else { continue }
                if let next = at(end), isLetter(next) { continue }
                if let next = at(end), next == "-", let after = at(end + 1), isLetter(after) { continue }
                names.append(Name(start: start, end: end, last: 0, words: 0))
            }
        }
        for name in names where name.end > name.start {
            found.append(PIICandidate(kind: .person, start: name.start, end: name.end))
        }
    }

    /// "Thanks,\nAnna Schmidt", "Best, John", "— Maria" at the end of a message (or a name on its own
    /// line after a closing, followed by more signature lines).
    private func scanSignature(_ tokens: [Token], _ names: inout [Name]) {
        func endsLine(_ end: Int) -> Bool {
            var q = end
            while q < n, isSpace(s[q]) || s[q] == "." || s[q] == "!" { q += 1 }
            return q == n || s[q] == "\n" || s[q] == "\r"
        }
        func endsText(_ end: Int) -> Bool {
            var q = end
            while q < n, isSpace(s[q]) || s[q] == "." || s[q] == "!" || s[q] == "\n" || s[q] == "\r" || s[q] == ")" { q += 1 }
            return q == n
        }
        for p in 0..<tokens.count {
            for closing in Self.closingsByFirstWord[tokens[p].lower] ?? [] where matches(tokens, closing, at: p) {
                // The closing starts a line or a sentence: "... today. Thanks, Anna", not "the best, John".
                guard isSentenceStart(tokens, p) || tokens[p].gap.contains(where: { ",;".contains($0) }) else { continue }
                let q = p + closing.count
                guard q < tokens.count else { continue }
                guard ["", ",", "!", ".", "-", "—", "–", ",-", "!-"].contains(tokens[q].gap),
                      let name = parseName(tokens, q, allowTitle: false) else { continue }
                if endsText(name.end) || (tokens[q].gapHasNewline && endsLine(name.end)) {
                    names.append(name)
                }
            }
            if let dash = dashBefore(tokens[p].start), let name = parseName(tokens, p, allowTitle: false) {
                // "— Maria" ends the text; "--\nRoberta Marini\nProject Manager" starts a signature block.
                if endsText(name.end) || (dash && endsLine(name.end) && shortTail(name.end)) {
                    names.append(name)
                }
            }
        }
    }

    /// "— Maria", "\n-- Tom", "done - Ravi": a dash right before `start`, itself after whitespace or
    /// the start of the text (not the hyphen of "well-known").
    /// Returns whether the dash starts its line, or nil without a dash.
    private func dashBefore(_ start: Int) -> Bool? {
        var q = start - 1
        var newline = false
        while q >= 0, isSpace(s[q]) || s[q] == "\n" || s[q] == "\r" {
            if s[q] == "\n" || s[q] == "\r" { newline = true }
            q -= 1
        }
        let dashEnd = q
        while q >= 0, s[q] == "-" || s[q] == "—" || s[q] == "–" || s[q] == "~" { q -= 1 }
        guard q < dashEnd, dashEnd - q <= 2 else { return nil }
        var r = q
        while r >= 0, isSpace(s[r]) { r -= 1 }
        let dashStartsLine = r < 0 || s[r] == "\n" || s[r] == "\r"
        if newline { return dashStartsLine ? true : nil }
        guard q < 0 || isSpace(s[q]) || s[q] == "\n" || s[q] == "\r" else { return nil }
        return dashStartsLine
    }

    /// At most two short lines (a job title, a company) after `end`.
    private func shortTail(_ end: Int) -> Bool {
        var lines = 0
        var length = 0
        for q in end..<n {
            if s[q] == "\n" {
                lines += 1
                length = 0
                if lines > 3 { return false }
            } else {
                length += 1
                if length > 50 { return false }
            }
        }
        return true
    }
}
