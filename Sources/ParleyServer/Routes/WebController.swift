import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ParleyAuth
import ParleyCore

/// The web chat's files (`index.html`, `app.js`, `app.css`), read once at start: from `web.dir`
/// when set (edit and reload, no rebuild), else from the resources built into Parley.
struct WebAssets: Sendable {
    struct Asset: Sendable {
        let body: ByteBuffer
        let contentType: String
        let etag: String
    }

    static let files = ["index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"]

    let assets: [String: Asset]

    /// Empty (and `/` answers 404) when no directory holds the files: a binary copied without its resource bundle.
    static func load(directory configured: String?, logger: Logger) -> WebAssets {
        let candidates: [URL] =
            if let configured { [URL(fileURLWithPath: configured, isDirectory: true)] } else { ServerResources.candidates("Web") }
        for directory in candidates {
            var assets: [String: Asset] = [:]
            for (name, type) in files {
                guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path) else { break }
                let digest = SHA256.hash(data: data).prefix(12).map { String(format: "%02x", $0) }.joined()
                assets[name] = Asset(body: ByteBuffer(bytes: data), contentType: type, etag: "\"\(digest)\"")
            }
            if assets.count == files.count { return WebAssets(assets: assets) }
        }
        logger.warning("the web chat's files were not found; / answers 404", metadata: ["looked_in": "\(candidates.map(\.path))"])
        return WebAssets(assets: [:])
    }
}

/// `/`: the web chat, with a Content-Security-Policy that lets it load only its own files and
/// talk only to this origin; and, while dev auth is on, a sign-in that mints development tokens
/// for clients on this machine.
struct WebController {
    /// Signing in at an identity provider: the page fetches its discovery document and token
    /// endpoint, so its origin joins `connect-src`.
    struct OIDC: Encodable {
        let issuer: String
        let clientID: String
        let scope: String

        enum CodingKeys: String, CodingKey {
            case issuer, scope
            case clientID = "client_id"
        }

        var origin: String? {
            guard let url = URL(string: issuer), let scheme = url.scheme, let host = url.host else { return nil }
            return "\(scheme)://\(host)" + (url.port.map { ":\($0)" } ?? "")
        }
    }

    static func contentSecurityPolicy(connecting origins: [String]) -> String {
        [
            "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
            (["connect-src 'self'"] + origins).joined(separator: " "), "form-action 'self'", "base-uri 'none'", "frame-ancestors 'none'",
            "require-trusted-types-for 'script'",
        ].joined(separator: "; ")
    }

    let assets: WebAssets
    let devIssuer: DevelopmentIssuer?
    let oidc: OIDC?
    let auditor: Auditor
    let contentSecurityPolicy: String

    init(assets: WebAssets, devIssuer: DevelopmentIssuer?, oidc: OIDC?, auditor: Auditor) {
        self.assets = assets
        self.devIssuer = devIssuer
        self.oidc = oidc
        self.auditor = auditor
        self.contentSecurityPolicy = Self.contentSecurityPolicy(connecting: oidc?.origin.map { [$0] } ?? [])
    }

    struct UIConfig: Encodable {
        let devAuth: Bool
        let oidc: OIDC?

        enum CodingKeys: String, CodingKey {
            case oidc
            case devAuth = "dev_auth"
        }
    }

    func addRoutes(to router: Router<ParleyRequestContext>, limited: RouterGroup<ParleyRequestContext>) {
        router.get("/") { request, _ in try serve("index.html", request) }
        router.get("app.js") { request, _ in try serve("app.js", request) }
        router.get("app.css") { request, _ in try serve("app.css", request) }
        router.get("ui/config.json") { _, _ in
            try jsonResponse(UIConfig(devAuth: devIssuer != nil, oidc: oidc))
        }
        limited.post("dev-token", use: devToken)
    }

    func serve(_ name: String, _ request: Request) throws -> Response {
        guard let asset = assets.assets[name] else { throw ParleyError.notFound("the web chat (its files are not installed; see web.dir)") }
        var headers: HTTPFields = [
            .contentType: asset.contentType, .eTag: asset.etag, .cacheControl: "no-cache",
            .contentSecurityPolicy: contentSecurityPolicy,
        ]
        // Revalidated on every load: a new Parley never runs with yesterday's script.
        if Self.matches(request.headers[values: .ifNoneMatch], etag: asset.etag) {
            headers[.contentType] = nil
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: asset.body))
    }

    /// RFC 9110 §13.1.2: `If-None-Match` is `*` or a list of entity tags, compared weakly (a
    /// `W/` prefix does not count), possibly spread over several header lines.
    static func matches(_ lines: [String], etag: String) -> Bool {
        lines.flatMap { $0.split(separator: ",") }.contains { candidate in
            let tag = candidate.trimmingCharacters(in: .whitespaces)
            return tag == "*" || (tag.hasPrefix("W/") ? String(tag.dropFirst(2)) : tag) == etag
        }
    }

    struct DevSignIn: Decodable {
        let user: String
        let tenant: String
    }

    /// A development token for the name and workspace typed into the sign-in form: only while
    /// dev auth is on, and only for a browser on this machine.
    @Sendable func devToken(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        guard let devIssuer, let ip = context.clientIP, ParleyConfiguration.isLoopback(ip) || ip == "::ffff:127.0.0.1" else {
            throw ParleyError.notFound("development sign-in")
        }
        let body = try await request.decodeJSON(DevSignIn.self, context: context)
        guard let user = UserID(body.user), !body.user.contains(where: \.isWhitespace) else {
            throw ParleyError.invalid(field: "user", reason: "must be 1–255 printable characters without spaces")
        }
        guard let tenant = TenantID(body.tenant) else {
            throw ParleyError.invalid(field: "tenant", reason: "must match ^[a-z][a-z0-9_]{0,62}$")
        }
        let token = try await devIssuer.token(user: user, tenants: [tenant])
        auditor.queue.publish(
            AuditEvent(
                tenant: tenant, actor: user.rawValue, action: "auth.dev_token", outcome: .success, ip: ip,
                requestID: context.requestID, detail: "web sign-in"))
        return try jsonResponse(["token": token])
    }
}
