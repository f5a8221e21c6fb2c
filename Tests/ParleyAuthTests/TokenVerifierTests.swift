import Crypto
import Foundation
import JWTKit
import ParleyCore
import Testing

@testable import ParleyAuth

@Suite("Token verification")
struct TokenVerifierTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-auth-\(UUID().uuidString)")

    func issuerAndVerifier() async throws -> (DevelopmentIssuer, JWKSTokenVerifier) {
        let issuer = try DevelopmentIssuer.loadOrCreate(dataDirectory: directory)
        return (issuer, JWKSTokenVerifier(trusting: [try await issuer.trustedIssuer()]))
    }

    func claims(_ overrides: [String: JSONValue] = [:], removing: [String] = []) -> [String: JSONValue] {
        let now = Date().timeIntervalSince1970.rounded(.down)
        var claims: [String: JSONValue] = [
            "iss": "parley-dev", "aud": "parley", "sub": "alice", "tenant": "acme",
            "iat": .number(now), "exp": .number(now + 600),
        ]
        for (key, value) in overrides { claims[key] = value }
        for key in removing { claims[key] = nil }
        return claims
    }

    @Test func acceptsAValidTokenWithTenantsAndRoles() async throws {
        let (issuer, verifier) = try await issuerAndVerifier()
        let token = try await issuer.token(user: UserID("alice")!, tenants: [TenantID("acme")!, TenantID("globex")!], admin: true)
        let principal = try await verifier.verify(token)
        #expect(principal.user.rawValue == "alice")
        #expect(principal.tenants.map(\.rawValue) == ["acme", "globex"])
        #expect(principal.roles == [.user, .admin])

        let single = try await verifier.verify(try await issuer.token(user: UserID("bob")!, tenants: [TenantID("acme")!]))
        #expect(single.tenants.map(\.rawValue) == ["acme"])
        #expect(single.roles == [.user])
    }

    @Test func theKeyIsMadeOnceAndKept() async throws {
        let first = try DevelopmentIssuer.loadOrCreate(dataDirectory: directory)
        let second = try DevelopmentIssuer.loadOrCreate(dataDirectory: directory)
        #expect(first.keyID == second.keyID)
        let attributes = try FileManager.default.attributesOfItem(
            atPath: directory.appendingPathComponent(DevelopmentIssuer.keyFileName).path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    }

    @Test func refusesBadClaims() async throws {
        let (issuer, verifier) = try await issuerAndVerifier()
        let now = Date().timeIntervalSince1970
        let refused: [(String, [String: JSONValue])] = [
            ("expired", claims(["exp": .number(now - 3600)])),
            ("not yet valid", claims(["nbf": .number(now + 3600)])),
            ("issued in the future", claims(["iat": .number(now + 3600)])),
            ("wrong audience", claims(["aud": "someone-else"])),
            ("untrusted issuer", claims(["iss": "https://evil.example"])),
            ("missing exp", claims(removing: ["exp"])),
            ("missing subject", claims(removing: ["sub"])),
        ]
        for (reason, claims) in refused {
            let token = try await issuer.sign(claims)
            await #expect(throws: AuthError.self, "\(reason)") { try await verifier.verify(token) }
        }
        // Within the leeway a slightly expired token still passes.
        _ = try await verifier.verify(try await issuer.sign(claims(["exp": .number(now - 10)])))
    }

    @Test func refusesForgedAndMalformedTokens() async throws {
        let (issuer, verifier) = try await issuerAndVerifier()
        let good = try await issuer.sign(claims())
        let parts = good.split(separator: ".").map(String.init)

        func segment(_ json: [String: JSONValue]) throws -> String {
            Base64URL.encode(try JSONEncoder().encode(json))
        }
        let tamperedPayload = try segment(claims(["sub": "mallory"]))
        let noneHeader = try segment(["alg": "none", "typ": "JWT", "kid": .string(issuer.keyID)])
        let hsHeader = try segment(["alg": "HS256", "typ": "JWT", "kid": .string(issuer.keyID)])
        let hmacKey = SymmetricKey(data: Data(issuer.jwks.keys[0].x!.utf8))
        let hsSignature = Base64URL.encode(
            Data(HMAC<SHA256>.authenticationCode(for: Data("\(hsHeader).\(parts[1])".utf8), using: hmacKey)))
        let otherKeySameKid = try await {
            let keys = JWTKeyCollection()
            await keys.add(eddsa: try EdDSA.PrivateKey(curve: .ed25519), kid: JWKIdentifier(string: issuer.keyID))
            return try await keys.sign(TokenClaims(claims: claims()), kid: JWKIdentifier(string: issuer.keyID))
        }()
        let unknownKid = try await {
            let keys = JWTKeyCollection()
            await keys.add(eddsa: try EdDSA.PrivateKey(curve: .ed25519), kid: "someone-else")
            return try await keys.sign(TokenClaims(claims: claims()), kid: "someone-else")
        }()

        let forged: [(String, String)] = [
            ("empty", ""),
            ("garbage", "not a token"),
            ("two parts", "\(parts[0]).\(parts[1])"),
            ("huge", String(repeating: "a", count: 70_000)),
            ("alg none", "\(noneHeader).\(parts[1])."),
            ("alg none with signature", "\(noneHeader).\(parts[1]).\(parts[2])"),
            ("HS256 with the public key", "\(hsHeader).\(parts[1]).\(hsSignature)"),
            ("tampered payload", "\(parts[0]).\(tamperedPayload).\(parts[2])"),
            ("bad signature", "\(parts[0]).\(parts[1]).\(String(parts[2].reversed()))"),
            ("other key reusing our kid", otherKeySameKid),
            ("unknown kid", unknownKid),
        ]
        for (reason, token) in forged {
            await #expect(throws: AuthError.self, "\(reason)") { try await verifier.verify(token) }
        }
        _ = try await verifier.verify(good)
    }

    @Test func aVerifierWithoutTheDevIssuerTrustsNothing() async throws {
        let (issuer, _) = try await issuerAndVerifier()
        let verifier = JWKSTokenVerifier(trusting: [])
        let token = try await issuer.token(user: UserID("alice")!, tenants: [TenantID("acme")!])
        await #expect(throws: AuthError("untrusted issuer")) { try await verifier.verify(token) }
    }
}

@Suite("Verified-token cache")
struct VerifiedTokenCacheTests {
    let principal = Principal(user: UserID("alice")!, tenants: [TenantID("acme")!], roles: [.user], issuer: "parley-dev")

    @Test func aVerifiedTokenIsRememberedAndATamperedOneIsNot() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-auth-\(UUID().uuidString)")
        let issuer = try DevelopmentIssuer.loadOrCreate(dataDirectory: directory)
        let verifier = JWKSTokenVerifier(trusting: [try await issuer.trustedIssuer()])
        let token = try await issuer.token(user: UserID("alice")!, tenants: [TenantID("acme")!])
        #expect(try await verifier.verify(token).user.rawValue == "alice")
        #expect(verifier.verified.count == 1)
        #expect(try await verifier.verify(token).user.rawValue == "alice")
        #expect(verifier.verified.count == 1)
        // A token that differs in one signature character is a different key, and fails on its own.
        var forged = Array(token)
        forged[forged.count - 2] = forged[forged.count - 2] == "A" ? "B" : "A"
        await #expect(throws: AuthError.self) { try await verifier.verify(String(forged)) }
        #expect(verifier.verified.count == 1)
    }

    @Test func aHitIsHeldToTheTokensExpiryAndToTheMaximumAge() {
        let cache = VerifiedTokenCache(capacity: 10, maxAge: .seconds(60))
        let key = VerifiedTokenCache.key("t1")
        cache.insert(principal, kid: "k1", for: key, expires: Date().addingTimeInterval(120))
        #expect(cache.entry(for: key, now: Date(), leeway: 0)?.principal == principal)
        #expect(cache.entry(for: key, now: Date(), leeway: 0)?.kid == "k1")
        // Once its exp (plus leeway) has passed, the cached token is no longer accepted.
        #expect(cache.entry(for: key, now: Date().addingTimeInterval(200), leeway: 60) == nil)
        #expect(cache.entry(for: key, now: Date(), leeway: 0) == nil)

        let young = VerifiedTokenCache(capacity: 10, maxAge: .zero)
        young.insert(principal, kid: "k1", for: key, expires: Date().addingTimeInterval(120))
        #expect(young.entry(for: key, now: Date(), leeway: 0) == nil)
    }

    @Test func itNeverHoldsMoreThanItsCapacity() {
        let cache = VerifiedTokenCache(capacity: 100, maxAge: .seconds(60))
        for index in 0..<1_000 {
            cache.insert(principal, kid: "k1", for: VerifiedTokenCache.key("token \(index)"), expires: Date().addingTimeInterval(600))
            #expect(cache.count <= 100)
        }
    }
}

@Suite("Token segments")
struct UnverifiedJWTTests {
    @Test func base64URLHasOneSpellingPerValue() {
        #expect(Base64URL.decode("QQ") == Data("A".utf8))
        #expect(Base64URL.decode("-_8") == Data([0xFB, 0xFF]))
        for refused in ["QR", "QQ==", "Q", "+/8", "QQ\n", "Q Q", "QQ=", "é"] {
            #expect(Base64URL.decode(refused) == nil, "\(refused)")
        }
    }

    @Test func readsTheHeaderAndClaimsBeforeAnyKey() throws {
        let header = Base64URL.encode(Data(#"{"alg":"EdDSA","kid":"k1"}"#.utf8))
        let claims = Base64URL.encode(Data(#"{"iss":"https://idp.example","sub":"alice"}"#.utf8))
        let jwt = try UnverifiedJWT("\(header).\(claims).c2ln")
        #expect(jwt.algorithm == "EdDSA" && jwt.keyID == "k1" && jwt.issuer == "https://idp.example")

        let longKid = Base64URL.encode(Data(#"{"alg":"EdDSA","kid":"\#(String(repeating: "k", count: 257))"}"#.utf8))
        #expect(try UnverifiedJWT("\(longKid).\(claims).c2ln").keyID == nil)
        for malformed in ["\(header).\(claims).", "\(header)=.\(claims).c2ln", "\(header).W10.c2ln", "\(header).\(claims)", "a.b.c.d"] {
            #expect(throws: AuthError.self, "\(malformed)") { try UnverifiedJWT(malformed) }
        }
    }
}
