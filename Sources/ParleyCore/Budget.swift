import Foundation

/// Model budgets: how many model calls ("completions") and tokens a tenant, and each of its
/// users, may spend in a calendar month (UTC), and the usage counted against them.

/// A calendar month in UTC, the period budgets and usage reports cover.
public struct UsageMonth: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let year: Int
    public let month: Int

    public init?(year: Int, month: Int) {
        guard (2000...9999).contains(year), (1...12).contains(month) else { return nil }
        self.year = year
        self.month = month
    }

    /// The month `date` falls in.
    public init(containing date: Date) {
        let parts = Self.calendar.dateComponents([.year, .month], from: date)
        year = parts.year ?? 2000
        month = parts.month ?? 1
    }

    /// `YYYY-MM`, nothing else.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == 7, bytes[4] == UInt8(ascii: "-"),
            bytes.enumerated().allSatisfy({ $0.offset == 4 || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0.element) }),
            let year = Int(text.prefix(4)), let month = Int(text.suffix(2))
        else { return nil }
        self.init(year: year, month: month)
    }

    public var description: String { String(format: "%04d-%02d", year, month) }

    /// When the month begins, and so when the previous month's budget is renewed.
    public var start: Date {
        Self.calendar.date(from: DateComponents(year: year, month: month, day: 1)) ?? Date(timeIntervalSince1970: 0)
    }

    public var next: UsageMonth {
        month == 12 ? UsageMonth(year: year + 1, month: 1) ?? self : UsageMonth(year: year, month: month + 1) ?? self
    }

    public var previous: UsageMonth {
        month == 1 ? UsageMonth(year: year - 1, month: 12) ?? self : UsageMonth(year: year, month: month - 1) ?? self
    }

    public static func < (lhs: UsageMonth, rhs: UsageMonth) -> Bool { (lhs.year, lhs.month) < (rhs.year, rhs.month) }

    private static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()
}

/// What a budget counts.
public enum BudgetKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// Model calls, answered or not: each one reached a provider.
    case completions
    /// Input plus output tokens, as providers report them (estimated when they do not).
    case tokens
}

/// Whose budget it is.
public enum BudgetScope: String, Sendable, Hashable, Codable {
    case tenant
    case user
}

/// What happens to a turn once a budget is spent.
public enum BudgetExhaustedAction: String, Sendable, Hashable, Codable, CaseIterable {
    /// The built-in agent answers, and says that the AI budget is used up.
    case basic
    /// The turn is refused (429) until the budget renews.
    case refuse
}

/// The limits in force for one tenant this month; `nil` is no limit.
public struct BudgetLimits: Sendable, Hashable {
    public var completions: Int?
    public var tokens: Int?
    public var userCompletions: Int?
    public var userTokens: Int?

    public init(completions: Int? = nil, tokens: Int? = nil, userCompletions: Int? = nil, userTokens: Int? = nil) {
        self.completions = completions
        self.tokens = tokens
        self.userCompletions = userCompletions
        self.userTokens = userTokens
    }

    /// No limit at all: calls are only counted, never checked.
    public var isUnlimited: Bool { completions == nil && tokens == nil && userCompletions == nil && userTokens == nil }

    /// The first limit the counts so far have reached (tenant before user, calls before tokens),
    /// or `nil` when one more call may go. The Redis script applies the same rule.
    public func refusal(tenant: UsageCounts, user: UsageCounts, month: UsageMonth) -> BudgetExhausted? {
        let checks: [(Int?, Int, BudgetKind, BudgetScope)] = [
            (completions, tenant.completions, .completions, .tenant), (tokens, tenant.tokens, .tokens, .tenant),
            (userCompletions, user.completions, .completions, .user), (userTokens, user.tokens, .tokens, .user),
        ]
        for (limit, used, kind, scope) in checks {
            if let limit, used >= limit { return BudgetExhausted(kind: kind, scope: scope, limit: limit, month: month) }
        }
        return nil
    }
}

/// A model call refused because a budget is spent.
public struct BudgetExhausted: Error, Sendable, Hashable, CustomStringConvertible {
    public let kind: BudgetKind
    public let scope: BudgetScope
    public let limit: Int
    public let month: UsageMonth

    public init(kind: BudgetKind, scope: BudgetScope, limit: Int, month: UsageMonth) {
        self.kind = kind
        self.scope = scope
        self.limit = limit
        self.month = month
    }

    /// When the budget renews: the first instant of the next month, UTC.
    public var resetsAt: Date { month.next.start }

    public var description: String {
        "the \(scope == .tenant ? "tenant's" : "user's") monthly \(kind.rawValue) budget of \(limit) is used up"
    }
}

/// How a reservation went: granted with the tenant's counts after it, or refused.
public enum BudgetReservation: Sendable, Hashable {
    /// `completions` and `tokens`: the tenant's totals this month, this call included.
    case granted(completions: Int, tokens: Int)
    case exhausted(BudgetExhausted)
}

/// Counts to add for one user and one provider's model.
public struct UsageDelta: Sendable, Hashable {
    public var user: UserID
    public var provider: String
    public var model: String
    /// Calls not yet in the tenant's and user's totals (a reservation counts its call at once).
    public var uncountedCompletions = 0
    /// Calls to this model (every call, reserved or not).
    public var completions = 0
    public var inputTokens = 0
    public var outputTokens = 0

    public init(user: UserID, provider: String, model: String) {
        self.user = user
        self.provider = provider
        self.model = model
    }
}

/// One row of a usage report.
public struct UsageCounts: Sendable, Hashable, Codable {
    public var completions = 0
    public var inputTokens = 0
    public var outputTokens = 0

    public init(completions: Int = 0, inputTokens: Int = 0, outputTokens: Int = 0) {
        self.completions = completions
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
    }

    public var tokens: Int { inputTokens + outputTokens }

    public static func + (lhs: UsageCounts, rhs: UsageCounts) -> UsageCounts {
        UsageCounts(
            completions: lhs.completions + rhs.completions, inputTokens: lhs.inputTokens + rhs.inputTokens,
            outputTokens: lhs.outputTokens + rhs.outputTokens)
    }
}

/// A tenant's usage in one month: totals, and by provider's model and by user.
public struct TenantUsage: Sendable, Hashable {
    public struct ModelKey: Sendable, Hashable, Comparable {
        public var provider: String
        public var model: String

        public init(provider: String, model: String) {
            self.provider = provider
            self.model = model
        }

        public static func < (lhs: ModelKey, rhs: ModelKey) -> Bool { (lhs.provider, lhs.model) < (rhs.provider, rhs.model) }
    }

    public var total = UsageCounts()
    public var models: [ModelKey: UsageCounts] = [:]
    public var users: [UserID: UsageCounts] = [:]

    public init(total: UsageCounts = UsageCounts(), models: [ModelKey: UsageCounts] = [:], users: [UserID: UsageCounts] = [:]) {
        self.total = total
        self.models = models
        self.users = users
    }

    /// Adds deltas not stored yet (a replica's pending counts).
    public mutating func add(_ delta: UsageDelta) {
        let tokens = UsageCounts(completions: 0, inputTokens: delta.inputTokens, outputTokens: delta.outputTokens)
        let uncounted = UsageCounts(completions: delta.uncountedCompletions)
        total = total + tokens + uncounted
        users[delta.user, default: UsageCounts()] = users[delta.user, default: UsageCounts()] + tokens + uncounted
        let key = ModelKey(provider: delta.provider, model: delta.model)
        models[key, default: UsageCounts()] = models[key, default: UsageCounts()] + tokens + UsageCounts(completions: delta.completions)
    }
}

/// Where usage is counted: Redis when configured (one count for every replica, atomically),
/// else the control store. Reservations are atomic, so a budget of N lets exactly N calls
/// through however many replicas ask at once.
public protocol UsageLedger: Sendable {
    /// Counts one call for the tenant and the user if no limit of `limits` is reached, checking
    /// and counting in one atomic step.
    func reserve(tenant: TenantID, user: UserID, month: UsageMonth, limits: BudgetLimits) async throws -> BudgetReservation
    /// Adds counts (tokens, calls by model, and calls not reserved); returns each tenant's token
    /// total after it, for warnings.
    func add(_ deltas: [TenantID: [UsageDelta]], month: UsageMonth) async throws -> [TenantID: Int]
    /// What the tenant used in `month`.
    func usage(tenant: TenantID, month: UsageMonth) async throws -> TenantUsage
    /// Removes a user's own counts in every month (an erased user); the tenant's totals keep them.
    func forget(tenant: TenantID, user: UserID) async throws
}
