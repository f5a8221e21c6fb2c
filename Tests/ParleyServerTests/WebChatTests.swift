import Foundation
import HTTPTypes
import HummingbirdTesting
import ParleyAuth
import ParleyCore
import ParleyServer
import Testing

@Suite("Web chat")
struct WebChatTests {
    @Test func servesItsFilesWithAStrictPolicyAndRevalidation() async throws {
        try await TestParley().run { client in
            let page = try await client.send(.get, "/", token: nil)
            #expect(page.status == .ok)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(page.text.contains(#"<script src="/app.js" defer></script>"#))
            let policy = try #require(page.headers[.contentSecurityPolicy])
            #expect(policy.contains("default-src 'none'") && policy.contains("script-src 'self'") && policy.contains("connect-src 'self'"))
            #expect(policy.contains("require-trusted-types-for 'script'"))
            #expect(!page.text.contains("http://") && !page.text.contains("https://"), "no external URLs")
            #expect(page.headers[.cacheControl] == "no-cache")

            let script = try await client.send(.get, "/app.js", token: nil)
            #expect(script.headers[.contentType] == "text/javascript; charset=utf-8")
            #expect(!script.text.contains("innerHTML"))
            let etag = try #require(script.headers[.eTag])
            let again = try await client.send(.get, "/app.js", token: nil, headers: [.ifNoneMatch: etag])
            #expect(again.status == .notModified)
            // A list of tags, a weak one, or `*` match too (RFC 9110); another tag does not.
            for header in [#""other", \#(etag)"#, "W/\(etag)", "*"] {
                #expect(try await client.send(.get, "/app.js", token: nil, headers: [.ifNoneMatch: header]).status == .notModified, "\(header)")
            }
            #expect(try await client.send(.get, "/app.js", token: nil, headers: [.ifNoneMatch: #""other""#]).status == .ok)
            #expect(try await client.send(.get, "/app.css", token: nil).headers[.contentType] == "text/css; charset=utf-8")
        }
    }

    @Test func devSignInMintsATokenForThisMachineOnly() async throws {
        try await TestParley().run { client in
            #expect(try await client.send(.get, "/ui/config.json", token: nil).json["dev_auth"] == true)
            let minted = try await client.send(.post, "/ui/dev-token", token: nil, json: #"{"user": "alice", "tenant": "acme"}"#)
            #expect(minted.status == .ok)
            let token = try #require(try minted.json["token"]?.stringValue)
            #expect(try await client.send(.get, "/api/v1/tasks", token: token).status == .ok)
            try await client.send(.post, "/ui/dev-token", token: nil, json: #"{"user": "al ice", "tenant": "acme"}"#)
                .expectProblem(.unprocessableContent, field: "user")
            try await client.send(.post, "/ui/dev-token", token: nil, json: #"{"user": "alice", "tenant": "Acme!"}"#)
                .expectProblem(.unprocessableContent, field: "tenant")
            try await client.send(.post, "/ui/dev-token", token: nil, json: #"{"user": "alice"}"#).expectProblem(.badRequest)
        }
        var production = TestParley()
        production.devAuth = false
        try await production.run { client in
            #expect(try await client.send(.get, "/ui/config.json", token: nil).json["dev_auth"] == false)
            try await client.send(.post, "/ui/dev-token", token: nil, json: #"{"user": "alice", "tenant": "acme"}"#).expectProblem(.notFound)
        }
    }

    @Test func withAnIdentityProviderThePageSignsInThereAndMayTalkToIt() async throws {
        var parley = TestParley()
        parley.devAuth = false
        parley.configuration.issuers = [IssuerConfiguration(name: "oidc", preset: .oidc, issuer: "https://sso.example.com/realms/acme", audience: "parley")]
        parley.configuration.webClientID = "parley-web"
        try await parley.run { client in
            let config = try await client.send(.get, "/ui/config.json", token: nil).json
            #expect(config["dev_auth"] == false)
            #expect(config["oidc"] == ["issuer": "https://sso.example.com/realms/acme", "client_id": "parley-web", "scope": "openid profile"])
            let policy = try await client.send(.get, "/", token: nil).headers[.contentSecurityPolicy] ?? ""
            #expect(policy.contains("connect-src 'self' https://sso.example.com;"))
        }
    }
}
