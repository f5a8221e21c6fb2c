import Crypto
import Foundation
import Hummingbird
import Logging
import NIOCore
import ParleyAuth
import ParleyCore
import ServiceLifecycle
import Synchronization
import _CryptoExtras

/// A real identity provider on loopback, inside the test process: OIDC discovery and JWKS over
/// HTTP, keys generated per run, and tokens shaped like Keycloak's (RS256, realm/client roles,
/// `typ`), Better Auth's (EdDSA, `iss` = `aud` = the base URL) and a generic OIDC provider's
/// (ES256, found through discovery). It counts key fetches and can rotate keys or go away.
final class TestIdentityProvider: Sendable {
    enum Kind: Sendable, CaseIterable {
        case keycloak
        case betterAuth
        case oidc
    }

    /// A private key with its `kid` and algorithm.
    struct SigningKey: Sendable {
        let kid: String
        let algorithm: String
        let sign: @Sendable (Data) throws -> Data
        let jwk: [String: JSONValue]
        /// The RSA public key in PEM, the "secret" of an HS256 confusion attack.
        let publicPEM: String?

        /// The same private key under another `kid` (cheap forgeries without new RSA keys).
        func renamed(_ kid: String) -> SigningKey {
            var jwk = self.jwk
            jwk["kid"] = .string(kid)
            return SigningKey(kid: kid, algorithm: algorithm, sign: sign, jwk: jwk, publicPEM: publicPEM)
        }

        static func rsa(kid: String) throws -> SigningKey {
            let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            let primitives = try key.publicKey.getKeyPrimitives()
            return SigningKey(
                kid: kid, algorithm: "RS256",
                sign: { data in try key.signature(for: data, padding: .insecurePKCS1v1_5).rawRepresentation },
                jwk: [
                    "kty": "RSA", "kid": .string(kid), "use": "sig", "alg": "RS256",
                    "n": .string(base64URL(primitives.modulus)), "e": .string(base64URL(primitives.publicExponent)),
                ],
                publicPEM: key.publicKey.pemRepresentation)
        }

        static func ed25519(kid: String) -> SigningKey {
            let key = Curve25519.Signing.PrivateKey()
            return SigningKey(
                kid: kid, algorithm: "EdDSA", sign: { data in try key.signature(for: data) },
                jwk: [
                    "kty": "OKP", "crv": "Ed25519", "kid": .string(kid), "alg": "EdDSA",
                    "x": .string(base64URL(key.publicKey.rawRepresentation)),
                ],
                publicPEM: nil)
        }

        static func p256(kid: String) -> SigningKey {
            let key = P256.Signing.PrivateKey()
            let point = key.publicKey.x963Representation.dropFirst()  // 0x04 || x || y
            return SigningKey(
                kid: kid, algorithm: "ES256", sign: { data in try key.signature(for: data).rawRepresentation },
                jwk: [
                    "kty": "EC", "crv": "P-256", "kid": .string(kid), "use": "sig",
                    "x": .string(base64URL(Data(point.prefix(32)))), "y": .string(base64URL(Data(point.suffix(32)))),
                ],
                publicPEM: nil)
        }
    }

    private struct State {
        var keys: [Kind: [SigningKey]] = [:]
        var fetches: [String: Int] = [:]
    }

    private let state: SharedMutex<State>
    private let server: LoopbackServer
    var port: Int { server.port }

    var baseURL: String { "http://127.0.0.1:\(port)" }
    /// The client Keycloak tokens are for.
    static let keycloakClient = "parley-api"

    func issuer(_ kind: Kind) -> String {
        switch kind {
        case .keycloak: baseURL + "/realms/acme"
        case .betterAuth: baseURL
        case .oidc: baseURL + "/oidc"
        }
    }

    func audience(_ kind: Kind) -> String {
        switch kind {
        case .keycloak: Self.keycloakClient
        case .betterAuth: baseURL
        case .oidc: "parley"
        }
    }

    /// The issuers as an operator would configure them, with a short refetch interval.
    func configurations(refetchInterval: Duration = .seconds(1)) -> [IssuerConfiguration] {
        var keycloak = IssuerConfiguration(name: "keycloak", preset: .keycloak, issuer: issuer(.keycloak), audience: Self.keycloakClient)
        var betterAuth = IssuerConfiguration(name: "app", preset: .betterAuth, issuer: issuer(.betterAuth))
        var oidc = IssuerConfiguration(name: "oidc", preset: .oidc, issuer: issuer(.oidc), audience: "parley")
        keycloak.refetchInterval = refetchInterval
        betterAuth.refetchInterval = refetchInterval
        oidc.refetchInterval = refetchInterval
        return [keycloak, betterAuth, oidc]
    }

    private init(state: SharedMutex<State>, server: LoopbackServer) {
        self.state = state
        self.server = server
    }

    static func start() async throws -> TestIdentityProvider {
        var keys: [Kind: [SigningKey]] = [:]
        keys[.keycloak] = [try .rsa(kid: "kc-\(UUID().uuidString.prefix(8))")]
        keys[.betterAuth] = [.ed25519(kid: "ba-\(UUID().uuidString.prefix(8))")]
        keys[.oidc] = [.p256(kid: "oidc-\(UUID().uuidString.prefix(8))")]
        let state = SharedMutex(State(keys: keys))

        let router = Router()
        let jwks: @Sendable (Kind, String) -> Response = { kind, path in
            let keys = state.withLock { state -> [SigningKey] in
                state.fetches[path, default: 0] += 1
                return state.keys[kind] ?? []
            }
            return Self.json(["keys": .array(keys.map { .object($0.jwk) })])
        }
        router.get("realms/acme/protocol/openid-connect/certs") { _, _ in jwks(.keycloak, "keycloak") }
        router.get("api/auth/jwks") { _, _ in jwks(.betterAuth, "better-auth") }
        router.get("oidc/jwks") { _, _ in jwks(.oidc, "oidc") }
        router.get("oidc/.well-known/openid-configuration") { request, context in
            let base = "http://\(request.head.authority ?? "127.0.0.1")"
            return Self.json(["issuer": .string(base + "/oidc"), "jwks_uri": .string(base + "/oidc/jwks")])
        }
        let server = try await LoopbackServer.start(router, name: "test-idp")
        return TestIdentityProvider(state: state, server: server)
    }

    /// Stops serving: from now on, every fetch of discovery or keys fails to connect.
    func stop() async {
        await server.stop()
    }

    func key(_ kind: Kind) -> SigningKey {
        state.withLock { $0.keys[kind]!.last! }
    }

    /// Publishes a new key in place of the old one (as a provider does when rotating); returns it.
    @discardableResult
    func rotate(_ kind: Kind) throws -> SigningKey {
        let key: SigningKey
        switch kind {
        case .keycloak: key = try .rsa(kid: "kc-\(UUID().uuidString.prefix(8))")
        case .betterAuth: key = .ed25519(kid: "ba-\(UUID().uuidString.prefix(8))")
        case .oidc: key = .p256(kid: "oidc-\(UUID().uuidString.prefix(8))")
        }
        state.withLock { $0.keys[kind] = [key] }
        return key
    }

    /// How often the key set of `kind` was fetched.
    func fetches(_ kind: Kind) -> Int {
        let path = switch kind {
        case .keycloak: "keycloak"
        case .betterAuth: "better-auth"
        case .oidc: "oidc"
        }
        return state.withLock { $0.fetches[path] ?? 0 }
    }

    /// Claims of a valid access token of `kind` for `user` in `tenants`, with `roles`.
    func claims(_ kind: Kind, user: String, tenants: [String], roles: [String] = []) -> [String: JSONValue] {
        let now = Date().timeIntervalSince1970.rounded(.down)
        var claims: [String: JSONValue] = [
            "iss": .string(issuer(kind)), "sub": .string(user), "iat": .number(now), "exp": .number(now + 600),
            "tenant": tenants.count == 1 ? .string(tenants[0]) : .array(tenants.map { .string($0) }),
        ]
        switch kind {
        case .keycloak:
            // Keycloak: an access token (typ Bearer) for our client; realm roles and client roles.
            claims["typ"] = "Bearer"
            claims["aud"] = .array([.string(Self.keycloakClient), "account"])
            claims["azp"] = .string(Self.keycloakClient)
            claims["realm_access"] = ["roles": .array(["offline_access"] + roles.map { .string($0) })]
            claims["resource_access"] = ["account": ["roles": ["view-profile"]]]
        case .betterAuth:
            // Better Auth: the JWT plugin's payload is the user, `role` from the admin plugin.
            claims["aud"] = .string(baseURL)
            claims["role"] = .string(roles.contains("admin") ? "admin" : "user")
            claims["email"] = .string("\(user)@example.com")
        case .oidc:
            claims["aud"] = "parley"
            claims["roles"] = .array(roles.map { .string($0) })
        }
        return claims
    }

    func token(_ kind: Kind, user: String, tenants: [String] = ["acme"], roles: [String] = []) throws -> String {
        try sign(claims(kind, user: user, tenants: tenants, roles: roles), with: key(kind))
    }

    /// Signs `claims` with `key`, under a header that may be overridden (to forge tokens).
    func sign(_ claims: [String: JSONValue], with key: SigningKey, header overrides: [String: JSONValue] = [:]) throws -> String {
        var header: [String: JSONValue] = ["alg": .string(key.algorithm), "typ": "JWT", "kid": .string(key.kid)]
        for (name, value) in overrides { header[name] = value }
        let input = try Self.segment(header) + "." + Self.segment(claims)
        return input + "." + base64URL(try key.sign(Data(input.utf8)))
    }

    static func segment(_ value: [String: JSONValue]) throws -> String {
        base64URL(try JSONEncoder().encode(value))
    }

    static func json(_ value: JSONValue) -> Response {
        let data = (try? JSONEncoder().encode(value)) ?? Data()
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

func base64URL(_ data: some DataProtocol) -> String {
    Data(data).base64EncodedString()
        .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}
