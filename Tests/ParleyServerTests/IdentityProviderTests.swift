import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import ParleyAuth
import ParleyCore
import ParleyServer
import Testing

/// Every route behind authentication, with a body where it needs one.
let authenticatedRoutes: [(HTTPRequest.Method, String, String?)] = [
    (.get, "/api/v1/tasks", nil),
    (.post, "/api/v1/tasks", #"{"title": "forged"}"#),
    (.get, "/api/v1/tasks/1", nil),
    (.patch, "/api/v1/tasks/1", #"{"title": "forged"}"#),
    (.delete, "/api/v1/tasks/1", nil),
    (.post, "/api/v1/chat", #"{"message": "add a task to forge"}"#),
    (.get, "/api/v1/chat/history", nil),
    (.post, "/api/v1/chat/feedback", #"{"message_id": 2, "rating": "down"}"#),
    (.get, "/api/v1/conversations", nil),
    (.delete, "/api/v1/conversations/1", nil),
    (.post, "/api/alice/chat", #"{"message": "add a task to forge"}"#),
    (.get, "/api/v1/admin/tenants", nil),
    (.post, "/api/v1/admin/tenants", #"{"id": "forged"}"#),
    (.get, "/api/v1/admin/audit", nil),
    (.get, "/api/v1/admin/flags", nil),
    (.patch, "/api/v1/admin/flags", #"{"chatbot.enabled": false}"#),
    (.get, "/api/v1/admin/flags/global", nil),
    (.patch, "/api/v1/admin/flags/global", #"{"chatbot.enabled": false}"#),
    (.get, "/api/v1/admin/feedback", nil),
]

@Suite("Identity providers")
struct IdentityProviderTests {
    func parley(with idp: TestIdentityProvider, refetchInterval: Duration = .seconds(1)) -> TestParley {
        var parley = TestParley()
        parley.configuration.issuers = idp.configurations(refetchInterval: refetchInterval)
        return parley
    }

    @Test func keycloakBetterAuthAndOIDCTokensAreAcceptedWithTheirRoles() async throws {
        let idp = try await TestIdentityProvider.start()
        let parley = parley(with: idp)
        try await parley.run { client in
            for kind in TestIdentityProvider.Kind.allCases {
                let user = try idp.token(kind, user: "user-\(kind)")
                let created = try await client.send(.post, "/api/v1/tasks", token: user, json: #"{"title": "from \#(kind)"}"#)
                #expect(created.status == .created, "\(kind): \(created.text)")
                // A user is not an admin, under any provider's role claims.
                try await client.send(.get, "/api/v1/admin/tenants", token: user).expectProblem(.forbidden)
                let admin = try idp.token(kind, user: "admin-\(kind)", roles: ["admin"])
                #expect(try await client.send(.get, "/api/v1/admin/tenants", token: admin).status == .ok, "\(kind)")
            }
            // Keycloak client roles count too.
            var claims = idp.claims(.keycloak, user: "client-admin", tenants: ["acme"])
            claims["resource_access"] = .object([TestIdentityProvider.keycloakClient: ["roles": ["admin"]]])
            let clientAdmin = try idp.sign(claims, with: idp.key(.keycloak))
            #expect(try await client.send(.get, "/api/v1/admin/tenants", token: clientAdmin).status == .ok)
            // …but roles of another client do not.
            claims["resource_access"] = ["other-app": ["roles": ["admin"]]]
            let otherClient = try idp.sign(claims, with: idp.key(.keycloak))
            try await client.send(.get, "/api/v1/admin/tenants", token: otherClient).expectProblem(.forbidden)
            // Each user sees only their own task.
            let mine = try await client.send(.get, "/api/v1/tasks", token: try idp.token(.betterAuth, user: "user-betterAuth"))
            #expect(try mine.json["tasks"]?.arrayValue?.map { $0["title"]?.stringValue } == ["from betterAuth"])
        }
        await idp.stop()
    }

    /// Every refused token of the issue, at every authenticated route: 401, nothing changed,
    /// and each refusal in the system audit log.
    @Test func forgedExpiredAndMisaddressedTokensAreRefusedEverywhere() async throws {
        let idp = try await TestIdentityProvider.start()
        let parley = parley(with: idp)
        let keycloak = idp.key(.keycloak)
        let good = try idp.token(.keycloak, user: "alice")
        let parts = good.split(separator: ".").map(String.init)
        let now = Date().timeIntervalSince1970
        func forge(_ change: (inout [String: JSONValue]) -> Void) throws -> String {
            var claims = idp.claims(.keycloak, user: "alice", tenants: ["acme"])
            change(&claims)
            return try idp.sign(claims, with: keycloak)
        }
        let noneHeader = try TestIdentityProvider.segment(["alg": "none", "typ": "JWT", "kid": .string(keycloak.kid)])
        let hsHeader = try TestIdentityProvider.segment(["alg": "HS256", "typ": "JWT", "kid": .string(keycloak.kid)])
        let hsSignature = base64URL(
            Data(HMAC<SHA256>.authenticationCode(for: Data("\(hsHeader).\(parts[1])".utf8), using: SymmetricKey(data: Data(keycloak.publicPEM!.utf8)))))
        let impostor = try TestIdentityProvider.SigningKey.rsa(kid: keycloak.kid)
        let stranger = try TestIdentityProvider.SigningKey.rsa(kid: "never-published")

        let refused: [(String, String?)] = [
            ("no token", nil),
            ("garbage", "garbage"),
            ("empty", ""),
            // Over the verifier's 16 KiB (70 KB never gets that far: see below).
            ("20 KB", String(repeating: "A", count: 20_000)),
            ("alg none", "\(noneHeader).\(parts[1])."),
            ("HS256 signed with the RSA public key", "\(hsHeader).\(parts[1]).\(hsSignature)"),
            ("tampered payload", "\(parts[0]).\(try TestIdentityProvider.segment(idp.claims(.keycloak, user: "mallory", tenants: ["acme"], roles: ["admin"]))).\(parts[2])"),
            ("bad signature", "\(parts[0]).\(parts[1]).\(String(parts[2].reversed()))"),
            ("unknown signer reusing a known kid", try idp.sign(idp.claims(.keycloak, user: "alice", tenants: ["acme"]), with: impostor)),
            ("unknown kid", try idp.sign(idp.claims(.keycloak, user: "alice", tenants: ["acme"]), with: stranger)),
            ("expired", try forge { $0["exp"] = .number(now - 3600) }),
            ("not yet valid", try forge { $0["nbf"] = .number(now + 3600) }),
            ("wrong audience", try forge { $0["aud"] = "someone-else" }),
            ("wrong issuer", try forge { $0["iss"] = .string(idp.baseURL + "/realms/evil") }),
            ("missing exp", try forge { $0["exp"] = nil }),
            ("a Keycloak ID token", try forge { $0["typ"] = "ID" }),
        ]
        let admin = try await parley.token("root", admin: true)
        try await parley.run { client in
            let seeded = try await client.send(.post, "/api/v1/tasks", token: good, json: #"{"title": "real"}"#)
            #expect(seeded.status == .created, "\(seeded.text)")
            var refusals = 0
            for (reason, token) in refused {
                for (method, path, body) in authenticatedRoutes {
                    let headers: HTTPFields = token.map { [.authorization: "Bearer \($0)"] } ?? [:]
                    let response = try await client.send(method, path, token: nil, json: body, headers: headers)
                    try response.expectProblem(.unauthorized)
                    #expect(response.status == .unauthorized, "\(reason) at \(method) \(path)")
                    refusals += 1
                }
            }
            #expect(refusals == refused.count * authenticatedRoutes.count)

            // 70 KB of headers never reach a route (nor the audit log): the HTTP layer answers 400 and hangs up.
            let oversized = try RawConnection(port: try #require(client.port))
            await oversized.send("GET /api/v1/tasks HTTP/1.1\r\nHost: parley\r\nAuthorization: Bearer \(String(repeating: "A", count: 70_000))\r\n\r\n")
            // (Whether the 400 arrives before the reset depends on how much of the request was read.)
            let answer = await oversized.read(until: "\r\n\r\n", within: 5)
            #expect(answer.isEmpty || answer.hasPrefix("HTTP/1.1 400"), "\(answer.prefix(200))")
            #expect(await oversized.awaitClose(within: 5), "the server neither answered nor hung up")

            // Nothing changed: alice's one task, no conversations, no tenant "forged", flags intact.
            let tasks = try await client.send(.get, "/api/v1/tasks", token: good).json["tasks"]?.arrayValue
            #expect(tasks?.map { $0["title"]?.stringValue } == ["real"])
            #expect(try await client.send(.get, "/api/v1/conversations", token: good).json["conversations"] == [])
            let tenants = try await client.send(.get, "/api/v1/admin/tenants", token: admin).json["tenants"]?.arrayValue
            #expect(tenants?.contains { $0["id"]?.stringValue == "forged" } == false)
            let flags = try await client.send(.get, "/api/v1/admin/flags/global", token: admin).json
            #expect(flags["effective"]?["chatbot.enabled"] == true)

            // Every refusal is in the system audit log, with its reason.
            let events = try await client.auditEvents(token: admin, query: "log=system&action=auth.token") { events in
                events.count >= refusals
            }
            #expect(events.count == refusals)
            #expect(events.allSatisfy { $0["outcome"]?.stringValue == "denied" && $0["actor"]?.stringValue == "anonymous" })
            let reasons = Set(events.compactMap { $0["detail"]?.stringValue })
            for reason in ["expired", "wrong audience", "unknown key id", "bad signature", "algorithm not allowed", "missing exp", "token type must be Bearer"] {
                #expect(reasons.contains(reason), "\(reason) in \(reasons)")
            }
        }
        await idp.stop()
    }

    @Test func keysRotateWithoutARestartAndUnknownKidsCannotHammerTheProvider() async throws {
        let idp = try await TestIdentityProvider.start()
        // Long enough that the flood below fits in one interval even on a loaded machine.
        let interval = Duration.seconds(15)
        let parley = parley(with: idp, refetchInterval: interval)
        try await parley.run { client in
            let before = try idp.token(.keycloak, user: "alice")
            #expect(try await client.send(.get, "/api/v1/tasks", token: before).status == .ok)
            let fetchesAtStart = idp.fetches(.keycloak)
            #expect(fetchesAtStart == 1)

            // Forged tokens with random kids, made before the clock below starts.
            let stranger = try TestIdentityProvider.SigningKey.rsa(kid: "stranger")
            let flood = try (0..<50).map { index in
                try idp.sign(idp.claims(.keycloak, user: "alice", tenants: ["acme"]), with: stranger.renamed("random-\(index)"))
            }

            // One bogus token spends a refetch just before the provider rotates its key ...
            let budgetStarted = ContinuousClock.now
            try await client.send(.get, "/api/v1/tasks", token: flood[0]).expectProblem(.unauthorized)
            #expect(idp.fetches(.keycloak) == fetchesAtStart + 1)
            // ... and the new kid is still picked up at once, with the next refetch of the budget.
            try idp.rotate(.keycloak)
            let after = try idp.token(.keycloak, user: "alice")
            #expect(try await client.send(.get, "/api/v1/tasks", token: after).status == .ok)
            #expect(idp.fetches(.keycloak) == fetchesAtStart + 2)
            // The retired key is gone with the refetch.
            try await client.send(.get, "/api/v1/tasks", token: before).expectProblem(.unauthorized)

            // A flood of random kids right after: refused, and it spends the rest of the budget only.
            for token in flood.dropFirst() {
                try await client.send(.get, "/api/v1/tasks", token: token).expectProblem(.unauthorized)
            }
            #expect(ContinuousClock.now - budgetStarted < interval, "the flood outlasted the interval")
            #expect(idp.fetches(.keycloak) == fetchesAtStart + 3)
            // Known keys kept working throughout.
            #expect(try await client.send(.get, "/api/v1/tasks", token: after).status == .ok)

            // Once the interval has passed since the first of those refetches, an unknown kid may
            // refetch again.
            // With a margin: on a loaded machine the first refetch came a moment after `budgetStarted`.
            try await Task.sleep(until: budgetStarted + interval + .milliseconds(1_500))
            let lateToken = try idp.sign(idp.claims(.keycloak, user: "alice", tenants: ["acme"]), with: stranger.renamed("late"))
            try await client.send(.get, "/api/v1/tasks", token: lateToken).expectProblem(.unauthorized)
            #expect(idp.fetches(.keycloak) == fetchesAtStart + 4)
        }
        await idp.stop()
    }

    @Test func anUnreachableProviderDoesNotStopTokensWhoseKeyIsCached() async throws {
        let idp = try await TestIdentityProvider.start()
        let parley = parley(with: idp)
        let keycloak = try idp.token(.keycloak, user: "alice")
        let oidc = try idp.token(.oidc, user: "bob")
        try await parley.run { client in
            #expect(try await client.send(.get, "/api/v1/tasks", token: keycloak).status == .ok)
            await idp.stop()
            // Cached keys (discovery included) keep verifying.
            #expect(try await client.send(.get, "/api/v1/tasks", token: keycloak).status == .ok)
            #expect(try await client.send(.get, "/api/v1/tasks", token: oidc).status == .ok)
            // A kid we never saw is refused (the refetch fails), not a 500.
            let stranger = try TestIdentityProvider.SigningKey.rsa(kid: "while-down")
            let token = try idp.sign(idp.claims(.keycloak, user: "alice", tenants: ["acme"]), with: stranger)
            try await client.send(.get, "/api/v1/tasks", token: token).expectProblem(.unauthorized)
            #expect(try await client.send(.get, "/api/v1/tasks", token: keycloak).status == .ok)
        }
    }

    @Test func aProviderDownAtStartIsRetriedOnDemand() async throws {
        let idp = try await TestIdentityProvider.start()
        var parley = parley(with: idp)
        // An issuer that is not there yet: Parley starts anyway and refuses its tokens.
        var missing = IssuerConfiguration(name: "late", preset: .keycloak, issuer: "http://127.0.0.1:9/realms/x", audience: "a")
        missing.refetchInterval = .seconds(1)
        parley.configuration.issuers.append(missing)
        try await parley.run { client in
            let working = try await client.send(.get, "/api/v1/tasks", token: try idp.token(.betterAuth, user: "carol"))
            #expect(working.status == .ok)
            var claims = idp.claims(.keycloak, user: "dan", tenants: ["acme"])
            claims["iss"] = "http://127.0.0.1:9/realms/x"
            claims["aud"] = "a"
            let unverifiable = try idp.sign(claims, with: idp.key(.keycloak))
            try await client.send(.get, "/api/v1/tasks", token: unverifiable).expectProblem(.unauthorized)
        }
        await idp.stop()
    }
}

@Suite("Issuer configuration")
struct IssuerConfigurationTests {
    @Test func presetsFillInKeysRolesAndAlgorithms() throws {
        let keycloak = try IssuerConfiguration(name: "kc", preset: .keycloak, issuer: "https://id.example.com/realms/acme", audience: "parley")
            .resolved()
        #expect(keycloak.keys == .jwks(URL(string: "https://id.example.com/realms/acme/protocol/openid-connect/certs")!))
        #expect(keycloak.claims.roles == ["realm_access.roles", "resource_access.parley.roles"])
        #expect(keycloak.algorithms == ["RS256"])
        #expect(keycloak.requiredType == "Bearer")

        let betterAuth = try IssuerConfiguration(name: "ba", preset: .betterAuth, issuer: "https://app.example.com").resolved()
        #expect(betterAuth.audience == "https://app.example.com")
        #expect(betterAuth.keys == .jwks(URL(string: "https://app.example.com/api/auth/jwks")!))
        #expect(betterAuth.algorithms == ["EdDSA"])

        let oidc = try IssuerConfiguration(name: "o", issuer: "https://login.example.com/", audience: "parley").resolved()
        #expect(oidc.keys == .discovery(URL(string: "https://login.example.com/.well-known/openid-configuration")!))
        #expect(oidc.issuer == "https://login.example.com/")
    }

    @Test func incompleteIssuersAreRefusedAtStart() {
        #expect(throws: IssuerConfigurationError.self) {
            try IssuerConfiguration(name: "kc", preset: .keycloak, issuer: "https://id.example.com/realms/acme").resolved()
        }
        #expect(throws: IssuerConfigurationError.self) {
            try IssuerConfiguration(name: "x", issuer: "not a url", audience: "a").resolved()
        }
        var weak = IssuerConfiguration(name: "x", issuer: "https://id.example.com", audience: "a")
        weak.algorithms = ["HS256"]
        #expect(throws: IssuerConfigurationError.self) { try weak.resolved() }
    }
}
