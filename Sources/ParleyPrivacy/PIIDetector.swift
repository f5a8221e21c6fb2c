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
        let scanned = PIIText(text)
        guard !scanned.scalars.isEmpty else { return [] }
        let found = PIIRecognizers.candidates(in: scanned)
        guard !found.isEmpty else { return [] }
        var indices = Array(text.unicodeScalars.indices)
        indices.append(text.endIndex)
        return found.map { candidate in
            let range = indices[candidate.start]..<indices[candidate.end]
            return PIIMatch(kind: candidate.kind, range: range, value: String(text.unicodeScalars[range]))
        }
    }
}
