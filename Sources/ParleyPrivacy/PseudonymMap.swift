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

    /// Placeholders handed out per kind (`EMAIL` -> 2): what traces may say about the values.
    public var counts: [String: Int] { counters }

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
        // The first letters of the stems in use, either case ("<EMAIL_1>" -> E, e).
        var stemInitials: Set<Unicode.Scalar> = []
        for key in forward.keys {
            guard let initial = key.unicodeScalars.dropFirst().first, initial.isASCII else { continue }
            stemInitials.insert(initial)
            if let lower = Unicode.Scalar(initial.value | 0x20) { stemInitials.insert(lower) }
        }
        let scalars = Array(text.unicodeScalars)
        var output = String.UnicodeScalarView()
        var i = 0
        let n = scalars.count
        var changed = false
        while i < n {
            let c = scalars[i]
            // Placeholders start with a bracket or the first letter of a stem in use (E, P, ...).
            let mayStart = c == "<" || c == "[" || c == "{" || stemInitials.contains(c)
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
        let key = kind.rawValue + ":" + PIIRecognizers.normalize(value, as: kind)
        if let existing = reverse[key] { return existing }
        let number = (counters[kind.stem] ?? 0) + 1
        counters[kind.stem] = number
        let placeholder = "<\(kind.stem)_\(number)>"
        reverse[key] = placeholder
        forward[placeholder] = value
        return placeholder
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
        // Only placeholders this map handed out are restored (the lookup below), whatever the stem.
        let stem = String(String.UnicodeScalarView(s[stemStart..<j])).uppercased()
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
