import Foundation
import Synchronization

/// Feature flags as requests see them: read through a short-lived cache (a chat turn does not
/// query the control database), and a change made here is seen by the very next request.
public final class FlagService: Sendable {
    private struct Entry {
        let values: [FeatureFlag: JSONValue]
        let loadedAt: ContinuousClock.Instant
    }

    private struct Cache {
        var entries: [FlagScope: Entry] = [:]
        /// Bumped by every change, so a read that raced a change does not cache the old value.
        var generation = 0
    }

    public let store: any FeatureFlagStore
    /// How long another replica's change may take to be seen here.
    public let maxAge: Duration
    private let cache = Mutex(Cache())

    public init(store: any FeatureFlagStore, maxAge: Duration = .seconds(2)) {
        self.store = store
        self.maxAge = maxAge
    }

    public func flags(for tenant: TenantID) async throws -> FeatureFlags {
        // Sequential: both are cache hits on the chat path, not worth two child tasks.
        FeatureFlags(global: try await values(in: .global), tenant: try await values(in: .tenant(tenant)))
    }

    public func values(in scope: FlagScope) async throws -> [FeatureFlag: JSONValue] {
        let now = ContinuousClock.now
        let (cached, generation) = cache.withLock { cache in (cache.entries[scope], cache.generation) }
        if let cached, cached.loadedAt + maxAge > now { return cached.values }
        let values = try await store.values(in: scope)
        cache.withLock { cache in
            if cache.generation == generation { cache.entries[scope] = Entry(values: values, loadedAt: now) }
        }
        return values
    }

    /// Applies the changes (`nil` removes a setting) and drops the cached values.
    public func set(_ changes: [FeatureFlag: JSONValue?], in scope: FlagScope, by actor: String) async throws {
        defer {
            cache.withLock { cache in
                cache.generation += 1
                cache.entries[scope] = nil
            }
        }
        for (flag, value) in changes.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            try await store.set(flag, to: value, in: scope, by: actor)
        }
    }
}
