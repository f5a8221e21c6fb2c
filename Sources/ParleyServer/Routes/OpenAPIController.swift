import Foundation
import Hummingbird
import Logging
import NIOCore
import ParleyCore

/// The API contract: `Sources/ParleyServer/OpenAPI/openapi.yaml`, written by hand next to the
/// routes it describes, and `openapi.json` generated from it (`scripts/openapi-json.py`). Tests
/// hold the document to the router (the same method and path pairs) and the fuzzer
/// (`scripts/fuzz-api.sh`) holds Parley to the document. Read once at start.
struct OpenAPIDocument: Sendable {
    static let files = ["openapi.yaml": "application/yaml; charset=utf-8", "openapi.json": "application/json"]

    let bodies: [String: ByteBuffer]

    /// Empty (and the routes answer 404) when the resource bundle is missing.
    static func load(logger: Logger) -> OpenAPIDocument {
        for directory in ServerResources.candidates("OpenAPI") {
            var bodies: [String: ByteBuffer] = [:]
            for name in files.keys {
                guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path) else { break }
                bodies[name] = ByteBuffer(bytes: data)
            }
            if bodies.count == files.count { return OpenAPIDocument(bodies: bodies) }
        }
        logger.warning("the OpenAPI document was not found; /openapi.yaml answers 404")
        return OpenAPIDocument(bodies: [:])
    }
}

/// `GET /openapi.yaml` and `GET /openapi.json`, no token needed.
struct OpenAPIController {
    let document: OpenAPIDocument

    func addRoutes(to router: Router<ParleyRequestContext>) {
        for (name, contentType) in OpenAPIDocument.files {
            let body = document.bodies[name]
            router.get(RouterPath(name)) { _, _ in
                guard let body else { throw ParleyError.notFound("the OpenAPI document (this build has no resource bundle)") }
                return Response(
                    status: .ok, headers: [.contentType: contentType, .cacheControl: "max-age=300"], body: .init(byteBuffer: body))
            }
        }
    }
}

/// Where SwiftPM puts ParleyServer's resources: `parley_ParleyServer.resources/` next to the
/// executable (or one level up, as for a test runner's bundle). Looked up by hand, not through
/// `Bundle.module`, which stops the process when the bundle is missing.
enum ServerResources {
    static func candidates(_ subdirectory: String) -> [URL] {
        [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()].map {
            $0.appendingPathComponent("parley_ParleyServer.resources/\(subdirectory)", isDirectory: true)
        }
    }
}
