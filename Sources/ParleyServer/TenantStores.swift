import ParleyCore

/// The store provider with the tenant-provisioning policy applied.
struct TenantStores: Sendable {
    let provider: any TenantStoreProvider
    let provisioning: TenantProvisioning

    func store(for tenant: TenantID) async throws -> any TenantStore {
        try await provider.store(for: tenant, provisioning: provisioning)
    }
}
