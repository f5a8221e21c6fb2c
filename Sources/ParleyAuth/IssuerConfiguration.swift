import Foundation

/// How an identity provider shapes its tokens, so that connecting one takes an issuer URL and
/// an audience rather than a page of claim paths.
public enum IssuerPreset: String, Sendable, CaseIterable {
    /// Keycloak: issuer `https://HOST/realms/NAME`, keys at `…/protocol/openid-connect/certs`,
    /// RS256, roles in `realm_access.roles` and `resource_access.<client>.roles`, and only access
    /// tokens (`typ: Bearer`) accepted.
    case keycloak
    /// Better Auth's JWT plugin: EdDSA (Ed25519), keys at `<base URL>/api/auth/jwks`, `iss` and
    /// `aud` both the app's base URL, the role in `role`.
    case betterAuth = "better-auth"
    /// Any OpenID Connect provider: keys found through `/.well-known/openid-configuration`.
    case oidc
}

/// An issuer as an operator configures it; `nil` fields take the preset's default.
public struct IssuerConfiguration: Sendable, Hashable {
    /// A name for logs and configuration keys.
    public var name: String
    public var preset: IssuerPreset
    /// The exact `iss` of its tokens.
    public var issuer: String
    public var audience: String?
    /// Where the keys are; else the preset's path, else OIDC discovery.
    public var jwksURL: String?
    public var tenantClaim: String?
    public var roleClaims: [String]?
    /// Keycloak client whose `resource_access` roles count (default: the audience).
    public var clientID: String?
    public var algorithms: [String]?
    /// Smallest time between two key fetches caused by an unknown `kid`.
    public var refetchInterval: Duration = .seconds(30)
    /// Keys older than this are refreshed in the background (and kept if the refresh fails).
    public var maxKeyAge: Duration = .seconds(3600)

    public init(name: String, preset: IssuerPreset = .oidc, issuer: String, audience: String? = nil) {
        self.name = name
        self.preset = preset
        self.issuer = issuer
        self.audience = audience
    }

    /// The policy with every default filled in, or an error naming what is missing.
    public func resolved() throws -> IssuerPolicy {
        let issuer = self.issuer.trimmingCharacters(in: .whitespaces)
        guard let issuerURL = URL(string: issuer), let scheme = issuerURL.scheme?.lowercased(),
            scheme == "https" || scheme == "http", issuerURL.host != nil
        else { throw IssuerConfigurationError(issuer: name, reason: "issuer must be an http(s) URL, got \"\(issuer)\"") }
        let base = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer

        let audience: String
        switch (self.audience, preset) {
        case (let configured?, _) where !configured.isEmpty: audience = configured
        case (_, .betterAuth): audience = issuer
        default: throw IssuerConfigurationError(issuer: name, reason: "audience is required (the `aud` Parley's tokens carry)")
        }

        let keys: KeyLocation
        if let jwksURL, !jwksURL.isEmpty {
            guard let url = URL(string: jwksURL), url.scheme == "https" || url.scheme == "http" else {
                throw IssuerConfigurationError(issuer: name, reason: "jwksUrl must be an http(s) URL")
            }
            keys = .jwks(url)
        } else {
            switch preset {
            case .keycloak: keys = .jwks(URL(string: base + "/protocol/openid-connect/certs")!)
            case .betterAuth: keys = .jwks(URL(string: base + "/api/auth/jwks")!)
            case .oidc: keys = .discovery(URL(string: base + "/.well-known/openid-configuration")!)
            }
        }

        let roleClaims: [String]
        let defaultAlgorithms: [String]
        switch preset {
        case .keycloak:
            roleClaims = ["realm_access.roles", "resource_access.\(clientID ?? audience).roles"]
            defaultAlgorithms = ["RS256"]
        case .betterAuth:
            roleClaims = ["role", "roles"]
            defaultAlgorithms = ["EdDSA"]
        case .oidc:
            roleClaims = ["roles"]
            defaultAlgorithms = ["RS256", "ES256", "EdDSA"]
        }
        let algorithms = Set(self.algorithms ?? defaultAlgorithms)
        guard !algorithms.isEmpty, algorithms.isSubset(of: JWKSTokenVerifier.supportedAlgorithms) else {
            throw IssuerConfigurationError(issuer: name, reason: "algorithms must be among RS256, ES256, EdDSA")
        }
        return IssuerPolicy(
            name: name, issuer: issuer, audience: audience,
            claims: ClaimMapping(tenant: tenantClaim ?? "tenant", roles: self.roleClaims ?? roleClaims),
            algorithms: algorithms, requiredType: preset == .keycloak ? "Bearer" : nil,
            keys: keys, refetchInterval: refetchInterval, maxKeyAge: maxKeyAge)
    }
}

/// Where an issuer's public keys are published.
public enum KeyLocation: Sendable, Hashable {
    case jwks(URL)
    /// An OpenID configuration document whose `jwks_uri` names the key set.
    case discovery(URL)
    /// Given in configuration (the development issuer).
    case embedded
}

/// What a token of one issuer must satisfy, with every default resolved.
public struct IssuerPolicy: Sendable, Hashable {
    public var name: String
    public var issuer: String
    public var audience: String
    public var claims: ClaimMapping
    public var algorithms: Set<String>
    /// The `typ` claim a token must carry, if any (Keycloak: `Bearer`, which refuses ID tokens).
    public var requiredType: String?
    public var keys: KeyLocation
    public var refetchInterval: Duration
    public var maxKeyAge: Duration
}

public struct IssuerConfigurationError: Error, CustomStringConvertible {
    public let issuer: String
    public let reason: String

    public var description: String { "issuer \(issuer): \(reason)" }
}
