import Foundation
import ParleyCore

/// Usage in the control database: one process, and every write in the writer's queue, so a
/// reservation's read, check and count cannot interleave with another's.
struct SQLiteUsageLedger: UsageLedger {
    let database: SQLiteDatabase

    func reserve(tenant: TenantID, user: UserID, month: UsageMonth, limits: BudgetLimits) async throws -> BudgetReservation {
        let binds: [SQLiteValue] = [.text(tenant.rawValue), .text(month.description), .text(user.rawValue)]
        return try await database.transaction { connection in
            _ = try connection.query(
                """
                INSERT INTO model_usage (tenant, month, user_id, provider, model) VALUES (?1, ?2, '', '', ''), (?1, ?2, ?3, '', '')
                ON CONFLICT DO NOTHING
                """, binds)
            let rows = try connection.query(
                """
                SELECT user_id, completions, input_tokens, output_tokens FROM model_usage
                WHERE tenant = ?1 AND month = ?2 AND provider = '' AND model = '' AND user_id IN ('', ?3)
                """, binds)
            var tenantCounts = UsageCounts()
            var userCounts = UsageCounts()
            for row in rows {
                let counts = UsageCounts(
                    completions: try row.int("completions"), inputTokens: try row.int("input_tokens"), outputTokens: try row.int("output_tokens"))
                if try row.string("user_id").isEmpty { tenantCounts = counts } else { userCounts = counts }
            }
            if let refusal = limits.refusal(tenant: tenantCounts, user: userCounts, month: month) { return .exhausted(refusal) }
            _ = try connection.query(
                """
                UPDATE model_usage SET completions = completions + 1
                WHERE tenant = ?1 AND month = ?2 AND provider = '' AND model = '' AND user_id IN ('', ?3)
                """, binds)
            return .granted(completions: tenantCounts.completions + 1, tokens: tenantCounts.tokens)
        }
    }

    func add(_ deltas: [TenantID: [UsageDelta]], month: UsageMonth) async throws -> [TenantID: Int] {
        try await database.transaction { connection in
            var totals: [TenantID: Int] = [:]
            for (tenant, batch) in deltas {
                for (key, counts) in UsageRow.increments(batch) {
                    _ = try connection.query(
                        """
                        INSERT INTO model_usage (tenant, month, user_id, provider, model, completions, input_tokens, output_tokens)
                        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                        ON CONFLICT (tenant, month, user_id, provider, model) DO UPDATE SET
                            completions = completions + excluded.completions, input_tokens = input_tokens + excluded.input_tokens,
                            output_tokens = output_tokens + excluded.output_tokens
                        """,
                        [
                            .text(tenant.rawValue), .text(month.description), .text(key.user), .text(key.provider), .text(key.model),
                            .integer(counts.completions), .integer(counts.inputTokens), .integer(counts.outputTokens),
                        ])
                }
                let rows = try connection.query(
                    """
                    SELECT input_tokens + output_tokens AS tokens FROM model_usage
                    WHERE tenant = ?1 AND month = ?2 AND user_id = '' AND provider = '' AND model = ''
                    """, [.text(tenant.rawValue), .text(month.description)])
                totals[tenant] = try rows.first?.int("tokens") ?? 0
            }
            return totals
        }
    }

    func usage(tenant: TenantID, month: UsageMonth) async throws -> TenantUsage {
        let rows = try await database.query(
            "SELECT user_id, provider, model, completions, input_tokens, output_tokens FROM model_usage WHERE tenant = ?1 AND month = ?2",
            [.text(tenant.rawValue), .text(month.description)])
        return UsageRow.usage(
            of: try rows.map { row in
                UsageRow(
                    user: try row.string("user_id"), provider: try row.string("provider"), model: try row.string("model"),
                    counts: UsageCounts(
                        completions: try row.int("completions"), inputTokens: try row.int("input_tokens"),
                        outputTokens: try row.int("output_tokens")))
            })
    }

    func forget(tenant: TenantID, user: UserID) async throws {
        try await database.query(
            "DELETE FROM model_usage WHERE tenant = ?1 AND user_id = ?2", [.text(tenant.rawValue), .text(user.rawValue)])
    }
}
