import Foundation
import HTTPTypes
import Hummingbird
import ParleyCore

/// An RFC 9457 problem detail, the body of every error response.
struct Problem: Encodable, Sendable {
    var type: String = "about:blank"
    var title: String
    var status: Int
    var detail: String
    var instance: String?
    var field: String?
    /// The rate-limit policy that refused the request.
    var policy: String?
    /// The spent budget that refused a chat turn.
    var budget: BudgetProblem?
    var requestID: String?

    enum CodingKeys: String, CodingKey {
        case type, title, status, detail, instance, field, policy
        case requestID = "request_id"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(type, forKey: .type)
        try container.encode(title, forKey: .title)
        try container.encode(status, forKey: .status)
        try container.encode(detail, forKey: .detail)
        try container.encodeIfPresent(instance, forKey: .instance)
        try container.encodeIfPresent(field, forKey: .field)
        try container.encodeIfPresent(policy, forKey: .policy)
        try container.encodeIfPresent(requestID, forKey: .requestID)
        // Its members sit beside the others (RFC 9457 extension members).
        try budget?.encode(to: encoder)
    }
}

/// Which budget is spent, and when it renews.
struct BudgetProblem: Encodable, Sendable {
    let budget: BudgetKind
    let scope: BudgetScope
    let limit: Int
    let resetsAt: Date

    enum CodingKeys: String, CodingKey {
        case budget, scope, limit
        case resetsAt = "resets_at"
    }
}

/// An error that already knows its status and words.
struct HTTPProblem: Error, Sendable {
    let status: HTTPResponse.Status
    let detail: String
    var field: String? = nil
    var headers: HTTPFields = [:]
    var policy: String? = nil
    var budget: BudgetProblem? = nil

    static func malformed(_ detail: String, field: String? = nil) -> HTTPProblem {
        HTTPProblem(status: .badRequest, detail: detail, field: field)
    }
}

extension HTTPProblem {
    /// Maps anything thrown while handling a request to what the caller may be told.
    /// Unknown errors become a 500 without detail (the log has it).
    static func from(_ error: any Error) -> HTTPProblem {
        switch error {
        case let problem as HTTPProblem:
            return problem
        case let error as ParleyError:
            switch error {
            case .invalid(let field, let reason):
                // A member whose name is empty (`{"": …}`) has no name to point at.
                guard !field.isEmpty else {
                    return HTTPProblem(status: .unprocessableContent, detail: "the member with an empty name \(reason)")
                }
                return HTTPProblem(status: .unprocessableContent, detail: "\(field) \(reason)", field: field)
            case .notFound(let what): return HTTPProblem(status: .notFound, detail: "\(what) not found")
            case .forbidden(let why): return HTTPProblem(status: .forbidden, detail: why)
            case .conflict(let why): return HTTPProblem(status: .conflict, detail: why)
            case .unauthorized(let why):
                return HTTPProblem(status: .unauthorized, detail: why, headers: [.wwwAuthenticate: "Bearer"])
            case .unavailable(let why): return HTTPProblem(status: .serviceUnavailable, detail: why)
            }
        case let exhausted as BudgetExhausted:
            let seconds = max(1, Int(exhausted.resetsAt.timeIntervalSinceNow.rounded(.up)))
            return HTTPProblem(
                status: .tooManyRequests, detail: "\(exhausted); it renews on \(exhausted.resetsAt.formatted(.iso8601))",
                headers: [.retryAfter: "\(seconds)"],
                budget: BudgetProblem(budget: exhausted.kind, scope: exhausted.scope, limit: exhausted.limit, resetsAt: exhausted.resetsAt))
        case let error as HTTPError:
            let detail = error.body ?? Self.defaultDetail(error.status)
            return HTTPProblem(status: error.status, detail: detail, headers: error.headers)
        case let error as any HTTPResponseError:
            return HTTPProblem(status: error.status, detail: Self.defaultDetail(error.status))
        default:
            return HTTPProblem(status: .internalServerError, detail: "internal error")
        }
    }

    static func defaultDetail(_ status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: "no such resource"
        case .methodNotAllowed: "method not allowed on this resource"
        case .contentTooLarge: "request body larger than \(ParleyRequestContext.maxBodyBytes) bytes"
        default: status.reasonPhrase
        }
    }

    func response(requestID: String, path: String) -> Response {
        let problem = Problem(
            title: status.reasonPhrase, status: status.code, detail: detail, instance: path, field: field,
            policy: policy, budget: budget, requestID: requestID)
        var headers = headers
        headers[.contentType] = "application/problem+json"
        let body = (try? JSONCoding.encoder.encode(problem)) ?? Data()
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Shared coders: created once, used by every request.
enum JSONCoding {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static let decoder = JSONDecoder()
}
