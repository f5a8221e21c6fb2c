/// Who is calling: the verified identity a request acts as. Tools and stores receive it from
/// the request context, never from anything a client or a model wrote into a body.
public struct Principal: Sendable, Hashable {
    public enum Role: String, Sendable, Hashable, Codable, CaseIterable {
        case user
        case admin
    }

    public let user: UserID
    /// Tenants the token grants.
    public let tenants: [TenantID]
    public let roles: Set<Role>
    public let issuer: String

    public init(user: UserID, tenants: [TenantID], roles: Set<Role>, issuer: String) {
        self.user = user
        self.tenants = tenants
        self.roles = roles
        self.issuer = issuer
    }

    public var isAdmin: Bool { roles.contains(.admin) }
}

/// The scope a request acts in: one user inside one tenant.
public struct Scope: Sendable, Hashable {
    public let tenant: TenantID
    public let user: UserID

    public init(tenant: TenantID, user: UserID) {
        self.tenant = tenant
        self.user = user
    }
}
