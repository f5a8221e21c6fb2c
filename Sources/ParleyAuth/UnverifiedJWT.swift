import Foundation

#if canImport(ParleyCore)  // Fuzz/JWTSegments builds this file with JSONValue in its own module
import ParleyCore
#endif

/// A compact JWS split and decoded, not verified: what the verifier reads before it knows which
/// key to check the signature with. Nothing here is trusted until the signature is.
///
/// Plain Foundation, so the fuzzer runs this very code on arbitrary tokens.
struct UnverifiedJWT: Sendable {
    /// Longer tokens are refused before any parsing.
    static let maxLength = 16 * 1024
    /// Longest `kid` accepted (it becomes a lookup key and a log field).
    static let maxKeyIDLength = 256

    let header: [String: JSONValue]
    let claims: [String: JSONValue]

    init(_ token: String) throws(AuthError) {
        guard !token.isEmpty, token.utf8.count <= Self.maxLength else { throw AuthError("token missing or too long") }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[2].isEmpty else { throw AuthError("not a signed JWT") }
        guard let header = Self.object(parts[0]), let claims = Self.object(parts[1]) else { throw AuthError("malformed token") }
        self.header = header
        self.claims = claims
    }

    /// `alg` from the header.
    var algorithm: String? { header["alg"]?.stringValue }

    /// `kid` from the header, when it is one a key set could hold (not empty, not huge).
    var keyID: String? {
        guard let kid = header["kid"]?.stringValue, !kid.isEmpty, kid.utf8.count <= Self.maxKeyIDLength else { return nil }
        return kid
    }

    /// `iss` from the claims: which issuer's keys and policy to use.
    var issuer: String? { claims["iss"]?.stringValue }

    /// A segment that is base64url of a JSON object.
    private static func object(_ segment: Substring) -> [String: JSONValue]? {
        guard let data = Base64URL.decode(segment) else { return nil }
        return try? JSONDecoder().decode([String: JSONValue].self, from: data)
    }
}
