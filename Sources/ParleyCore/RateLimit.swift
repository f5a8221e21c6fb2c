import Foundation
import Synchronization

/// A limit such as "60 per minute": up to `limit` requests at once, refilled evenly over
/// `window` (GCRA: the burst is the whole quota, the steady rate limit/window).
public struct RateLimitPolicy: Sendable, Hashable, CustomStringConvertible {
    /// Names the policy in headers and problem bodies: `user`, `ip`, `tenant`, `auth-failure`.
    public var name: String
    public var limit: Int
    public var window: Duration

    public init(name: String, limit: Int, window: Duration) {
        self.name = name
        self.limit = limit
        self.window = window
    }

    /// Parses `N per window`: the window is `second`, `minute`, `hour`, `day` (plural allowed) or
    /// a count with a unit (`30s`, `5m`, `1h`, `10 seconds`). `off` or `0` means no limit (`nil`).
    public static func parse(_ text: String, name: String) throws -> RateLimitPolicy? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        if trimmed == "off" || trimmed == "0" || trimmed == "none" { return nil }
        let parts = trimmed.components(separatedBy: "per").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, let limit = Int(parts[0]), limit > 0, limit <= 1_000_000_000,
            let window = parseWindow(parts[1])
        else {
            throw ParleyError.invalid(field: name, reason: "must look like \"60 per minute\" or \"10 per 30s\", or \"off\"")
        }
        return RateLimitPolicy(name: name, limit: limit, window: window)
    }

    static func parseWindow(_ text: String) -> Duration? {
        let units: [(names: [String], seconds: Int)] = [
            (["s", "sec", "second", "seconds"], 1), (["m", "min", "minute", "minutes"], 60),
            (["h", "hour", "hours"], 3600), (["d", "day", "days"], 86_400),
        ]
        let digits = text.prefix { $0.isNumber }
        let count = digits.isEmpty ? 1 : Int(digits) ?? 0
        let unit = text.dropFirst(digits.count).trimmingCharacters(in: .whitespaces)
        guard count > 0, count <= 366 * 86_400, let seconds = units.first(where: { $0.names.contains(unit) })?.seconds else {
            return nil
        }
        return .seconds(count * seconds)
    }

    public var description: String { "\(limit) per \(window.components.seconds)s" }

    /// The time one request's share of the window takes to refill.
    var emissionInterval: Double { window.seconds / Double(limit) }
}

extension Duration {
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// The answer to "may this request go ahead?", with what the rate-limit headers report.
public struct RateLimitDecision: Sendable, Hashable {
    public var allowed: Bool
    public var policy: RateLimitPolicy
    /// Requests left in the current burst.
    public var remaining: Int
    /// Seconds until the quota is full again.
    public var resetSeconds: Int
    /// When refused, seconds until one request will be allowed.
    public var retryAfterSeconds: Int

    public init(allowed: Bool, policy: RateLimitPolicy, remaining: Int, resetSeconds: Int, retryAfterSeconds: Int) {
        self.allowed = allowed
        self.policy = policy
        self.remaining = remaining
        self.resetSeconds = resetSeconds
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// GCRA: `tat` is the theoretical arrival time of the next request (seconds). Returns the
    /// decision and the new `tat` (unchanged when refused or only peeking). Shared by the
    /// in-process limiter and, as the same arithmetic in Lua, the Redis one.
    public static func gcra(tat storedTAT: Double?, now: Double, policy: RateLimitPolicy, consume: Bool)
        -> (decision: RateLimitDecision, tat: Double?)
    {
        let interval = policy.emissionInterval
        let burst = interval * Double(policy.limit)  // the whole window
        let tat = max(storedTAT ?? now, now)
        let newTAT = tat + interval
        let allowAt = newTAT - burst
        if allowAt > now + 1e-9 {
            let retry = Int((allowAt - now).rounded(.up))
            return (
                RateLimitDecision(
                    allowed: false, policy: policy, remaining: 0, resetSeconds: Int((tat - now).rounded(.up)),
                    retryAfterSeconds: max(retry, 1)),
                storedTAT
            )
        }
        let after = consume ? newTAT : tat
        let remaining = Int(((burst - (after - now)) / interval).rounded(.down))
        return (
            RateLimitDecision(
                allowed: true, policy: policy, remaining: max(0, remaining), resetSeconds: Int((after - now).rounded(.up)),
                retryAfterSeconds: 0),
            consume ? newTAT : storedTAT
        )
    }
}

public protocol RateLimiter: Sendable {
    /// Counts one request against `key` under `policy` (or only looks, when `consume` is false).
    /// Throws when the limiter's storage is unreachable; the caller applies fail-open/closed.
    func check(_ key: String, policy: RateLimitPolicy, consume: Bool) async throws -> RateLimitDecision

    /// The checks one request must pass, answered together, in order: each decision is what
    /// `check` would say, but the request counts against none of its limits unless every check
    /// allows it (a request refused by the tenant's limit does not use up the user's). A limiter
    /// behind the network answers them in one round trip.
    func check(all checks: [RateLimitCheck]) async throws -> [RateLimitDecision]
}

/// One limit a request is checked against.
public struct RateLimitCheck: Sendable, Hashable {
    public var key: String
    public var policy: RateLimitPolicy
    /// `false`: only look (the auth-failure gate).
    public var consume: Bool

    public init(key: String, policy: RateLimitPolicy, consume: Bool = true) {
        self.key = key
        self.policy = policy
        self.consume = consume
    }
}

extension RateLimiter {
    /// Looks at every limit first, then counts the request only if all of them allow it.
    public func check(all checks: [RateLimitCheck]) async throws -> [RateLimitDecision] {
        var decisions: [RateLimitDecision] = []
        for check in checks { decisions.append(try await self.check(check.key, policy: check.policy, consume: false)) }
        guard decisions.allSatisfy(\.allowed) else { return decisions }
        for (index, check) in checks.enumerated() where check.consume {
            decisions[index] = try await self.check(check.key, policy: check.policy, consume: true)
        }
        return decisions
    }
}

/// Limits within this process: one replica's view, exact and fast. Memory stays bounded
/// because keys whose quota is full again are dropped as the table is swept.
public final class InProcessRateLimiter: RateLimiter {
    private struct Table {
        var tats: [String: Double] = [:]
        var checksSinceSweep = 0
    }

    private final class Shard: Sendable {
        let table = Mutex(Table())
    }

    /// Independent locks, so that concurrent requests for different keys rarely wait.
    private let shards: [Shard]
    private let clock: @Sendable () -> Double

    public init(shardCount: Int = 16, clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        shards = (0..<max(1, shardCount)).map { _ in Shard() }
        self.clock = clock
    }

    public func check(_ key: String, policy: RateLimitPolicy, consume: Bool) async throws -> RateLimitDecision {
        let now = clock()
        let shard = shards[Int(UInt(bitPattern: key.hashValue) % UInt(shards.count))]
        return shard.table.withLock { table in
            let (decision, tat) = RateLimitDecision.gcra(tat: table.tats[key], now: now, policy: policy, consume: consume)
            table.tats[key] = tat
            table.checksSinceSweep += 1
            if table.checksSinceSweep >= 4096 {
                table.checksSinceSweep = 0
                table.tats = table.tats.filter { $0.value > now }
            }
            return decision
        }
    }

    /// Keys currently tracked (for tests of the sweep).
    public var trackedKeys: Int { shards.reduce(0) { $0 + $1.table.withLock { $0.tats.count } } }
}
