import Foundation
import ParleyCore

/// Rate limits in Redis: GCRA in one Lua script on Redis's clock (`TIME`), so every replica
/// shares one limit and one clock. The arithmetic is `RateLimitDecision.gcra`'s, line for line.
///
/// Errors (Redis down, timeout) are thrown: `RateLimitGate` applies fail-open or fail-closed.
public struct RedisRateLimiter: RateLimiter {
    let client: any RedisClient
    let keyPrefix: String
    /// `nil`: the client's command timeout (`redis.timeoutMilliseconds`). While Redis is down the
    /// pool's back-off makes most checks fail at once anyway.
    let timeout: Duration?

    public init(client: any RedisClient, keyPrefix: String = "parley:rl:", timeout: Duration? = nil) {
        self.client = client
        self.keyPrefix = keyPrefix
        self.timeout = timeout
    }

    public func check(_ key: String, policy: RateLimitPolicy, consume: Bool) async throws -> RateLimitDecision {
        // The same Double the in-process limiter computes with.
        let window = policy.window.seconds
        let reply = try await client.run(
            Self.gcra, keys: [keyPrefix + key],
            arguments: [.double(window), .integer(policy.limit), consume ? "1" : "0"], timeout: timeout)
        guard let values = reply.array, values.count == 4, let allowed = values[0].int, let remaining = values[1].int,
            let reset = values[2].int, let retry = values[3].int
        else {
            throw RedisClientError.unexpectedReply(command: "EVALSHA gcra", reply: "\(reply)")
        }
        return RateLimitDecision(
            allowed: allowed == 1, policy: policy, remaining: remaining, resetSeconds: reset, retryAfterSeconds: retry)
    }

    /// Every check of a request in one round trip (`gcraAll`): counted only if all allow it.
    public func check(all checks: [RateLimitCheck]) async throws -> [RateLimitDecision] {
        if checks.count == 1 { return [try await check(checks[0].key, policy: checks[0].policy, consume: checks[0].consume)] }
        if checks.isEmpty { return [] }
        var arguments: [RESPArgument] = []
        for check in checks {
            arguments.append(.double(check.policy.window.seconds))
            arguments.append(.integer(check.policy.limit))
            arguments.append(check.consume ? "1" : "0")
        }
        let reply = try await client.run(Self.gcraAll, keys: checks.map { keyPrefix + $0.key }, arguments: arguments, timeout: timeout)
        let values = reply.array?.compactMap(\.int) ?? []
        guard values.count == 4 * checks.count else {
            throw RedisClientError.unexpectedReply(command: "EVALSHA gcra_all", reply: "\(reply)")
        }
        return checks.enumerated().map { index, check in
            let base = 4 * index
            return RateLimitDecision(
                allowed: values[base] == 1, policy: check.policy, remaining: values[base + 1], resetSeconds: values[base + 2],
                retryAfterSeconds: values[base + 3])
        }
    }

    /// The GCRA script (a test checks that Redis's `SCRIPT LOAD` returns `gcra.sha1`).
    public static let gcra = RedisScript(
        """
        -- GCRA on Redis's clock: the same arithmetic as RateLimitDecision.gcra in
        -- Sources/ParleyCore/RateLimit.swift, run atomically, so one limit holds across every replica.
        --
        -- KEYS[1]  the limit's key; its value is the TAT (theoretical arrival time of the next request,
        --          Unix seconds as a decimal string written with %.17g, which round-trips a double)
        -- ARGV[1]  the window in seconds, as Swift prints a Double ("60.0", "0.5")
        -- ARGV[2]  the limit (requests per window, > 0)
        -- ARGV[3]  "1": count this request; "0": only look (the auth-failure gate peeks)
        --
        -- Returns {allowed (1 or 0), remaining, reset_seconds, retry_after_seconds}: integers only,
        -- because Redis truncates a Lua number to an integer on the way out.
        --
        -- Two traps this avoids: a Lua number handed to redis.call is converted with "%.14g", which
        -- would round a 16-digit timestamp (so the TAT is formatted explicitly); and a missing key is
        -- `false`, not nil, in Redis Lua.
        local time = redis.call('TIME')
        local now = tonumber(time[1]) + tonumber(time[2]) / 1000000

        local window = tonumber(ARGV[1])
        local limit = tonumber(ARGV[2])
        local consume = ARGV[3] == '1'
        if not window or not limit or window <= 0 or limit <= 0 then
          return redis.error_reply('ERR gcra: bad window or limit')
        end

        local interval = window / limit          -- policy.emissionInterval
        local burst = interval * limit           -- the whole window

        local stored = redis.call('GET', KEYS[1])
        local stored_tat = nil
        if stored then stored_tat = tonumber(stored) end

        local tat = math.max(stored_tat or now, now)
        local new_tat = tat + interval
        local allow_at = new_tat - burst

        if allow_at > now + 1e-9 then
          local retry = math.ceil(allow_at - now)
          if retry < 1 then retry = 1 end
          return {0, 0, math.ceil(tat - now), retry}
        end

        local after = tat
        if consume then
          after = new_tat
          -- Kept while it still matters (a TAT in the past is the same as none), plus a second.
          local ttl_ms = math.ceil((new_tat - now) * 1000) + 1000
          redis.call('SET', KEYS[1], string.format('%.17g', new_tat), 'PX', string.format('%d', ttl_ms))
        end

        local remaining = math.floor((burst - (after - now)) / interval)
        if remaining < 0 then remaining = 0 end
        return {1, remaining, math.ceil(after - now), 0}
        """)

    /// `gcra` for several keys at once, atomically: KEYS[i] with ARGV[3i-2..3i] (window, limit,
    /// consume), on one reading of Redis's clock. Nothing is counted unless every key allows the
    /// request. Returns {allowed, remaining, reset_seconds, retry_after_seconds} for each key, in
    /// order, as one flat array. The keys of one request share no hash tag: on Redis Cluster they
    /// would need one ({tenant}), on a single Redis (Parley's setup) any keys work.
    public static let gcraAll = RedisScript(
        """
        -- The arithmetic of gcra above (and of RateLimitDecision.gcra), for each key.
        local time = redis.call('TIME')
        local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
        local counted, looked, sets = {}, {}, {}
        local all_allowed = true
        for i = 1, #KEYS do
          local window = tonumber(ARGV[3 * i - 2])
          local limit = tonumber(ARGV[3 * i - 1])
          local consume = ARGV[3 * i] == '1'
          if not window or not limit or window <= 0 or limit <= 0 then
            return redis.error_reply('ERR gcra_all: bad window or limit')
          end
          local interval = window / limit
          local burst = interval * limit
          local stored = redis.call('GET', KEYS[i])
          local stored_tat = nil
          if stored then stored_tat = tonumber(stored) end
          local tat = math.max(stored_tat or now, now)
          local new_tat = tat + interval
          local allow_at = new_tat - burst
          if allow_at > now + 1e-9 then
            local retry = math.ceil(allow_at - now)
            if retry < 1 then retry = 1 end
            all_allowed = false
            local refused = {0, 0, math.ceil(tat - now), retry}
            counted[i] = refused
            looked[i] = refused
          else
            local peek_remaining = math.floor((burst - (tat - now)) / interval)
            if peek_remaining < 0 then peek_remaining = 0 end
            looked[i] = {1, peek_remaining, math.ceil(tat - now), 0}
            if consume then
              local remaining = math.floor((burst - (new_tat - now)) / interval)
              if remaining < 0 then remaining = 0 end
              counted[i] = {1, remaining, math.ceil(new_tat - now), 0}
              sets[#sets + 1] = {KEYS[i], new_tat}
            else
              counted[i] = looked[i]
            end
          end
        end
        local chosen = looked
        if all_allowed then
          chosen = counted
          for _, set in ipairs(sets) do
            local ttl_ms = math.ceil((set[2] - now) * 1000) + 1000
            redis.call('SET', set[1], string.format('%.17g', set[2]), 'PX', string.format('%d', ttl_ms))
          end
        end
        local out = {}
        for i = 1, #KEYS do
          for j = 1, 4 do out[#out + 1] = chosen[i][j] end
        end
        return out
        """)
}
