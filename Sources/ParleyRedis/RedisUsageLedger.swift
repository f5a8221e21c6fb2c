import Foundation
import ParleyCore

/// Usage in Redis: one hash per tenant and month, `parley:usage:{tenant}:YYYY-MM`, shared by every
/// replica. A reservation is one Lua script (read, check, count), so a budget of N lets exactly N
/// calls through however many replicas ask at once; counts are kept 400 days.
///
/// Fields: `c`, `i`, `o` (the tenant's calls, input and output tokens), `u␟{user}␟c|i|o` (a
/// user's) and `m␟{provider}␟{model}␟c|i|o` (a provider's model's), ␟ being U+001F, which
/// names do not contain.
public struct RedisUsageLedger: UsageLedger {
    let client: any RedisClient
    let keyPrefix: String
    static let retention = 400 * 86_400
    static let separator = "\u{1F}"

    public init(client: any RedisClient, keyPrefix: String = "parley:usage:") {
        self.client = client
        self.keyPrefix = keyPrefix
    }

    func key(_ tenant: TenantID, _ month: UsageMonth) -> String { "\(keyPrefix){\(tenant.rawValue)}:\(month)" }
    static func userPrefix(_ user: UserID) -> String { "u" + separator + user.rawValue + separator }

    public func reserve(tenant: TenantID, user: UserID, month: UsageMonth, limits: BudgetLimits) async throws -> BudgetReservation {
        let reply = try await client.run(
            Self.reserveScript, keys: [key(tenant, month)],
            arguments: [
                .string(Self.userPrefix(user)), .integer(limits.completions ?? 0), .integer(limits.tokens ?? 0),
                .integer(limits.userCompletions ?? 0), .integer(limits.userTokens ?? 0), .integer(Self.retention),
            ])
        guard let values = reply.array?.compactMap(\.int), values.count == 4 else {
            throw RedisClientError.unexpectedReply(command: "EVALSHA usage_reserve", reply: "\(reply)")
        }
        if values[0] == 1 { return .granted(completions: values[1], tokens: values[2]) }
        return .exhausted(
            BudgetExhausted(
                kind: values[1] == 1 ? .completions : .tokens, scope: values[2] == 1 ? .tenant : .user, limit: values[3], month: month))
    }

    public func add(_ deltas: [TenantID: [UsageDelta]], month: UsageMonth) async throws -> [TenantID: Int] {
        var totals: [TenantID: Int] = [:]
        for (tenant, batch) in deltas {
            var arguments: [RESPArgument] = [.integer(Self.retention)]
            func add(_ field: String, _ value: Int) {
                guard value != 0 else { return }
                arguments.append(.string(field))
                arguments.append(.integer(value))
            }
            for (row, counts) in UsageRow.increments(batch) {
                let prefix: String
                if row.user.isEmpty, row.provider.isEmpty {
                    prefix = ""
                } else if row.provider.isEmpty {
                    prefix = "u" + Self.separator + row.user + Self.separator
                } else {
                    prefix = "m" + Self.separator + row.provider + Self.separator + row.model + Self.separator
                }
                add(prefix + "c", counts.completions)
                add(prefix + "i", counts.inputTokens)
                add(prefix + "o", counts.outputTokens)
            }
            let reply = try await client.run(Self.addScript, keys: [key(tenant, month)], arguments: arguments)
            guard let tokens = reply.int else { throw RedisClientError.unexpectedReply(command: "EVALSHA usage_add", reply: "\(reply)") }
            totals[tenant] = tokens
        }
        return totals
    }

    public func usage(tenant: TenantID, month: UsageMonth) async throws -> TenantUsage {
        let reply = try await client.send(RESPCommand("HGETALL", .string(key(tenant, month))))
        guard let values = reply.array else { throw RedisClientError.unexpectedReply(command: "HGETALL", reply: "\(reply)") }
        var rows: [UsageRow.Key: UsageCounts] = [:]
        var index = 0
        while index + 1 < values.count {
            defer { index += 2 }
            guard let field = values[index].string, let value = values[index + 1].int else { continue }
            var parts = field.components(separatedBy: Self.separator)
            guard let counter = parts.popLast() else { continue }
            let row: UsageRow.Key
            switch parts.first {
            case nil: row = UsageRow.Key(user: "", provider: "", model: "")
            case "u" where parts.count == 2: row = UsageRow.Key(user: parts[1], provider: "", model: "")
            case "m" where parts.count == 3: row = UsageRow.Key(user: "", provider: parts[1], model: parts[2])
            default: continue
            }
            var counts = rows[row, default: UsageCounts()]
            switch counter {
            case "c": counts.completions = value
            case "i": counts.inputTokens = value
            case "o": counts.outputTokens = value
            default: continue
            }
            rows[row] = counts
        }
        return UsageRow.usage(of: rows.map { UsageRow(user: $0.key.user, provider: $0.key.provider, model: $0.key.model, counts: $0.value) })
    }

    public func forget(tenant: TenantID, user: UserID) async throws {
        // Every month still kept (400 days), whichever exist.
        var month = UsageMonth(containing: Date())
        var keys: [String] = []
        for _ in 0..<15 {
            keys.append(key(tenant, month))
            month = month.previous
        }
        _ = try await client.run(Self.forgetScript, keys: keys, arguments: [.string(Self.userPrefix(user))])
    }

    /// KEYS[1] the usage hash; ARGV[1] the user's field prefix; ARGV[2..5] the limits (tenant
    /// calls, tenant tokens, user calls, user tokens; 0 is none); ARGV[6] seconds to keep the hash.
    /// The rule is `BudgetLimits.refusal`'s: tenant before user, calls before tokens.
    /// Returns {1, calls after, tokens} or {0, kind (1 calls, 2 tokens), scope (1 tenant, 2 user), limit}.
    public static let reserveScript = RedisScript(
        """
        local u = ARGV[1]
        local v = redis.call('HMGET', KEYS[1], 'c', 'i', 'o', u .. 'c', u .. 'i', u .. 'o')
        local function n(x) return tonumber(x) or 0 end
        local calls, tokens = n(v[1]), n(v[2]) + n(v[3])
        local user_calls, user_tokens = n(v[4]), n(v[5]) + n(v[6])
        local checks = {
          {tonumber(ARGV[2]), calls, 1, 1}, {tonumber(ARGV[3]), tokens, 2, 1},
          {tonumber(ARGV[4]), user_calls, 1, 2}, {tonumber(ARGV[5]), user_tokens, 2, 2},
        }
        for _, check in ipairs(checks) do
          if check[1] > 0 and check[2] >= check[1] then return {0, check[3], check[4], check[1]} end
        end
        redis.call('HINCRBY', KEYS[1], 'c', 1)
        redis.call('HINCRBY', KEYS[1], u .. 'c', 1)
        redis.call('EXPIRE', KEYS[1], ARGV[6])
        return {1, calls + 1, tokens, 0}
        """)

    /// KEYS[1] the usage hash; ARGV[1] seconds to keep it; then field, increment pairs.
    /// Returns the tenant's tokens after the increments.
    public static let addScript = RedisScript(
        """
        for i = 2, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
        redis.call('EXPIRE', KEYS[1], ARGV[1])
        local v = redis.call('HMGET', KEYS[1], 'i', 'o')
        return (tonumber(v[1]) or 0) + (tonumber(v[2]) or 0)
        """)

    /// KEYS: usage hashes; ARGV[1] a user's field prefix: removes the user's fields from each.
    public static let forgetScript = RedisScript(
        """
        local removed = 0
        for _, key in ipairs(KEYS) do
          for _, field in ipairs(redis.call('HKEYS', key)) do
            if string.sub(field, 1, #ARGV[1]) == ARGV[1] then
              redis.call('HDEL', key, field)
              removed = removed + 1
            end
          end
        end
        return removed
        """)
}
