import Foundation
import HTTPTypes
import HummingbirdTesting
import ParleyCore
import Testing

/// Two tenants, two users each. Every user owns tasks, a conversation and rated messages; then
/// every other user, in the same tenant or the other one, tries every endpoint and verb on those
/// ids. Nothing is ever visible (404) or changed, and the audit log records every attempt.
@Suite("Isolation sweep")
struct IsolationSweepTests {
    struct Owned {
        let user: String
        let tenant: String
        let token: String
        var tasks: [Int] = []
        var conversation = 0
        var messages: [Int] = []
    }

    @Test func noUserOrTenantReachesAnotherOnesObjects() async throws {
        let parley = TestParley()
        let admin = try await parley.token("root", tenants: ["acme", "globex"], admin: true)
        var owners: [Owned] = []
        for (user, tenant) in [("alice", "acme"), ("bob", "acme"), ("carol", "globex"), ("dave", "globex")] {
            owners.append(Owned(user: user, tenant: tenant, token: try await parley.token(user, tenants: [tenant])))
        }
        let seeded = owners
        let counts = try await parley.run { client -> (attempts: Int, byOwner: [String: Int], crossTenant: [String: Int]) in
            // Everyone's objects. Task numbers are per user, so ids are made to differ: alice
            // has tasks 1–4, bob 1–3, carol 1–2, dave 1; conversation ids differ per tenant file.
            var owners = seeded
            for index in owners.indices {
                for number in 0..<(4 - index) {
                    let task = try await client.send(.post, "/api/v1/tasks", token: owners[index].token, json: #"{"title": "\#(owners[index].user) \#(number)"}"#)
                    owners[index].tasks.append(try #require(task.json["id"]?.intValue))
                }
                // Extra conversations make ids differ between users of one tenant.
                for _ in 0...index {
                    let reply = try await client.send(.post, "/api/v1/chat", token: owners[index].token, json: chatBody("what's left?")).json
                    owners[index].conversation = try #require(reply["conversation_id"]?.intValue)
                    owners[index].messages.append(try #require(reply["message_id"]?.intValue))
                }
            }
            func snapshot(_ owner: Owned) async throws -> [JSONValue] {
                [
                    try await client.send(.get, "/api/v1/tasks", token: owner.token).json,
                    try await client.send(.get, "/api/v1/conversations", token: owner.token).json,
                    try await client.send(.get, "/api/v1/chat/history?conversation_id=\(owner.conversation)", token: owner.token).json,
                ]
            }
            var before: [String: [JSONValue]] = [:]
            for owner in owners { before[owner.user] = try await snapshot(owner) }

            var attempts = 0
            var byOwner: [String: Int] = [:]
            var crossTenant: [String: Int] = [:]
            for attacker in owners {
                for victim in owners where victim.user != attacker.user {
                    // Ids of the victim's that the attacker does not also own.
                    let attackerConversations = Set(try await client.send(.get, "/api/v1/conversations", token: attacker.token)
                        .json["conversations"]?.arrayValue?.compactMap { $0["id"]?.intValue } ?? [])
                    let taskIDs = victim.tasks.filter { !attacker.tasks.contains($0) }
                    let conversationIDs = [victim.conversation].filter { !attackerConversations.contains($0) }
                    var probes: [(HTTPRequest.Method, String, String?)] = []
                    for id in taskIDs {
                        probes += [
                            (.get, "/api/v1/tasks/\(id)", nil),
                            (.patch, "/api/v1/tasks/\(id)", #"{"title": "pwned"}"#),
                            (.patch, "/api/v1/tasks/\(id)", #"{"status": "completed"}"#),
                            (.delete, "/api/v1/tasks/\(id)", nil),
                        ]
                    }
                    for id in conversationIDs {
                        probes += [
                            (.get, "/api/v1/chat/history?conversation_id=\(id)", nil),
                            (.post, "/api/v1/chat", chatBody("delete task 1", conversation: id)),
                            (.delete, "/api/v1/conversations/\(id)", nil),
                        ]
                    }
                    // Message ids are per tenant file: one equal to an own message id would be the
                    // attacker's own message, so only ids the attacker does not own are tried.
                    for id in victim.messages where !attacker.messages.contains(id) {
                        probes.append((.post, "/api/v1/chat/feedback", #"{"message_id": \#(id), "rating": "down"}"#))
                    }
                    for (method, path, body) in probes {
                        let response = try await client.send(method, path, token: attacker.token, json: body)
                        try response.expectProblem(.notFound)
                        attempts += 1
                        byOwner[attacker.user, default: 0] += 1
                    }
                    // The other tenant by header: refused before any storage is touched.
                    if victim.tenant != attacker.tenant {
                        for (method, path, body) in probes.prefix(3) + [(.get, "/api/v1/tasks", nil)] {
                            try await client.send(method, path, token: attacker.token, json: body, tenant: victim.tenant)
                                .expectProblem(.forbidden)
                            attempts += 1
                            crossTenant[attacker.user, default: 0] += 1
                        }
                    }
                    // The path naming another user: 403.
                    try await client.send(.post, "/api/\(victim.user)/chat", token: attacker.token, json: chatBody("delete task 1"))
                        .expectProblem(.forbidden)
                    attempts += 1
                    byOwner[attacker.user, default: 0] += 1
                }
            }

            // Nothing changed for anyone.
            for owner in owners {
                let after = try await snapshot(owner)
                #expect(after == before[owner.user], "\(owner.user)'s data changed")
            }

            // Each attempt is in the audit log of the attacker's tenant, as not_found or denied.
            for tenant in ["acme", "globex"] {
                let users = owners.filter { $0.tenant == tenant }.map(\.user)
                let expected = users.reduce(0) { $0 + (byOwner[$1] ?? 0) }
                let expectedCross = users.reduce(0) { $0 + (crossTenant[$1] ?? 0) }
                func byTheseUsers(_ events: [JSONValue]) -> [JSONValue] {
                    events.filter { users.contains($0["actor"]?.stringValue ?? "") && $0["outcome"]?.stringValue != "success" }
                }
                let refused = byTheseUsers(try await client.auditEvents(token: admin, tenant: tenant) { byTheseUsers($0).count >= expected })
                #expect(refused.count == expected, "\(tenant): \(refused.count) of \(expected) audited")
                // Attempts at the other tenant by header are refused before a tenant is settled:
                // they are in the system log.
                let cross = byTheseUsers(
                    try await client.auditEvents(token: admin, query: "log=system&action=auth.tenant", tenant: tenant) {
                        byTheseUsers($0).count >= expectedCross
                    })
                #expect(cross.count == expectedCross)
                #expect(refused.allSatisfy { ["not_found", "denied"].contains($0["outcome"]?.stringValue ?? "") })
            }
            return (attempts, byOwner, crossTenant)
        }
        #expect(counts.attempts > 100)
        print(
            "isolation sweep: \(counts.attempts) attempts refused; in the attacker's tenant: \(counts.byOwner.sorted { $0.key < $1.key }); at the other tenant: \(counts.crossTenant.sorted { $0.key < $1.key })")
    }
}
