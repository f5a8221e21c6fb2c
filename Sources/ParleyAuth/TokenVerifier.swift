import Foundation
import JWTKit
import Logging
import ParleyCore

/// Turns a bearer token into a verified `Principal`, or throws `AuthError`.
public protocol TokenVerifier: Sendable {
    func verify(_ token: String) async throws -> Principal
    /// Whether `token` verified recently and has not expired: `verify` will most likely accept it
    /// without checking a signature. A hint for ordering work, never a verification.
    func verifiedRecently(_ token: String) -> Bool
}

extension TokenVerifier {
    public func verifiedRecently(_ token: String) -> Bool { false }
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

/// An issuer whose tokens we accept: what they must satisfy and where its keys come from.
public struct TrustedIssuer: Sendable {
    public let policy: IssuerPolicy
    let keys: any KeySource
    let remote: RemoteKeySource?

    /// An issuer whose keys are known up front (the development issuer).
    public static func fixed(issuer: String, audience: String, jwks: JWKS, claims: ClaimMapping = ClaimMapping()) async throws
        -> TrustedIssuer
    {
        let policy = IssuerPolicy(
            name: issuer, issuer: issuer, audience: audience, claims: claims,
            algorithms: JWKSTokenVerifier.supportedAlgorithms, requiredType: nil, keys: .embedded,
            refetchInterval: .zero, maxKeyAge: .zero)
        let keys = try await IssuerKeys.make(jwks: jwks, allowed: policy.algorithms)
        return TrustedIssuer(policy: policy, keys: FixedKeySource(keys: keys), remote: nil)
    }

    /// An issuer whose keys are fetched from its JWKS (or found through OIDC discovery).
    public static func remote(_ policy: IssuerPolicy, fetcher: any DocumentFetcher = HTTPDocumentFetcher(), logger: Logger)
        -> TrustedIssuer
    {
        let source = RemoteKeySource(policy: policy, fetcher: fetcher, logger: logger)
        return TrustedIssuer(policy: policy, keys: source, remote: source)
    }
}

/// Verifies JWTs against the keys of trusted issuers: the signature with the key named by `kid`
/// (never a default key), an allowed asymmetric algorithm that matches that key, and the `iss`,
/// `aud`, `exp`, `nbf` and `iat` claims with a small clock leeway.
public final class JWKSTokenVerifier: TokenVerifier {
    /// Longer tokens are refused before any parsing.
    public static let maxTokenLength = UnverifiedJWT.maxLength
    public static let leeway: TimeInterval = 60
    /// Asymmetric algorithms only: `none` and HMAC (which a public key could forge) never verify.
    public static let supportedAlgorithms: Set<String> = ["RS256", "ES256", "EdDSA"]

    private let issuers: [String: TrustedIssuer]
    let verified: VerifiedTokenCache

    public init(trusting trusted: [TrustedIssuer]) {
        issuers = Dictionary(trusted.map { ($0.policy.issuer, $0) }, uniquingKeysWith: { first, _ in first })
        verified = VerifiedTokenCache()
    }

    /// Fetches the keys of every remote issuer once; an unreachable issuer is retried on demand.
    public func preload() async {
        await withTaskGroup(of: Void.self) { group in
            for issuer in issuers.values {
                if let remote = issuer.remote { group.addTask { await remote.preload() } }
            }
        }
    }

    public func verifiedRecently(_ token: String) -> Bool {
        guard !token.isEmpty, token.utf8.count <= Self.maxTokenLength else { return false }
        return verified.entry(for: VerifiedTokenCache.key(token), now: Date(), leeway: Self.leeway) != nil
    }

    public func verify(_ token: String) async throws -> Principal {
        guard !token.isEmpty, token.utf8.count <= Self.maxTokenLength else { throw AuthError("token missing or too long") }
        let key = VerifiedTokenCache.key(token)
        let now = Date()
        if let hit = verified.entry(for: key, now: now, leeway: Self.leeway) {
            // Still signed by one of the issuer's keys (a cheap lookup for a known kid).
            if let issuer = issuers[hit.principal.issuer], await issuer.keys.keys(for: hit.kid)?.algorithms[hit.kid] != nil {
                return hit.principal
            }
            verified.remove(key)
        }
        let (principal, kid, expires) = try await verifyAnew(token, now: now)
        verified.insert(principal, kid: kid, for: key, expires: expires)
        return principal
    }

    /// Every check, from the token's text: its principal, its key id and when it expires.
    private func verifyAnew(_ token: String, now: Date) async throws -> (Principal, String, Date) {
        let unverified = try UnverifiedJWT(token)
        guard let algorithm = unverified.algorithm, Self.supportedAlgorithms.contains(algorithm) else {
            throw AuthError("algorithm not allowed")
        }
        guard let issuerName = unverified.issuer, let issuer = issuers[issuerName] else {
            throw AuthError("untrusted issuer")
        }
        let policy = issuer.policy
        guard policy.algorithms.contains(algorithm) else { throw AuthError("algorithm not allowed for this issuer") }
        guard let kid = unverified.keyID else { throw AuthError("missing key id") }
        guard let keys = await issuer.keys.keys(for: kid), let keyAlgorithm = keys.algorithms[kid] else {
            throw AuthError("unknown key id")
        }
        guard keyAlgorithm == algorithm else { throw AuthError("algorithm does not match the key") }

        let claims: TokenClaims
        do {
            claims = try await keys.collection.verify(token, as: TokenClaims.self)
        } catch {
            throw AuthError("bad signature")
        }
        try Self.checkTimes(claims, now: now)
        guard claims.strings("aud").contains(policy.audience) else { throw AuthError("wrong audience") }
        guard claims["iss"]?.stringValue == policy.issuer else { throw AuthError("wrong issuer") }
        if let requiredType = policy.requiredType, claims["typ"]?.stringValue != requiredType {
            throw AuthError("token type must be \(requiredType)")
        }
        guard let subject = claims["sub"]?.stringValue, let user = UserID(subject) else {
            throw AuthError("missing or invalid subject")
        }
        let tenants = claims.strings(policy.claims.tenant).compactMap(TenantID.init)
        var roles: Set<Principal.Role> = [.user]
        for path in policy.claims.roles where claims.strings(path).contains("admin") {
            roles.insert(.admin)
        }
        // checkTimes made sure there is an `exp`.
        return (Principal(user: user, tenants: tenants, roles: roles, issuer: policy.issuer), kid, claims.date("exp") ?? now)
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
