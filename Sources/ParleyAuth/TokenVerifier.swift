import Foundation
import JWTKit
import ParleyCore

/// Turns a bearer token into a verified `Principal`, or throws `AuthError`.
public protocol TokenVerifier: Sendable {
    func verify(_ token: String) async throws -> Principal
}

/// Where in a token the tenant and the roles are.
public struct ClaimMapping: Sendable, Hashable {
    /// Claim (dotted path) holding the tenant id or ids.
    public var tenant: String
    /// Claims (dotted paths) holding role names; "admin" grants the admin role.
    public var roles: [String]

    public init(tenant: String = "tenant", roles: [String] = ["roles"]) {
        self.tenant = tenant
        self.roles = roles
    }
}

/// An issuer whose tokens we accept, with its public keys.
public struct TrustedIssuer: Sendable {
    public var issuer: String
    public var audience: String
    public var jwks: JWKS
    public var claims: ClaimMapping

    public init(issuer: String, audience: String, jwks: JWKS, claims: ClaimMapping = ClaimMapping()) {
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwks
        self.claims = claims
    }
}

/// Verifies JWTs against the JWKS of trusted issuers: the signature with the key named by
/// `kid` (never a default key), an allowed asymmetric algorithm that matches that key, and the
/// `iss`, `aud`, `exp`, `nbf` and `iat` claims with a small clock leeway.
public final class JWKSTokenVerifier: TokenVerifier {
    /// Longer tokens are refused before any parsing.
    public static let maxTokenLength = 16 * 1024
    public static let leeway: TimeInterval = 60
    static let allowedAlgorithms: Set<String> = ["RS256", "ES256", "EdDSA"]

    struct Issuer: Sendable {
        let trust: TrustedIssuer
        let keys: JWTKeyCollection
        /// kid → the algorithm its key is for.
        let algorithms: [String: String]
    }

    private let issuers: [String: Issuer]

    private init(issuers: [String: Issuer]) {
        self.issuers = issuers
    }

    public static func make(trusting trusted: [TrustedIssuer]) async throws -> JWKSTokenVerifier {
        var issuers: [String: Issuer] = [:]
        for trust in trusted {
            let keys = JWTKeyCollection()
            var algorithms: [String: String] = [:]
            for jwk in trust.jwks.keys {
                guard let kid = jwk.keyIdentifier?.string, let algorithm = Self.algorithm(of: jwk) else { continue }
                try await keys.add(jwk: jwk)
                algorithms[kid] = algorithm
            }
            issuers[trust.issuer] = Issuer(trust: trust, keys: keys, algorithms: algorithms)
        }
        return JWKSTokenVerifier(issuers: issuers)
    }

    /// The one algorithm a key may verify: its declared `alg`, else what its type implies.
    static func algorithm(of jwk: JWK) -> String? {
        if let declared = jwk.algorithm?.rawValue { return allowedAlgorithms.contains(declared) ? declared : nil }
        switch jwk.keyType {
        case .rsa: return "RS256"
        case .ecdsa: return jwk.curve?.rawValue == "P-256" ? "ES256" : nil
        case .octetKeyPair: return jwk.curve?.rawValue == "Ed25519" ? "EdDSA" : nil
        default: return nil
        }
    }

    public func verify(_ token: String) async throws -> Principal {
        guard !token.isEmpty, token.utf8.count <= Self.maxTokenLength else { throw AuthError("token missing or too long") }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[2].isEmpty else { throw AuthError("not a signed JWT") }
        guard let headerData = Base64URL.decode(parts[0]),
            let header = try? JSONDecoder().decode([String: JSONValue].self, from: headerData),
            let payloadData = Base64URL.decode(parts[1]),
            let unverified = try? JSONDecoder().decode([String: JSONValue].self, from: payloadData)
        else { throw AuthError("malformed token") }

        guard let algorithm = header["alg"]?.stringValue, Self.allowedAlgorithms.contains(algorithm) else {
            throw AuthError("algorithm not allowed")
        }
        guard let issuerName = unverified["iss"]?.stringValue, let issuer = issuers[issuerName] else {
            throw AuthError("untrusted issuer")
        }
        guard let kid = header["kid"]?.stringValue, let keyAlgorithm = issuer.algorithms[kid] else {
            throw AuthError("unknown key id")
        }
        guard keyAlgorithm == algorithm else { throw AuthError("algorithm does not match the key") }

        let claims: TokenClaims
        do {
            claims = try await issuer.keys.verify(token, as: TokenClaims.self)
        } catch {
            throw AuthError("bad signature")
        }
        try Self.checkTimes(claims, now: Date())
        guard claims.strings("aud").contains(issuer.trust.audience) else { throw AuthError("wrong audience") }
        guard claims["iss"]?.stringValue == issuer.trust.issuer else { throw AuthError("wrong issuer") }
        guard let subject = claims["sub"]?.stringValue, let user = UserID(subject) else {
            throw AuthError("missing or invalid subject")
        }
        let tenants = claims.strings(issuer.trust.claims.tenant).compactMap(TenantID.init)
        var roles: Set<Principal.Role> = [.user]
        for path in issuer.trust.claims.roles where claims.strings(path).contains("admin") {
            roles.insert(.admin)
        }
        return Principal(user: user, tenants: tenants, roles: roles, issuer: issuer.trust.issuer)
    }

    static func checkTimes(_ claims: TokenClaims, now: Date) throws {
        guard let expires = claims.date("exp") else { throw AuthError("missing exp") }
        guard expires.addingTimeInterval(leeway) > now else { throw AuthError("expired") }
        if let notBefore = claims.date("nbf"), notBefore.addingTimeInterval(-leeway) > now {
            throw AuthError("not yet valid")
        }
        if let issuedAt = claims.date("iat"), issuedAt.addingTimeInterval(-leeway) > now {
            throw AuthError("issued in the future")
        }
    }
}
