/// The recognizers Parley runs, composed the way Presidio's registry composes its predefined
/// recognizers: each finds its own kind, and the registry settles overlaps.
enum PIIRecognizers {
    /// In order of precedence: where spans overlap, the earlier recognizer's kind wins (an email's
    /// digits are not a phone number; an IBAN's are not a card's).
    static let all: [any PIIRecognizer] = [
        EmailRecognizer(),
        IBANRecognizer(),
        PaymentCardRecognizer(),
        IPAddressRecognizer(),
        PhoneRecognizer(),
        PersonNameRecognizer(),
    ]

    private static let rank: [PIIKind: Int] = Dictionary(
        all.enumerated().map { ($0.element.kind, $0.offset) }, uniquingKeysWith: { first, _ in first })
    private static let byKind: [PIIKind: any PIIRecognizer] = Dictionary(
        all.map { ($0.kind, $0) }, uniquingKeysWith: { first, _ in first })

    /// Every recognizer's spans in `text`, overlaps resolved, sorted by position.
    static func candidates(in text: PIIText) -> [PIICandidate] {
        var found: [PIICandidate] = []
        for recognizer in all where recognizer.mayOccur(in: text) {
            found.append(contentsOf: recognizer.recognize(in: text))
        }
        return resolve(found)
    }

    /// The value as its kind's recognizer normalizes it (the value itself for an unknown kind).
    static func normalize(_ value: String, as kind: PIIKind) -> String {
        byKind[kind]?.normalize(value) ?? value
    }

    /// Keeps, among overlapping candidates, the one of the stronger kind (then the longer, then
    /// the earlier), and sorts the survivors by position.
    static func resolve(_ found: [PIICandidate]) -> [PIICandidate] {
        func rank(_ kind: PIIKind) -> Int { Self.rank[kind] ?? Int.max }
        func stronger(_ a: PIICandidate, _ b: PIICandidate) -> Bool {
            if rank(a.kind) != rank(b.kind) { return rank(a.kind) < rank(b.kind) }
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
}
