import Crypto
import Foundation
import JWTKit
import ParleyCore

/// The built-in issuer for development: an Ed25519 key generated once into the data directory,
/// whose public half is served as a JWKS and verified like any other issuer's. Trusted only
/// while dev auth is on (by default only when Parley listens on loopback).
public struct DevelopmentIssuer: Sendable {
    public static let issuer = "parley-dev"
    public static let audience = "parley"
    public static let keyFileName = "dev-issuer-key.pem"

    let privateKey: EdDSA.PrivateKey
    public let keyID: String

    init(privateKey: EdDSA.PrivateKey) {
        self.privateKey = privateKey
        // RFC 7638 thumbprint of the public key: stable across restarts, changes with the key.
        let x = Base64URL.encode(privateKey.publicKey.rawRepresentation)
        let canonical = #"{"crv":"Ed25519","kty":"OKP","x":"\#(x)"}"#
        self.keyID = Base64URL.encode(Data(SHA256.hash(data: Data(canonical.utf8))))
    }

    /// Loads the key from `<dataDirectory>/dev-issuer-key.pem`, creating it (mode 0600) on first use.
    public static func loadOrCreate(dataDirectory: URL) throws -> DevelopmentIssuer {
        let fileManager = FileManager.default
        try fileManager.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        let path = dataDirectory.appendingPathComponent(keyFileName).path
        if !fileManager.fileExists(atPath: path) {
            let pem = try EdDSA.PrivateKey(curve: .ed25519).pemRepresentation
            let temporary = path + ".\(UUID().uuidString).tmp"
            guard fileManager.createFile(atPath: temporary, contents: Data(pem.utf8), attributes: [.posixPermissions: 0o600])
            else { throw AuthError("cannot write \(temporary)") }
            // link(2) fails if another process created the key first; then we use theirs.
            if link(temporary, path) != 0 && errno != EEXIST {
                let code = errno
                try? fileManager.removeItem(atPath: temporary)
                throw AuthError("cannot create \(path): errno \(code)")
            }
            try? fileManager.removeItem(atPath: temporary)
        }
        let pem = try String(contentsOfFile: path, encoding: .utf8)
        return DevelopmentIssuer(privateKey: try EdDSA.PrivateKey(pem: pem))
    }

    /// The public key set, as served at `/.well-known/jwks.json`.
    public var jwks: JWKS {
        JWKS(keys: [
            .octetKeyPair(
                .eddsa, identifier: JWKIdentifier(string: keyID),
                x: Base64URL.encode(privateKey.publicKey.rawRepresentation), y: nil, curve: .ed25519)
        ])
    }

    public func trustedIssuer() async throws -> TrustedIssuer {
        try await .fixed(issuer: Self.issuer, audience: Self.audience, jwks: jwks)
    }

    /// Signs a token for `user` granting `tenants`.
    public func token(
        user: UserID, tenants: [TenantID], admin: Bool = false, lifetime: TimeInterval = 12 * 3600, now: Date = Date()
    ) async throws -> String {
        var claims: [String: JSONValue] = [
            "iss": .string(Self.issuer),
            "aud": .string(Self.audience),
            "sub": .string(user.rawValue),
            "iat": .number(now.timeIntervalSince1970.rounded(.down)),
            "nbf": .number(now.timeIntervalSince1970.rounded(.down)),
            "exp": .number((now.timeIntervalSince1970 + lifetime).rounded(.down)),
            "roles": .array(admin ? ["user", "admin"] : ["user"]),
        ]
        claims["tenant"] = tenants.count == 1 ? .string(tenants[0].rawValue) : .array(tenants.map { .string($0.rawValue) })
        return try await sign(claims)
    }

    /// Signs arbitrary claims (tests use this to forge expired or mis-addressed tokens).
    public func sign(_ claims: [String: JSONValue]) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(eddsa: privateKey, kid: JWKIdentifier(string: keyID))
        return try await keys.sign(TokenClaims(claims: claims), kid: JWKIdentifier(string: keyID))
    }
}
