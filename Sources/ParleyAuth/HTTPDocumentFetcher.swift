import AsyncHTTPClient
import Foundation
import NIOCore

/// Fetches discovery documents and key sets with AsyncHTTPClient's shared pool: bounded in time
/// and size, and only a 200 counts.
public struct HTTPDocumentFetcher: DocumentFetcher {
    public static let maxBytes = 1 << 20

    let client: HTTPClient
    let timeout: TimeAmount

    public init(client: HTTPClient = .shared, timeout: TimeAmount = .seconds(5)) {
        self.client = client
        self.timeout = timeout
    }

    public func fetch(_ url: URL) async throws -> Data {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await client.execute(request, timeout: timeout)
        guard response.status == .ok else {
            throw AuthError("GET \(url.absoluteString) answered \(response.status.code)")
        }
        let body = try await response.body.collect(upTo: Self.maxBytes)
        return Data(body.readableBytesView)
    }
}

/// Tells `onFailure` of every fetch that failed (metrics: an identity provider that cannot be reached).
public struct FailureCountingFetcher: DocumentFetcher {
    let base: any DocumentFetcher
    let onFailure: @Sendable () -> Void

    public init(base: any DocumentFetcher, onFailure: @escaping @Sendable () -> Void) {
        self.base = base
        self.onFailure = onFailure
    }

    public func fetch(_ url: URL) async throws -> Data {
        do {
            return try await base.fetch(url)
        } catch {
            onFailure()
            throw error
        }
    }
}
