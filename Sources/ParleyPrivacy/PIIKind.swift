/// A kind of personal data Parley pseudonymizes. Each recognizer declares its own kind
/// (`PIIKind.email` lives in `EmailRecognizer.swift`), so a new kind needs no change here.
public struct PIIKind: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    /// The name reported by `parley pii detect` and used in placeholders: `email`.
    public let rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    /// The placeholder stem: `EMAIL` in `<EMAIL_1>`.
    var stem: String { rawValue.uppercased() }

    public var description: String { rawValue }
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
