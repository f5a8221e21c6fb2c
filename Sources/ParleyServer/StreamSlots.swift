import HTTPTypes
import ParleyCore
import Synchronization

/// Caps the Server-Sent Event streams open at once in this process, per user and per tenant
/// (`chat.maxStreamsPerUser`, `chat.maxStreamsPerTenant`): a client that opens streams and never
/// reads them cannot pile up turns, model calls and buffers. Rate limits bound how fast streams
/// start; this bounds how many stay open.
final class StreamSlots: Sendable {
    struct Limits: Sendable, Equatable {
        var perUser: Int
        var perTenant: Int
    }

    private struct Open {
        var users: [String: Int] = [:]
        var tenants: [TenantID: Int] = [:]
    }

    let limits: Limits
    private let open = Mutex(Open())

    init(limits: Limits) {
        self.limits = limits
    }

    /// A slot for one stream, or 429 naming the cap. The slot is given back when it is released
    /// (when the response that holds it is done with, however the stream ended).
    func acquire(user: UserID, tenant: TenantID) throws -> Slot {
        let userKey = "\(tenant.rawValue)/\(user.rawValue)"
        let refusal: String? = open.withLock { open in
            if open.users[userKey, default: 0] >= limits.perUser {
                return "\(limits.perUser) streams are open for this user already (chat.maxStreamsPerUser); close one first"
            }
            if open.tenants[tenant, default: 0] >= limits.perTenant {
                return "\(limits.perTenant) streams are open in this tenant already (chat.maxStreamsPerTenant)"
            }
            open.users[userKey, default: 0] += 1
            open.tenants[tenant, default: 0] += 1
            return nil
        }
        if let refusal {
            var headers = HTTPFields()
            headers[.retryAfter] = "1"
            throw HTTPProblem(status: .tooManyRequests, detail: refusal, headers: headers)
        }
        return Slot { [self] in
            open.withLock { open in
                open.users[userKey, default: 1] -= 1
                if open.users[userKey] == 0 { open.users[userKey] = nil }
                open.tenants[tenant, default: 1] -= 1
                if open.tenants[tenant] == 0 { open.tenants[tenant] = nil }
            }
        }
    }

    /// Holds one stream's place; gives it back once, when the last reference goes.
    final class Slot: Sendable {
        private let release: @Sendable () -> Void

        init(release: @escaping @Sendable () -> Void) {
            self.release = release
        }

        deinit { release() }
    }
}
