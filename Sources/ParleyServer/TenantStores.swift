import ParleyCore
import ParleyRedis

/// The store provider with the tenant-provisioning policy applied, and conversation context
/// read through the Redis cache when there is one.
struct TenantStores: Sendable {
    let provider: any TenantStoreProvider
    let provisioning: TenantProvisioning
    var contextCache: RedisContextCache? = nil

    func store(for tenant: TenantID) async throws -> any TenantStore {
        let store = try await provider.store(for: tenant, provisioning: provisioning)
        return contextCache?.wrap(store) ?? store
    }
}
