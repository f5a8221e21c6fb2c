import Crypto
import Foundation
import ParleyCore
import Synchronization

/// Tokens that verified recently, by the SHA-256 of their text: a client sends the same token
/// with every request, and checking its signature each time is most of what authentication
/// costs. A hit is still held to the token's `exp` (with the verifier's leeway) at the time of
/// use, and an entry lives at most `maxAge`, so a key an issuer withdraws stops being trusted
/// within that time. Only successes are kept; a refused token is verified anew every time.
final class VerifiedTokenCache: Sendable {
    private struct Entry {
        let principal: Principal
        let expires: Date
        let cachedAt: ContinuousClock.Instant
    }

    let capacity: Int
    let maxAge: Duration
    private let entries = Mutex<[SHA256Digest: Entry]>([:])

    init(capacity: Int = 10_000, maxAge: Duration = .seconds(60)) {
        self.capacity = capacity
        self.maxAge = maxAge
    }

    static func key(_ token: String) -> SHA256Digest { SHA256.hash(data: Data(token.utf8)) }

    /// The principal of `key`'s token if it verified within `maxAge` and has not expired at `now`.
    func principal(for key: SHA256Digest, now: Date, leeway: TimeInterval) -> Principal? {
        let instant = ContinuousClock.now
        return entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            guard entry.cachedAt + maxAge > instant, entry.expires.addingTimeInterval(leeway) > now else {
                entries[key] = nil
                return nil
            }
            return entry.principal
        }
    }

    func insert(_ principal: Principal, for key: SHA256Digest, expires: Date) {
        let instant = ContinuousClock.now
        entries.withLock { entries in
            if entries.count >= capacity {
                // Full: drop what is stale, and if that is not enough, start over (a burst of
                // distinct tokens costs re-verification, never unbounded memory).
                let maxAge = self.maxAge
                entries = entries.filter { $0.value.cachedAt + maxAge > instant }
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[key] = Entry(principal: principal, expires: expires, cachedAt: instant)
        }
    }

    var count: Int { entries.withLock { $0.count } }
}
