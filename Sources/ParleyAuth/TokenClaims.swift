import Foundation
import JWTKit
import ParleyCore

/// Every claim of a token, kept as JSON so that claim names (tenant, roles, nested Keycloak
/// claims) are a matter of configuration, not of a Swift type per identity provider.
struct TokenClaims: JWTPayload {
    let claims: [String: JSONValue]

    init(claims: [String: JSONValue]) {
        self.claims = claims
    }

    init(from decoder: any Decoder) throws {
        claims = try decoder.singleValueContainer().decode([String: JSONValue].self)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(claims)
    }

    /// Time claims are checked by `JWKSTokenVerifier` with leeway; the signature by jwt-kit.
    func verify(using algorithm: some JWTAlgorithm) async throws {}

    subscript(path: String) -> JSONValue? {
        var value: JSONValue? = .object(claims)
        for component in path.split(separator: ".") { value = value?[String(component)] }
        return value
    }

    /// A claim that may be a string or an array of strings.
    func strings(_ path: String) -> [String] {
        switch self[path] {
        case .string(let value): [value]
        case .array(let values): values.compactMap(\.stringValue)
        default: []
        }
    }

    func date(_ name: String) -> Date? {
        claims[name]?.numberValue.map { Date(timeIntervalSince1970: $0) }
    }
}
