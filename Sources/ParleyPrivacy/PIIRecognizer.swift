/// Finds one kind of personal data in a text. A recognizer sees the whole text and reports every
/// span it is confident about; where spans of different recognizers overlap, the registry's order
/// decides (`PIIRecognizers.all`).
///
/// To add a kind (say, national id numbers): one file in `Recognizers/` with its `PIIKind` and
/// its recognizer, and one line in `PIIRecognizers.all`.
protocol PIIRecognizer: Sendable {
    /// The kind of every span this recognizer reports.
    var kind: PIIKind { get }

    /// A cheap check over the whole text: `false` skips the scan (no `@`, no email).
    func mayOccur(in text: PIIText) -> Bool

    /// The spans of `kind` in `text`, in any order; they may overlap each other.
    func recognize(in text: PIIText) -> [PIICandidate]

    /// The form under which two spellings of one value share a placeholder (emails ignore case,
    /// numbers their separators).
    func normalize(_ value: String) -> String
}

extension PIIRecognizer {
    func mayOccur(in text: PIIText) -> Bool { true }
    func normalize(_ value: String) -> String { value }
}

/// A text as recognizers read it: its Unicode scalars (spans are offsets into them) and what one
/// pass found about them, for `mayOccur`.
struct PIIText {
    let scalars: [Unicode.Scalar]
    let hasDigit: Bool
    let hasAt: Bool
    let hasColon: Bool

    init(_ text: String) {
        scalars = Array(text.unicodeScalars)
        var hasDigit = false, hasAt = false, hasColon = false
        for c in scalars {
            if c.value >= 48 && c.value <= 57 {
                hasDigit = true
            } else if c == "@" {
                hasAt = true
            } else if c == ":" {
                hasColon = true
            }
        }
        self.hasDigit = hasDigit
        self.hasAt = hasAt
        self.hasColon = hasColon
    }
}

/// A span a recognizer found: scalar offsets `start..<end`.
struct PIICandidate: Sendable, Equatable {
    let kind: PIIKind
    let start: Int
    let end: Int
}
