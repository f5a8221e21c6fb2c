import Foundation
import JWTKit
import Logging
import ParleyCore
import Synchronization

/// One issuer's verification keys: jwt-kit's collection and, per `kid`, the one algorithm its key
/// may verify (so a token cannot choose a weaker algorithm for a known key).
struct IssuerKeys: Sendable {
    let collection: JWTKeyCollection
    let algorithms: [String: String]

    static func make(jwks: JWKS, allowed: Set<String>) async throws -> IssuerKeys {
        let collection = JWTKeyCollection()
        var algorithms: [String: String] = [:]
        for jwk in jwks.keys {
            guard let kid = jwk.keyIdentifier?.string, let algorithm = algorithm(of: jwk), allowed.contains(algorithm) else {
                continue
            }
            try await collection.add(jwk: jwk)
            algorithms[kid] = algorithm
        }
        return IssuerKeys(collection: collection, algorithms: algorithms)
    }

    /// Parses a published key set, leaving out keys that cannot sign tokens for us: encryption
    /// keys (`use: enc`) and key types jwt-kit cannot read (`oct`), which would fail the whole set.
    static func parse(_ data: Data, allowed: Set<String>) async throws -> IssuerKeys {
        struct Published: Codable { var keys: [JSONValue] }
        var published = try JSONDecoder().decode(Published.self, from: data)
        published.keys = published.keys.filter { key in
            guard let type = key["kty"]?.stringValue, ["RSA", "EC", "OKP"].contains(type) else { return false }
            return key["use"]?.stringValue.map { $0 == "sig" } ?? true
        }
        let jwks = try JSONDecoder().decode(JWKS.self, from: try JSONEncoder().encode(published))
        return try await make(jwks: jwks, allowed: allowed)
    }

    /// The algorithm a key is for: its declared `alg`, else what its type implies.
    static func algorithm(of jwk: JWK) -> String? {
        if let declared = jwk.algorithm?.rawValue {
            return JWKSTokenVerifier.supportedAlgorithms.contains(declared) ? declared : nil
        }
        switch jwk.keyType {
        case .rsa: return "RS256"
        case .ecdsa: return jwk.curve?.rawValue == "P-256" ? "ES256" : nil
        case .octetKeyPair: return jwk.curve?.rawValue == "Ed25519" ? "EdDSA" : nil
        default: return nil
        }
    }
}

/// Supplies an issuer's keys to the verifier.
protocol KeySource: Sendable {
    /// The keys to verify a token signed with `kid`. When `kid` is unknown the source may fetch
    /// the issuer's key set again (rate-limited); it returns what it has either way.
    func keys(for kid: String) async -> IssuerKeys?
}

/// Keys known up front (the development issuer, tests).
struct FixedKeySource: KeySource {
    let keys: IssuerKeys

    func keys(for kid: String) async -> IssuerKeys? { keys }
}

/// Fetches documents over HTTP (AsyncHTTPClient in production).
public protocol DocumentFetcher: Sendable {
    func fetch(_ url: URL) async throws -> Data
}

/// An issuer's published keys, cached by `kid`.
///
/// - An unknown `kid` triggers a refetch, at most `demandFetchBudget` times per `refetchInterval`
///   however many tokens arrive (a flood of random `kid`s cannot hammer the identity provider,
///   while one bogus token just before a rotation does not hold the new key back for the whole
///   interval), and concurrent callers share one fetch in flight.
/// - Keys older than `maxKeyAge` are refreshed in the background; a failed fetch keeps the
///   cached keys, so an unreachable provider does not stop tokens whose key we already have.
/// - A rotation at the provider (a new `kid`) is picked up on the first token that uses it.
final class RemoteKeySource: KeySource {
    private struct State {
        var keys: IssuerKeys?
        var fetchedAt: ContinuousClock.Instant?
        /// When the fetches caused by an unknown `kid` (or a failed first load) within the last
        /// `refetchInterval` started.
        var demandFetches: [ContinuousClock.Instant] = []
        var inFlight: Task<IssuerKeys?, Never>?
        var jwksURL: URL?
    }

    /// Refetches an unknown `kid` may cause per `refetchInterval`.
    static let demandFetchBudget = 3

    private let policy: IssuerPolicy
    private let fetcher: any DocumentFetcher
    private let logger: Logger
    private let state = Mutex(State())
    private let clock = ContinuousClock()

    init(policy: IssuerPolicy, fetcher: any DocumentFetcher, logger: Logger) {
        self.policy = policy
        self.fetcher = fetcher
        self.logger = logger
    }

    /// Loads the keys once at start; a failure is logged and retried on demand.
    func preload() async {
        _ = await startFetch(demand: false).value
    }

    func keys(for kid: String) async -> IssuerKeys? {
        let now = clock.now
        enum Next { case use(IssuerKeys), refresh(Task<IssuerKeys?, Never>), give(IssuerKeys?) }
        let next: Next = state.withLock { state in
            if let keys = state.keys, keys.algorithms[kid] != nil {
                if let fetchedAt = state.fetchedAt, fetchedAt + policy.maxKeyAge < now, state.inFlight == nil {
                    _ = launch(&state, demand: false)
                }
                return .use(keys)
            }
            if let task = state.inFlight { return .refresh(task) }
            state.demandFetches.removeAll { $0 + policy.refetchInterval <= now }
            if state.demandFetches.count >= Self.demandFetchBudget { return .give(state.keys) }
            return .refresh(launch(&state, demand: true))
        }
        switch next {
        case .use(let keys): return keys
        case .give(let keys): return keys
        case .refresh(let task): return await task.value
        }
    }

    private func startFetch(demand: Bool) -> Task<IssuerKeys?, Never> {
        state.withLock { state in state.inFlight ?? launch(&state, demand: demand) }
    }

    /// Starts a fetch; the caller holds the lock.
    private func launch(_ current: inout State, demand: Bool) -> Task<IssuerKeys?, Never> {
        if demand { current.demandFetches.append(clock.now) }
        let knownURL = current.jwksURL
        let task = Task { [self] () -> IssuerKeys? in
            do {
                let url = try await jwksURL(known: knownURL)
                let keys = try await IssuerKeys.parse(try await fetcher.fetch(url), allowed: policy.algorithms)
                if keys.algorithms.isEmpty {
                    logger.warning("issuer publishes no usable signing key", metadata: ["issuer": "\(policy.issuer)"])
                }
                return state.withLock { state in
                    state.keys = keys
                    state.fetchedAt = clock.now
                    state.jwksURL = url
                    state.inFlight = nil
                    return keys
                }
            } catch {
                logger.warning(
                    "cannot fetch the issuer's keys; keeping the cached ones",
                    metadata: ["issuer": "\(policy.issuer)", "error": "\(error)"])
                return state.withLock { state in
                    state.inFlight = nil
                    // No keys at all: an unreachable provider is retried within the budget, not per request.
                    if state.keys == nil && !demand { state.demandFetches.append(clock.now) }
                    return state.keys
                }
            }
        }
        current.inFlight = task
        return task
    }

    private func jwksURL(known: URL?) async throws -> URL {
        if let known { return known }
        switch policy.keys {
        case .jwks(let url): return url
        case .discovery(let url):
            struct Discovery: Decodable {
                let issuer: String
                let jwks_uri: String
            }
            let document = try JSONDecoder().decode(Discovery.self, from: try await fetcher.fetch(url))
            // OpenID Connect Discovery §4.3: the document must be about the issuer we trust.
            guard document.issuer == policy.issuer, let jwks = URL(string: document.jwks_uri) else {
                throw AuthError("discovery document of \(policy.issuer) names issuer \(document.issuer)")
            }
            return jwks
        case .embedded:
            throw AuthError("issuer \(policy.issuer) has no published keys")
        }
    }
}
