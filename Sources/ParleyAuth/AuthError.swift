/// Why a token was refused. The HTTP layer answers 401 for every case without saying which,
/// (a prober learns nothing), while logs and the audit trail keep the reason.
public struct AuthError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}
