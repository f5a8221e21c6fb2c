import Foundation
import Hummingbird
import ParleyCore
import ParleyRedis

/// `/api/v1/admin`: tenants, the audit log, feature flags and the feedback export. Every route
/// needs the admin role; those about one tenant act on the request's tenant (which the admin's
/// token must grant).
struct AdminController {
    let stores: TenantStores
    let control: any ControlStore
    let flags: FlagService
    /// The audit dead-letter stream (with Redis).
    let deadLetters: RedisAuditDeadLetters?

    func addRoutes(to group: RouterGroup<ParleyRequestContext>) {
        group.get("admin/tenants", use: listTenants)
        group.post("admin/tenants", use: provisionTenant)
        group.get("admin/audit", use: audit)
        group.get("admin/audit/dead-letters", use: listDeadLetters)
        group.post("admin/audit/dead-letters/{id}/replay", use: replayDeadLetter)
        group.get("admin/flags", use: tenantFlags)
        group.patch("admin/flags", use: changeTenantFlags)
        group.get("admin/flags/global", use: globalFlags)
        group.patch("admin/flags/global", use: changeGlobalFlags)
        group.get("admin/feedback", use: exportFeedback)
        group.get("admin/users/{user_id}/conversations/{id}", use: ConversationInspection(stores: stores).inspect)
    }

    // MARK: Tenants

    struct TenantEntry: Codable {
        let id: TenantID
    }

    struct TenantList: Encodable {
        let tenants: [TenantEntry]
    }

    @Sendable func listTenants(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        _ = try context.admin()
        return try jsonResponse(TenantList(tenants: try await stores.provider.tenants().map(TenantEntry.init)))
    }

    @Sendable func provisionTenant(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        _ = try context.admin()
        struct Body: Decodable { let id: String }
        let body = try await request.decodeJSON(Body.self, context: context)
        guard let tenant = TenantID(body.id) else {
            throw ParleyError.invalid(field: "id", reason: "must match ^[a-z][a-z0-9_]{0,62}$")
        }
        context.trace?.noteAudit(object: "tenant:\(tenant)")
        guard try await stores.provider.provision(tenant) else { throw ParleyError.conflict("tenant \(tenant) exists already") }
        return try jsonResponse(TenantEntry(id: tenant), status: .created)
    }

    // MARK: Audit dead letters

    struct DeadLetter: Encodable {
        let id: String
        let reason: String
        let event: AuditEvent?
    }

    struct DeadLetterPage: Encodable {
        let deadLetters: [DeadLetter]

        enum CodingKeys: String, CodingKey {
            case deadLetters = "dead_letters"
        }
    }

    /// Events the audit workers could not store, oldest first: the request's tenant's, or with
    /// `log=system` those of no tenant (and unreadable ones).
    @Sendable func listDeadLetters(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        _ = try context.admin()
        let deadLetters = try requireDeadLetters()
        let system = try Self.systemLog(request)
        let tenant = system ? nil : try context.scope().tenant
        let limit = try request.intQuery("limit", in: 1...1000) ?? 100
        let entries = try await deadLetters.list(limit: 10_000).filter { $0.event?.tenant == tenant }.prefix(limit)
        return try jsonResponse(DeadLetterPage(deadLetters: entries.map { DeadLetter(id: $0.id, reason: $0.reason, event: $0.event) }))
    }

    /// Puts a dead letter back in the audit queue; storing it twice is impossible (its event id).
    @Sendable func replayDeadLetter(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        _ = try context.admin()
        let deadLetters = try requireDeadLetters()
        let id = try context.parameters.require("id")
        guard id.utf8.count <= 40, id.allSatisfy({ $0.isNumber || $0 == "-" }) else {
            throw ParleyError.invalid(field: "id", reason: "must be a stream entry id such as 1700000000000-0")
        }
        let tenant = try Self.systemLog(request) ? nil : try context.scope().tenant
        let entries = try await deadLetters.list(after: nil, limit: 10_000)
        guard entries.contains(where: { $0.id == id && $0.event?.tenant == tenant }), try await deadLetters.replay(id) else {
            throw ParleyError.notFound("dead letter \(id)")
        }
        context.trace?.noteAudit(object: "audit-dead-letter:\(id)")
        return try jsonResponse(["replayed": id])
    }

    private func requireDeadLetters() throws -> RedisAuditDeadLetters {
        guard let deadLetters else {
            throw ParleyError.notFound("dead letters: they are kept in Redis, and redis.url is not set (see audit-dead-letter.jsonl)")
        }
        return deadLetters
    }

    static func systemLog(_ request: Request) throws -> Bool {
        switch request.uri.queryParameters["log"].map(String.init) {
        case "system"?: return true
        case nil, "tenant"?: return false
        case let other?: throw HTTPProblem.malformed("log must be tenant or system, not \(other.prefix(40))", field: "log")
        }
    }

    // MARK: Audit

    struct AuditEntry: Encodable {
        let record: AuditRecord

        enum CodingKeys: String, CodingKey {
            case seq, time, tenant, actor, action, object, outcome, ip, detail, hash
            case requestID = "request_id"
            case traceID = "trace_id"
            case previousHash = "prev_hash"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            let event = record.event
            try container.encode(record.sequence, forKey: .seq)
            try container.encode(event.time, forKey: .time)
            try container.encodeIfPresent(event.tenant, forKey: .tenant)
            try container.encode(event.actor, forKey: .actor)
            try container.encode(event.action, forKey: .action)
            try container.encodeIfPresent(event.object, forKey: .object)
            try container.encode(event.outcome, forKey: .outcome)
            try container.encodeIfPresent(event.ip, forKey: .ip)
            try container.encodeIfPresent(event.requestID, forKey: .requestID)
            try container.encodeIfPresent(event.traceID, forKey: .traceID)
            try container.encodeIfPresent(event.detail, forKey: .detail)
            try container.encode(record.previousHash, forKey: .previousHash)
            try container.encode(record.hash, forKey: .hash)
        }
    }

    struct AuditPage: Encodable {
        let log: String
        let events: [AuditEntry]
        let hasMore: Bool

        enum CodingKeys: String, CodingKey {
            case log, events
            case hasMore = "has_more"
        }
    }

    /// Newest first. `log=system` reads the system log (refused tokens, events of no tenant).
    @Sendable func audit(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        _ = try context.admin()
        let query = request.uri.queryParameters
        var filter = AuditFilter()
        filter.limit = try request.intQuery("limit", in: 1...1000) ?? 100
        filter.before = try request.intQuery("before", in: 1...Int.max)
        filter.action = try Self.text(query["action"].map(String.init), field: "action")
        if let action = filter.action, !Self.isActionName(action) {
            throw HTTPProblem.malformed("action must be an action name such as task or task.create", field: "action")
        }
        filter.actor = try Self.text(query["actor"].map(String.init), field: "actor")
        if let raw = query["outcome"].map(String.init) {
            guard let outcome = AuditEvent.Outcome(rawValue: raw) else {
                throw HTTPProblem.malformed(
                    "outcome must be one of \(AuditEvent.Outcome.allCases.map(\.rawValue).joined(separator: ", "))", field: "outcome")
            }
            filter.outcome = outcome
        }
        filter.since = try Self.date(query["since"].map(String.init), field: "since")
        filter.until = try Self.date(query["until"].map(String.init), field: "until")
        if let requestID = try Self.text(query["request_id"].map(String.init), field: "request_id") {
            filter.requestIDs = [requestID]
        }

        let logName: String
        let log: any AuditLogRepository
        switch query["log"].map(String.init) {
        case "system"?:
            logName = "system"
            log = control.systemAudit
        case nil, "tenant"?:
            let tenant = try context.scope().tenant
            logName = tenant.rawValue
            log = try await stores.store(for: tenant).audit
        case let other?:
            throw HTTPProblem.malformed("log must be tenant or system, not \(other.prefix(40))", field: "log")
        }
        let limit = filter.limit
        filter.limit += 1
        var records = try await log.query(filter)
        let hasMore = records.count > limit
        if hasMore { records.removeLast() }
        return try jsonResponse(AuditPage(log: logName, events: records.map(AuditEntry.init), hasMore: hasMore))
    }

    /// `task`, `task.create`, `audit.dead_letters.read`: lower-case words joined by dots.
    static func isActionName(_ text: String) -> Bool {
        text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { word in
            guard let first = word.unicodeScalars.first, ("a"..."z").contains(first) else { return false }
            return word.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
        }
    }

    static func text(_ raw: String?, field: String) throws -> String? {
        guard let raw, !raw.isEmpty else { return nil }
        guard raw.count <= 255 else { throw HTTPProblem.malformed("\(field) must be at most 255 characters", field: field) }
        return raw
    }

    /// An RFC 3339 time: `T` and `Z` in either case (RFC 3339 §5.6), fractional seconds optional.
    static func date(_ raw: String?, field: String) throws -> Date? {
        guard let raw, !raw.isEmpty else { return nil }
        let normalized = raw.uppercased()
        for style in timeStyles {
            if let date = try? style.parse(normalized) { return date }
        }
        throw HTTPProblem.malformed("\(field) must be an ISO 8601 time such as 2026-11-21T10:00:00Z", field: field)
    }

    static let timeStyles = [Date.ISO8601FormatStyle(), Date.ISO8601FormatStyle(includingFractionalSeconds: true)]

    // MARK: Flags

    struct FlagView: Encodable {
        let scope: String
        /// What requests of this scope see (defaults, then global, then the tenant's own).
        let effective: [String: JSONValue]
        /// What is set in this scope itself.
        let set: [String: JSONValue]
    }

    @Sendable func tenantFlags(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        _ = try context.admin()
        return try jsonResponse(try await view(.tenant(try context.scope().tenant)))
    }

    @Sendable func globalFlags(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        _ = try context.admin()
        return try jsonResponse(try await view(.global))
    }

    @Sendable func changeTenantFlags(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let admin = try context.admin()
        let scope = FlagScope.tenant(try context.scope().tenant)
        try await change(scope, request: request, context: context, actor: admin.user.rawValue)
        return try jsonResponse(try await view(scope))
    }

    @Sendable func changeGlobalFlags(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let admin = try context.admin()
        try await change(.global, request: request, context: context, actor: admin.user.rawValue)
        return try jsonResponse(try await view(.global))
    }

    /// Body: `{"chatbot.enabled": false, "model.route": null}`; `null` removes a setting. Every
    /// key and value is checked before anything changes.
    private func change(_ scope: FlagScope, request: Request, context: ParleyRequestContext, actor: String) async throws {
        let body = try await request.decodeJSON([String: JSONValue].self, context: context)
        guard !body.isEmpty else { throw ParleyError.invalid(field: "body", reason: "must name at least one flag") }
        var changes: [FeatureFlag: JSONValue?] = [:]
        for (name, value) in body {
            guard let flag = FeatureFlag(rawValue: name) else {
                throw ParleyError.invalid(
                    field: name, reason: "is not a flag (known: \(FeatureFlag.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            if value == .null {
                changes[flag] = .some(nil)
            } else if let problem = flag.problem(with: value) {
                throw ParleyError.invalid(field: name, reason: problem)
            } else {
                changes[flag] = value
            }
        }
        context.trace?.noteAudit(
            object: "flags:\(scope.storageKey)",
            detail: changes.keys.map(\.rawValue).sorted().map { name in
                let value = body[name].map { $0 == .null ? "unset" : Self.compact($0) } ?? ""
                return "\(name)=\(value)"
            }.joined(separator: ", "))
        try await flags.set(changes, in: scope, by: actor)
    }

    static func compact(_ value: JSONValue) -> String {
        String(decoding: (try? JSONCoding.encoder.encode(value)) ?? Data(), as: UTF8.self)
    }

    private func view(_ scope: FlagScope) async throws -> FlagView {
        let own = try await flags.values(in: scope)
        let effective: FeatureFlags
        switch scope {
        case .global: effective = FeatureFlags(global: own)
        case .tenant(let tenant): effective = try await flags.flags(for: tenant)
        }
        return FlagView(
            scope: scope.storageKey == "*" ? "global" : scope.storageKey,
            effective: Dictionary(uniqueKeysWithValues: effective.values.map { ($0.key.rawValue, $0.value) }),
            set: Dictionary(uniqueKeysWithValues: own.map { ($0.key.rawValue, $0.value) }))
    }

    // MARK: Feedback

    struct FeedbackPage: Encodable {
        let feedback: [FeedbackExportRow]
        /// Pass as `after` for the next page; absent on the last one.
        let nextAfter: Int?

        enum CodingKeys: String, CodingKey {
            case feedback
            case nextAfter = "next_after"
        }
    }

    @Sendable func exportFeedback(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        _ = try context.admin()
        let tenant = try context.scope().tenant
        let limit = try request.intQuery("limit", in: 1...1000) ?? 500
        let after = try request.intQuery("after", in: 1...Int.max)
        let since = try Self.date(request.uri.queryParameters["since"].map(String.init), field: "since")
        let rows = try await stores.store(for: tenant).feedbackExport.export(since: since, after: after, limit: limit + 1)
        let page = Array(rows.prefix(limit))
        return try jsonResponse(FeedbackPage(feedback: page, nextAfter: rows.count > limit ? page.last?.id : nil))
    }
}
