/// Usage as the ledgers keep it (the `model_usage` table, the Redis hash): one row per user,
/// provider and model, where an empty user and provider is the tenant's total, an empty provider
/// a user's, an empty user a provider's model.
public struct UsageRow: Sendable {
    public let user: String
    public let provider: String
    public let model: String
    public let counts: UsageCounts

    public init(user: String, provider: String, model: String, counts: UsageCounts) {
        self.user = user
        self.provider = provider
        self.model = model
        self.counts = counts
    }

    public static func usage(of rows: [UsageRow]) -> TenantUsage {
        var usage = TenantUsage()
        for row in rows {
            switch (row.user.isEmpty, row.provider.isEmpty) {
            case (true, true): usage.total = row.counts
            case (false, true):
                guard let user = UserID(row.user) else { continue }
                usage.users[user] = row.counts
            case (true, false): usage.models[TenantUsage.ModelKey(provider: row.provider, model: row.model)] = row.counts
            case (false, false): continue
            }
        }
        return usage
    }

    /// The increments one batch of deltas makes, merged by row: (user, provider, model) → counts.
    public static func increments(_ deltas: [UsageDelta]) -> [Key: UsageCounts] {
        var rows: [Key: UsageCounts] = [:]
        for delta in deltas {
            let tokens = UsageCounts(inputTokens: delta.inputTokens, outputTokens: delta.outputTokens)
            let own = tokens + UsageCounts(completions: delta.uncountedCompletions)
            let total = Key(user: "", provider: "", model: "")
            rows[total, default: UsageCounts()] = rows[total, default: UsageCounts()] + own
            let user = Key(user: delta.user.rawValue, provider: "", model: "")
            rows[user, default: UsageCounts()] = rows[user, default: UsageCounts()] + own
            let model = Key(user: "", provider: delta.provider, model: delta.model)
            rows[model, default: UsageCounts()] = rows[model, default: UsageCounts()] + tokens + UsageCounts(completions: delta.completions)
        }
        return rows
    }

    public struct Key: Sendable, Hashable {
        public let user: String
        public let provider: String
        public let model: String

        public init(user: String, provider: String, model: String) {
            self.user = user
            self.provider = provider
            self.model = model
        }
    }
}
