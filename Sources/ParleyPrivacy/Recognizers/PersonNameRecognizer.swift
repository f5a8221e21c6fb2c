extension PIIKind {
    public static let person = PIIKind(rawValue: "person")
}

/// Names of people, found through cues: "call X", "my name is X", "Dr. X", "X's birthday", signatures, and the same name again elsewhere in the text.
struct PersonNameRecognizer: PIIRecognizer {
    let kind = PIIKind.person

    func recognize(in text: PIIText) -> [PIICandidate] {
        var scan = PIIScan(text)
        scan.scanPeople()
        return scan.found
    }
}

extension PIIScan {
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
            let isName = capitalized && stem.unicodeScalars.count >= 2 && !PersonNameWords.stopWords.contains(stem) && !PersonNameWords.titles.contains(stem)
            result.append(Token(start: start, end: i, lower: word, stem: stem, gap: gap.isEmpty ? "" : String(gap),
                                gapHasNewline: gapNewline, capitalized: capitalized, isName: isName, possessive: possessive))
            gap = String.UnicodeScalarView()
            gapNewline = false
        }
        return result
    }


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
        if allowTitle, PersonNameWords.titles.contains(tokens[k].lower),
           s[tokens[k].start].properties.isUppercase || PersonNameWords.relationTitles.contains(tokens[k].lower), k + 1 < tokens.count,
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
            guard lowercase, k == q, isLowercaseStart(first), !first.lower.contains("-"), PersonNameWords.lowercaseFirstNames.contains(first.stem),
                  !PersonNameWords.stopWords.contains(first.stem) else { return nil }
            return Name(start: first.start, end: first.end - (first.possessive ? 2 : 0), last: k, words: 1)
        }
        var words = 1
        var last = k
        var stop = hasPossessive(first)
        while !stop, words < 3, last + 1 < tokens.count {
            var next = last + 1
            guard adjacent(tokens[next]) else { break }
            if PersonNameWords.particles.contains(tokens[next].lower) {
                // "van", "de la": only when a capitalized word follows.
                var p = next
                while p < tokens.count, PersonNameWords.particles.contains(tokens[p].lower), adjacent(tokens[p]) { p += 1 }
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
           PersonNameWords.organizationTails.contains(tokens[last + 1].lower) {
            return nil
        }
        if words == 1, k == q, initialStart == nil {
            let word = first.stem
            // "from May", "in May 2026", "Jan 12"; "flight to Paris".
            if PersonNameWords.monthNames.contains(word) {
                if temporal { return nil }
                var p = first.end
                while p < n, isSpace(s[p]) { p += 1 }
                if let c = at(p), isDigit(c) { return nil }
            }
            if temporal, PersonNameWords.placeNames.contains(word) { return nil }
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
            guard last + 1 == q || adjacent(t), !PersonNameWords.stopWords.contains(t.stem), !t.lower.hasSuffix("ing"),
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

    mutating func scanPeople() {
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
            if let cues = PersonNameWords.cuesByFirstWord[t.lower] {
                for cue in cues where matches(tokens, cue.words, at: p) {
                    let q = p + cue.words.count
                    guard q < tokens.count, !tokens[q].gapHasNewline else { continue }
                    let gap = tokens[q].gap
                    guard gap.isEmpty || (gap == ":" && PersonNameWords.colonCues.contains(cue.words.last!)) else { continue }
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
                       !PersonNameWords.lowercaseFirstNames.contains(tokens[q].lower) {
                        // "I'm Feeling lucky", "I am Exhausted".
                        break
                    }
                    if cue.words.contains("name") || cue.words.contains("name's"), let name = anyCaseName(tokens, q) {
                        // "my name is li na": the strongest cue, so the case of the name does not matter.
                        names.append(name)
                        break
                    }
                    if cue.words == ["about"], !(tokens[q].isName && q + 1 < tokens.count && adjacent(tokens[q + 1]) && tokens[q + 1].isName),
                       !PersonNameWords.lowercaseFirstNames.contains(tokens[q].stem) {
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
                    if PersonNameWords.coordinationCues.contains(tokens[r].lower) { cued = true; break }
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
            if PersonNameWords.roles.contains(t.lower), !t.capitalized, p + 1 < tokens.count, !tokens[p + 1].gapHasNewline,
               ["", ",", ":", "(", "-", "–", "—"].contains(tokens[p + 1].gap) {
                addNames(at: p + 1, temporal: false)
            }
            // Titles anywhere: "Dr. Patel", "Mrs Okafor", "aunt Mary".
            if PersonNameWords.titles.contains(t.lower), s[t.start].properties.isUppercase || PersonNameWords.relationTitles.contains(t.lower),
               let name = parseName(tokens, p), name.start != t.start {
                names.append(name)
            }
            // A name that starts a clause, then a reporting verb: "Anna Schmidt called", "Tom said".
            if isNameWord(t), !hasPossessive(t), p == 0 || !(adjacent(t) && isNameWord(tokens[p - 1]) && !PersonNameWords.particles.contains(tokens[p - 1].lower)),
               let name = parseName(tokens, p, allowTitle: false), name.last + 1 < tokens.count {
                let verb = tokens[name.last + 1]
                if adjacent(verb), PersonNameWords.reportingVerbs.contains(verb.lower), !PersonNameWords.monthNames.contains(t.lower) {
                    names.append(name)
                }
            }
            // Possessive before a noun: "Sarah's birthday", "Anna Schmidt's office", "Imogen's books"
            // (not "Valentine's Day", "Paris's museums").
            if hasPossessive(t), isNameWord(t), p + 1 < tokens.count, adjacent(tokens[p + 1]),
               // At the start of a sentence "Dinner's ready" is a contraction, so only known nouns count there.
               PersonNameWords.possessiveNouns.contains(tokens[p + 1].lower) || (!isSentenceStart(tokens, p) && isLowercaseStart(tokens[p + 1])),
               tokens[p + 1].lower != "day", tokens[p + 1].lower != "eve" {
                var first = p
                if p > 0, adjacent(t), isNameWord(tokens[p - 1]) { first = p - 1 }
                if !(first == p && (PersonNameWords.monthNames.contains(t.stem) || PersonNameWords.placeNames.contains(t.stem))) {
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
            if name.words > 1, let firstPart = value.split(separator: " ").first, !PersonNameWords.monthNames.contains(firstPart.lowercased()) {
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
            for closing in PersonNameWords.closingsByFirstWord[tokens[p].lower] ?? [] where matches(tokens, closing, at: p) {
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
