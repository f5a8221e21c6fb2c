import Crypto
import Foundation
import ParleyCore
import Synchronization

/// Tokens that verified recently, by the SHA-256 of their text: a client sends the same token
/// with every request, and checking its signature each time is most of what authentication
/// costs. A hit is still held to the token's `exp` (with the verifier's leeway) at the time of
/// use, the key that signed it must still be one of its issuer's keys (a key the issuer withdrew
/// stops being trusted as soon as Parley has seen the new key set), and an entry lives at most
/// `maxAge`. Only successes are kept; a refused token is verified anew every time.
final class VerifiedTokenCache: Sendable {
    struct Entry {
        let principal: Principal
        /// The key id that signed the token.
        let kid: String
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

    /// `key`'s token if it verified within `maxAge` and has not expired at `now`.
    func entry(for key: SHA256Digest, now: Date, leeway: TimeInterval) -> Entry? {
        let instant = ContinuousClock.now
        return entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            guard entry.cachedAt + maxAge > instant, entry.expires.addingTimeInterval(leeway) > now else {
                entries[key] = nil
                return nil
            }
            return entry
        }
    }

    func remove(_ key: SHA256Digest) {
        entries.withLock { $0[key] = nil }
    }

    func insert(_ principal: Principal, kid: String, for key: SHA256Digest, expires: Date) {
        let instant = ContinuousClock.now
        entries.withLock { entries in
            if entries.count >= capacity {
                // Full: drop what is stale, and if that is not enough, start over (a burst of
                // distinct tokens costs re-verification, never unbounded memory).
                let maxAge = self.maxAge
                entries = entries.filter { $0.value.cachedAt + maxAge > instant }
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[key] = Entry(principal: principal, kid: kid, expires: expires, cachedAt: instant)
        }
    }

    var count: Int { entries.withLock { $0.count } }
}
