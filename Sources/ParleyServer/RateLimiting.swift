import HTTPTypes
import Hummingbird
import Logging
import ParleyAuth
import ParleyCore

/// Which address a request comes from. Behind `hops` trusted proxies, the client is the entry
/// that many places from the end of `X-Forwarded-For` (entries further left are the client's
/// own claims and could be forged); with no proxies, the socket's peer.
struct ClientAddressPolicy: Sendable {
    let hops: Int

    func clientIP(peer: String?, forwardedFor: [String]) -> String? {
        guard hops > 0 else { return peer }
        let entries = forwardedFor.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        guard entries.count >= hops else { return entries.first ?? peer }
        let candidate = entries[entries.count - hops]
        // Only something shaped like an address is used as a rate-limit key and logged.
        guard !candidate.isEmpty, candidate.count <= 45, candidate.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" })
        else { return peer }
        return candidate
    }
}

/// Applies rate-limit policies: records each decision for the response headers, refuses with
/// 429, and when the limiter itself fails, lets the request through or refuses it with 503 as
/// configured.
struct RateLimitGate: Sendable {
    let limiter: any RateLimiter
    let settings: RateLimitSettings
    let metrics: ParleyMetrics

    func enforce(_ key: String, policy: RateLimitPolicy, consume: Bool = true, context: ParleyRequestContext) async throws {
        try await enforce([RateLimitCheck(key: key, policy: policy, consume: consume)], context: context)
    }

    /// Every limit of one stage at once (one round trip to Redis); the first that refuses answers 429.
    func enforce(_ checks: [RateLimitCheck], context: ParleyRequestContext) async throws {
        guard !checks.isEmpty else { return }
        let decisions: [RateLimitDecision]
        do {
            decisions = try await limiter.check(all: checks)
        } catch {
            metrics.recordRateLimiterFailure()
            context.logger.error(
                "rate limiter unavailable",
                metadata: [
                    "policy": .string(checks.map(\.policy.name).joined(separator: ",")), "error": "\(error)",
                    "fail_open": .stringConvertible(settings.failOpen),
                ])
            if settings.failOpen { return }
            throw ParleyError.unavailable("rate limiting is unavailable; try again shortly")
        }
        // A peek (the auth-failure gate) says nothing about this request's own quota.
        for (check, decision) in zip(checks, decisions) where check.consume && decision.allowed {
            context.trace?.noteRateLimit(decision)
        }
        guard let decision = decisions.first(where: { !$0.allowed }) else { return }
        let policy = decision.policy
        metrics.recordRateLimited(policy: policy.name)
        var headers = HTTPFields()
        headers[.retryAfter] = String(decision.retryAfterSeconds)
        RateLimitHeaders.apply([decision], to: &headers)
        throw HTTPProblem(
            status: .tooManyRequests,
            detail: "rate limit \"\(policy.name)\" (\(policy.limit) per \(policy.window.components.seconds) s) exceeded; retry in \(decision.retryAfterSeconds) s",
            headers: headers, policy: policy.name)
    }
}

/// The IETF draft rate-limit headers (draft-ietf-httpapi-ratelimit-headers):
/// `RateLimit-Policy: "user";q=120;w=60` for every policy that applied, and
/// `RateLimit: "user";r=119;t=1` for the one closest to its limit.
enum RateLimitHeaders {
    static let policyName = HTTPField.Name("RateLimit-Policy")!
    static let stateName = HTTPField.Name("RateLimit")!

    static func apply(_ decisions: [RateLimitDecision], to headers: inout HTTPFields) {
        guard let tightest = decisions.min(by: { $0.remaining < $1.remaining }) else { return }
        headers[policyName] = decisions.map { decision in
            "\"\(decision.policy.name)\";q=\(decision.policy.limit);w=\(decision.policy.window.components.seconds)"
        }.joined(separator: ", ")
        headers[stateName] = "\"\(tightest.policy.name)\";r=\(tightest.remaining);t=\(tightest.resetSeconds)"
    }
}

/// Limits per client IP (before authentication, so token guessing is limited too) or per user
/// and per tenant (after it).
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext

    enum Stage {
        /// Per client IP. `authFailures`: also refuse a client with too many refused tokens
        /// (looked at, not counted, in the same round trip), for routes that take a token.
        case client(authFailures: Bool = false)
        case principal
    }

    let gate: RateLimitGate
    let stage: Stage
    /// For the client stage in front of `AuthMiddleware`: a request whose token this verifier
    /// accepted moments ago has its client limits checked together with the principal stage's,
    /// one round trip instead of two. A token not seen before (a guess) is limited per IP before
    /// it is looked at, as always; and if a recently seen token fails after all,
    /// `AuthMiddleware` enforces the deferred limits before it answers 401.
    var verifier: (any TokenVerifier)? = nil

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let settings = gate.settings
        var checks: [RateLimitCheck] = []
        switch stage {
        case .client(let authFailures):
            if let policy = settings.ip {
                checks.append(RateLimitCheck(key: "ip:" + (context.clientIP ?? "unknown"), policy: policy))
            }
            if authFailures, let policy = settings.authFailures {
                checks.append(RateLimitCheck(key: AuthMiddleware.failureKey(context), policy: policy, consume: false))
            }
            if let verifier, !checks.isEmpty, let token = AuthMiddleware.bearerToken(request.headers[.authorization]),
                verifier.verifiedRecently(token)
            {
                var context = context
                context.deferredLimits = checks
                return try await next(request, context)
            }
        case .principal:
            // The client stage's limits first, so that they refuse first, as they would have alone.
            checks = context.deferredLimits
            if let principal = context.principal, let policy = settings.user {
                // Subjects are unique per issuer, so the key holds both.
                checks.append(RateLimitCheck(key: "user:\(principal.issuer) \(principal.user)", policy: policy))
            }
            if let tenant = context.tenant, let policy = settings.tenant {
                checks.append(RateLimitCheck(key: "tenant:\(tenant)", policy: policy))
            }
        }
        try await gate.enforce(checks, context: context)
        return try await next(request, context)
    }
}
