/// Errors the domain raises. The HTTP layer maps each case to a status and a problem+json body;
/// the agent maps them to words. Messages are safe to show to the caller.
public enum ParleyError: Error, Sendable, Equatable {
    /// Well-formed but invalid (422): which field, and why.
    case invalid(field: String, reason: String)
    /// Not found, or not the caller's (404). Never says which.
    case notFound(String)
    /// The thing to create exists already (409).
    case conflict(String)
    /// Authenticated but not allowed (403).
    case forbidden(String)
    /// Missing or invalid credentials (401).
    case unauthorized(String)
    /// A dependency is down or the feature is switched off (503).
    case unavailable(String)
}
