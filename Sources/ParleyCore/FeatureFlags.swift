/// Switches an operator can flip at run time, per tenant with a global default.
public enum FeatureFlag: String, Sendable, Hashable, CaseIterable, Codable {
    /// Off: chat answers 503 (tasks stay reachable).
    case chatbotEnabled = "chatbot.enabled"
    /// Off: the basic agent answers instead of a language model.
    case chatbotAI = "chatbot.ai"
    /// The ordered provider names a tenant's chat uses (empty: the configured default route).
    case modelRoute = "model.route"
    /// Days a tenant's messages are kept (0: forever); `null`: `retention.days` of the configuration.
    case retentionDays = "retention.days"
    /// Model calls a tenant may make per month (0: no limit); `null`: `budget.completions` of the configuration.
    case budgetCompletions = "budget.completions"
    /// Tokens a tenant may use per month (0: no limit); `null`: `budget.tokens` of the configuration.
    case budgetTokens = "budget.tokens"
    /// `basic` or `refuse` once a budget is spent; `null`: `budget.onExhausted` of the configuration.
    case budgetOnExhausted = "budget.onExhausted"

    public static let maxRetentionDays = 36_500
    /// Far above any real month (a budget is meant to bound spending, not to overflow).
    public static let maxBudget = 1_000_000_000_000

    public var defaultValue: JSONValue {
        switch self {
        case .chatbotEnabled, .chatbotAI: .bool(true)
        case .modelRoute: .array([])
        case .retentionDays, .budgetCompletions, .budgetTokens, .budgetOnExhausted: .null
        }
    }

    /// Why `value` is not a valid setting of this flag, or `nil` when it is.
    public func problem(with value: JSONValue) -> String? {
        switch self {
        case .chatbotEnabled, .chatbotAI:
            if case .bool = value { return nil }
            return "must be true or false"
        case .modelRoute:
            guard case .array(let names) = value, names.count <= 16,
                names.allSatisfy({ name in
                    guard let name = name.stringValue else { return false }
                    return !name.isEmpty && name.utf8.count <= 64
                })
            else { return "must be an array of up to 16 provider names" }
            return nil
        case .retentionDays:
            if value == .null { return nil }
            guard let days = value.intValue, case .number = value, (0...Self.maxRetentionDays).contains(days) else {
                return "must be a whole number of days from 0 (keep everything) to \(Self.maxRetentionDays), or null"
            }
            return nil
        case .budgetCompletions, .budgetTokens:
            if value == .null { return nil }
            guard let limit = value.intValue, case .number = value, (0...Self.maxBudget).contains(limit) else {
                return "must be a whole number from 0 (no limit) to \(Self.maxBudget), or null"
            }
            return nil
        case .budgetOnExhausted:
            if value == .null { return nil }
            guard let name = value.stringValue, BudgetExhaustedAction(rawValue: name) != nil else {
                return "must be \"basic\", \"refuse\" or null"
            }
            return nil
        }
    }
}

/// Where a flag value applies.
public enum FlagScope: Sendable, Hashable {
    case global
    case tenant(TenantID)

    /// How the scope is stored (`*` cannot be a tenant id).
    public var storageKey: String {
        switch self {
        case .global: "*"
        case .tenant(let tenant): tenant.rawValue
        }
    }
}

/// The flags in force for one tenant: its own values over the global ones over the defaults.
public struct FeatureFlags: Sendable, Hashable {
    public var values: [FeatureFlag: JSONValue]

    public init(global: [FeatureFlag: JSONValue] = [:], tenant: [FeatureFlag: JSONValue] = [:]) {
        var values: [FeatureFlag: JSONValue] = [:]
        for flag in FeatureFlag.allCases { values[flag] = tenant[flag] ?? global[flag] ?? flag.defaultValue }
        self.values = values
    }

    public var chatbotEnabled: Bool { values[.chatbotEnabled]?.boolValue ?? true }
    public var chatbotAI: Bool { values[.chatbotAI]?.boolValue ?? true }
    public var modelRoute: [String] {
        guard case .array(let names)? = values[.modelRoute] else { return [] }
        return names.compactMap(\.stringValue)
    }
    /// The tenant's own retention, or `nil` for the configured one.
    public var retentionDays: Int? { values[.retentionDays]?.intValue }
    /// The tenant's own budgets and what happens when one is spent, or `nil` for the configured ones.
    public var budgetCompletions: Int? { values[.budgetCompletions]?.intValue }
    public var budgetTokens: Int? { values[.budgetTokens]?.intValue }
    public var budgetOnExhausted: BudgetExhaustedAction? { values[.budgetOnExhausted]?.stringValue.flatMap(BudgetExhaustedAction.init) }
}

public protocol FeatureFlagStore: Sendable {
    /// The values set in one scope (flags not set there are absent).
    func values(in scope: FlagScope) async throws -> [FeatureFlag: JSONValue]
    /// Sets a flag in a scope; `nil` removes the setting so the wider one applies again.
    func set(_ flag: FeatureFlag, to value: JSONValue?, in scope: FlagScope, by actor: String) async throws
}

/// Storage that belongs to no tenant: global flag values and per-tenant overrides, and the
/// system audit log (events that happen before a tenant is known, and tenant provisioning).
public protocol ControlStore: Sendable {
    var flags: any FeatureFlagStore { get }
    var systemAudit: any AuditLogRepository { get }
    /// Model usage and budgets, when Redis does not keep them.
    var usage: any UsageLedger { get }
    func close() async throws
}
