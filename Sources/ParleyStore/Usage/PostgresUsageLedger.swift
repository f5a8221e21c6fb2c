import Foundation
import ParleyCore
import PostgresNIO

/// Usage in the shared schema. A reservation locks the tenant's and the user's rows
/// (`FOR UPDATE`) for its check and count, so replicas without Redis still never let more calls
/// through than the budget allows.
struct PostgresUsageLedger: UsageLedger {
    let database: PostgresDatabase

    func reserve(tenant: TenantID, user: UserID, month: UsageMonth, limits: BudgetLimits) async throws -> BudgetReservation {
        let tenantID = tenant.rawValue
        let monthKey = month.description
        let userID = user.rawValue
        return try await database.transaction(in: .control) { connection, logger in
            try await connection.query(
                """
                INSERT INTO model_usage (tenant, month, user_id, provider, model)
                VALUES (\(tenantID), \(monthKey), '', '', ''), (\(tenantID), \(monthKey), \(userID), '', '')
                ON CONFLICT DO NOTHING
                """, logger: logger)
            let rows = try await connection.query(
                """
                SELECT user_id, completions, input_tokens, output_tokens FROM model_usage
                WHERE tenant = \(tenantID) AND month = \(monthKey) AND provider = '' AND model = '' AND user_id IN ('', \(userID))
                ORDER BY user_id FOR UPDATE
                """, logger: logger
            ).collect()
            var tenantCounts = UsageCounts()
            var userCounts = UsageCounts()
            for row in rows {
                let (who, completions, input, output) = try row.decode((String, Int, Int, Int).self)
                let counts = UsageCounts(completions: completions, inputTokens: input, outputTokens: output)
                if who.isEmpty { tenantCounts = counts } else { userCounts = counts }
            }
            if let refusal = limits.refusal(tenant: tenantCounts, user: userCounts, month: month) { return .exhausted(refusal) }
            try await connection.query(
                """
                UPDATE model_usage SET completions = completions + 1
                WHERE tenant = \(tenantID) AND month = \(monthKey) AND provider = '' AND model = '' AND user_id IN ('', \(userID))
                """, logger: logger)
            return .granted(completions: tenantCounts.completions + 1, tokens: tenantCounts.tokens)
        }
    }

    func add(_ deltas: [TenantID: [UsageDelta]], month: UsageMonth) async throws -> [TenantID: Int] {
        let monthKey = month.description
        return try await database.transaction(in: .control) { connection, logger in
            var totals: [TenantID: Int] = [:]
            // Rows in one order in every transaction, so two replicas' flushes cannot deadlock.
            for (tenant, batch) in deltas.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                let tenantID = tenant.rawValue
                let increments = UsageRow.increments(batch).sorted { ($0.key.user, $0.key.provider, $0.key.model) < ($1.key.user, $1.key.provider, $1.key.model) }
                for (key, counts) in increments {
                    try await connection.query(
                        """
                        INSERT INTO model_usage (tenant, month, user_id, provider, model, completions, input_tokens, output_tokens)
                        VALUES (\(tenantID), \(monthKey), \(key.user), \(key.provider), \(key.model), \(counts.completions),
                                \(counts.inputTokens), \(counts.outputTokens))
                        ON CONFLICT (tenant, month, user_id, provider, model) DO UPDATE SET
                            completions = model_usage.completions + excluded.completions,
                            input_tokens = model_usage.input_tokens + excluded.input_tokens,
                            output_tokens = model_usage.output_tokens + excluded.output_tokens
                        """, logger: logger)
                }
                let rows = try await connection.query(
                    """
                    SELECT input_tokens + output_tokens FROM model_usage
                    WHERE tenant = \(tenantID) AND month = \(monthKey) AND user_id = '' AND provider = '' AND model = ''
                    """, logger: logger
                ).collect()
                totals[tenant] = try rows.first?.decode(Int.self) ?? 0
            }
            return totals
        }
    }

    func usage(tenant: TenantID, month: UsageMonth) async throws -> TenantUsage {
        let tenantID = tenant.rawValue
        let monthKey = month.description
        let rows = try await database.transaction(in: .control) { connection, logger in
            try await connection.query(
                """
                SELECT user_id, provider, model, completions, input_tokens, output_tokens FROM model_usage
                WHERE tenant = \(tenantID) AND month = \(monthKey)
                """, logger: logger
            ).collect().map { row in
                let (user, provider, model, completions, input, output) = try row.decode((String, String, String, Int, Int, Int).self)
                return UsageRow(
                    user: user, provider: provider, model: model,
                    counts: UsageCounts(completions: completions, inputTokens: input, outputTokens: output))
            }
        }
        return UsageRow.usage(of: rows)
    }

    func forget(tenant: TenantID, user: UserID) async throws {
        let tenantID = tenant.rawValue
        let userID = user.rawValue
        try await database.transaction(in: .control) { connection, logger in
            try await connection.query("DELETE FROM model_usage WHERE tenant = \(tenantID) AND user_id = \(userID)", logger: logger)
            return ()
        }
    }
}
