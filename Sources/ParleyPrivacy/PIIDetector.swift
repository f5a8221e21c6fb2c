import Synchronization

// PII detection and pseudonymization for chat text sent to a model.
//
// The recognizers (Recognizers/) are hand-written scanners over the text's Unicode scalars: no regular expression
// is compiled per call, the lookup tables are `static let`s built once, and one call is a few linear
// passes over the message. The detector favours precision on the numbers a to-do app sees all the
// time (task ids, dates, times, amounts, versions, order numbers, years): cards must pass Luhn, IBANs
// mod-97, IPs must be well formed, phones need a phone-like shape (or a phone word nearby), and
// people are only found through cues ("call X", "my name is X", "Dr. X", "X's birthday", signatures
// ...): a capitalized name after the cue, or a common first name typed in lower case.

/// Finds emails, phone numbers, payment cards, IBANs, IP addresses and cued person names.
public enum PIIDetector {
    /// The matches in `text`, sorted by position and never overlapping.
    public static func detect(in text: String) -> [PIIMatch] {
        guard !text.isEmpty else { return [] }
        let found = recent.candidates(for: text) {
            PIIRecognizers.candidates(in: PIIText(text))
        }
        guard !found.isEmpty else { return [] }
        var indices = Array(text.unicodeScalars.indices)
        indices.append(text.endIndex)
        return found.map { candidate in
            let range = indices[candidate.start]..<indices[candidate.end]
            return PIIMatch(kind: candidate.kind, range: range, value: String(text.unicodeScalars[range]))
        }
    }
}

extension PIIDetector {
    /// What the recognizers found in recent texts: a conversation's earlier messages go to an
    /// external model again with every turn, and scanning them anew was a tenth of a turn's CPU.
    /// Detection depends on the text alone, so a hit is exact. Bounded: when full it starts over.
    static let recent = DetectionCache(capacity: 4096)

    final class DetectionCache: Sendable {
        let capacity: Int
        /// Texts longer than this are scanned every time (a chat message is at most 8,000 characters).
        let maxLength = 16_384
        private let entries = Mutex<[String: [PIICandidate]]>([:])

        init(capacity: Int) {
            self.capacity = capacity
        }

        func candidates(for text: String, scan: () -> [PIICandidate]) -> [PIICandidate] {
            guard text.utf8.count <= maxLength else { return scan() }
            if let known = entries.withLock({ $0[text] }) { return known }
            let found = scan()
            entries.withLock { entries in
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
                entries[text] = found
            }
            return found
        }

        var count: Int { entries.withLock { $0.count } }
    }
}
