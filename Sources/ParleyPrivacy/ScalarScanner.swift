/// What every recognizer's scan reads: the text's Unicode scalars, indexed by position, and the
/// character classes and word lookups they share. Scans work on scalar offsets, so a match is a
/// pair of offsets that `PIIDetector` turns back into a `String` range.
protocol ScalarScanner {
    var s: [Unicode.Scalar] { get }
    var n: Int { get }
}

/// The scan of one text: each recognizer adds its scanning to it in an extension in its own
/// file, and collects what it finds in `found`.
struct PIIScan: ScalarScanner {
    let s: [Unicode.Scalar]
    let n: Int
    var found: [PIICandidate] = []

    init(_ text: PIIText) {
        s = text.scalars
        n = text.scalars.count
    }
}

extension ScalarScanner {
    @inline(__always) func isDigit(_ c: Unicode.Scalar) -> Bool { c.value >= 48 && c.value <= 57 }
    @inline(__always) func isASCIILetter(_ c: Unicode.Scalar) -> Bool { (c.value | 0x20) >= 97 && (c.value | 0x20) <= 122 }
    @inline(__always) func isASCIIUpper(_ c: Unicode.Scalar) -> Bool { c.value >= 65 && c.value <= 90 }
    @inline(__always) func isHex(_ c: Unicode.Scalar) -> Bool { isDigit(c) || ((c.value | 0x20) >= 97 && (c.value | 0x20) <= 102) }
    @inline(__always) func isLetter(_ c: Unicode.Scalar) -> Bool { c.isASCII ? isASCIILetter(c) : c.properties.isAlphabetic }
    @inline(__always) func isAlnum(_ c: Unicode.Scalar) -> Bool { isDigit(c) || isLetter(c) }
    @inline(__always) func isSpace(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\u{A0}" }
    @inline(__always) func at(_ i: Int) -> Unicode.Scalar? { i >= 0 && i < n ? s[i] : nil }
    @inline(__always) func digitValue(_ c: Unicode.Scalar) -> Int { Int(c.value) - 48 }

    func previousNonSpace(before p: Int) -> Unicode.Scalar? {
        var q = p - 1
        while q >= 0, isSpace(s[q]) { q -= 1 }
        return at(q)
    }

    /// Up to `count` lowercased words before scalar `p`, nearest first; digits and punctuation are skipped
    /// but a sentence end or a newline stops the walk.
    func previousWords(before p: Int, count: Int) -> [String] {
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

    func nextWord(after p: Int) -> String? {
        var q = p
        while q < n, isSpace(s[q]) { q += 1 }
        if q < n, s[q] == "%" { return "percent" }
        let start = q
        while q < n, isLetter(s[q]) { q += 1 }
        return q > start ? String(String.UnicodeScalarView(s[start..<q])).lowercased() : nil
    }
}
