import Foundation
import Hummingbird
import ParleyCore

/// `GET /api/v1/admin/usage?month=YYYY-MM`: what the request's tenant spent on models in a month
/// (the current one, UTC, by default): calls and tokens in total, by provider's model and by
/// user, against the tenant's budgets. Admins only.
struct UsageController {
    let usage: UsageMeter
    let flags: FlagService

    struct Report: Encodable {
        let tenant: TenantID
        let month: String
        let completions: Int
        let inputTokens: Int
        let outputTokens: Int
        let tokens: Int
        let budget: Budget
        let models: [ModelRow]
        let users: [UserRow]

        enum CodingKeys: String, CodingKey {
            case tenant, month, completions, tokens, budget, models, users
            case inputTokens = "input_tokens"
            case outputTokens = "output_tokens"
        }
    }

    struct Budget: Encodable {
        let completions: Int?
        let tokens: Int?
        let remainingCompletions: Int?
        let remainingTokens: Int?
        let userCompletions: Int?
        let userTokens: Int?
        let onExhausted: BudgetExhaustedAction
        let resetsAt: Date

        enum CodingKeys: String, CodingKey {
            case completions, tokens
            case remainingCompletions = "remaining_completions"
            case remainingTokens = "remaining_tokens"
            case userCompletions = "user_completions"
            case userTokens = "user_tokens"
            case onExhausted = "on_exhausted"
            case resetsAt = "resets_at"
        }

        // `null` for no limit, rather than a missing member.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(completions, forKey: .completions)
            try container.encode(tokens, forKey: .tokens)
            try container.encode(remainingCompletions, forKey: .remainingCompletions)
            try container.encode(remainingTokens, forKey: .remainingTokens)
            try container.encode(userCompletions, forKey: .userCompletions)
            try container.encode(userTokens, forKey: .userTokens)
            try container.encode(onExhausted, forKey: .onExhausted)
            try container.encode(resetsAt, forKey: .resetsAt)
        }
    }

    struct ModelRow: Encodable {
        let provider: String
        let model: String
        let completions: Int
        let inputTokens: Int
        let outputTokens: Int

        enum CodingKeys: String, CodingKey {
            case provider, model, completions
            case inputTokens = "input_tokens"
            case outputTokens = "output_tokens"
        }
    }

    struct UserRow: Encodable {
        let userID: String
        let completions: Int
        let tokens: Int

        enum CodingKeys: String, CodingKey {
            case completions, tokens
            case userID = "user_id"
        }
    }

    func addRoutes(to group: RouterGroup<ParleyRequestContext>) {
        group.get("admin/usage", use: report)
    }

    @Sendable func report(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        _ = try context.admin()
        let tenant = try context.scope().tenant
        let month: UsageMonth
        if let text = request.uri.queryParameters["month"].map(String.init), !text.isEmpty {
            guard let parsed = UsageMonth(text) else { throw HTTPProblem.malformed("month must be a month like 2026-12 (YYYY-MM)", field: "month") }
            month = parsed
        } else {
            month = UsageMonth(containing: usage.now())
        }
        let used = try await usage.usage(tenant: tenant, month: month)
        let flags = try await flags.flags(for: tenant)
        let limits = usage.settings.limits(flags)
        return try jsonResponse(
            Report(
                tenant: tenant, month: month.description, completions: used.total.completions, inputTokens: used.total.inputTokens,
                outputTokens: used.total.outputTokens, tokens: used.total.tokens,
                budget: Budget(
                    completions: limits.completions, tokens: limits.tokens,
                    remainingCompletions: limits.completions.map { max(0, $0 - used.total.completions) },
                    remainingTokens: limits.tokens.map { max(0, $0 - used.total.tokens) },
                    userCompletions: limits.userCompletions, userTokens: limits.userTokens,
                    onExhausted: usage.settings.onExhausted(flags), resetsAt: month.next.start),
                models: used.models.sorted { $0.key < $1.key }.map {
                    ModelRow(
                        provider: $0.key.provider, model: $0.key.model, completions: $0.value.completions, inputTokens: $0.value.inputTokens,
                        outputTokens: $0.value.outputTokens)
                },
                users: used.users.sorted { $0.key.rawValue < $1.key.rawValue }.map {
                    UserRow(userID: $0.key.rawValue, completions: $0.value.completions, tokens: $0.value.tokens)
                }))
    }
}
