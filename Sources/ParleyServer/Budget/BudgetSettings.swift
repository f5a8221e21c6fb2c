import Configuration
import ParleyCore

/// `budget.*`: what a tenant (and each of its users) may spend on models per calendar month,
/// UTC. 0 is no limit; a tenant's `budget.completions`, `budget.tokens` and `budget.onExhausted`
/// flags override the tenant values.
public struct BudgetSettings: Sendable, Hashable {
    public var completions = 0
    public var tokens = 0
    public var userCompletions = 0
    public var userTokens = 0
    public var onExhausted = BudgetExhaustedAction.basic
    /// The share of a tenant's budget at which an audit event and a metric warn, in percent.
    public var warnPercent = 80

    public init() {}

    init(reader: ConfigReader) throws {
        func limit(_ value: Int, _ key: String) throws -> Int {
            guard (0...FeatureFlag.maxBudget).contains(value) else {
                throw ConfigurationError(key: key, reason: "must be 0 (no limit) to \(FeatureFlag.maxBudget)")
            }
            return value
        }
        completions = try limit(reader.int(forKey: "budget.completions", default: 0), "budget.completions")
        tokens = try limit(reader.int(forKey: "budget.tokens", default: 0), "budget.tokens")
        userCompletions = try limit(reader.int(forKey: "budget.userCompletions", default: 0), "budget.userCompletions")
        userTokens = try limit(reader.int(forKey: "budget.userTokens", default: 0), "budget.userTokens")
        let action = reader.string(forKey: "budget.onExhausted", default: onExhausted.rawValue)
        guard let parsed = BudgetExhaustedAction(rawValue: action) else {
            throw ConfigurationError(key: "budget.onExhausted", reason: "must be basic or refuse")
        }
        onExhausted = parsed
        warnPercent = reader.int(forKey: "budget.warnPercent", default: warnPercent)
        guard (1...100).contains(warnPercent) else { throw ConfigurationError(key: "budget.warnPercent", reason: "must be 1–100") }
    }

    /// The limits in force for a tenant with these flags.
    func limits(_ flags: FeatureFlags) -> BudgetLimits {
        func orNone(_ value: Int) -> Int? { value > 0 ? value : nil }
        return BudgetLimits(
            completions: orNone(flags.budgetCompletions ?? completions), tokens: orNone(flags.budgetTokens ?? tokens),
            userCompletions: orNone(userCompletions), userTokens: orNone(userTokens))
    }

    func onExhausted(_ flags: FeatureFlags) -> BudgetExhaustedAction { flags.budgetOnExhausted ?? onExhausted }
}
