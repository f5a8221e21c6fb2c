import Foundation
import Testing

@testable import ParleyCore

@Suite("Server-sent events")
struct ServerSentEventParserTests {
    func events(_ text: String, limit: Int = 1 << 20, pieceSize: Int? = nil) throws -> [String] {
        var parser = ServerSentEventParser(maxEventBytes: limit)
        let bytes = Array(text.utf8)
        var out: [Data] = []
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + (pieceSize ?? bytes.count))
            out += try parser.feed(bytes[start..<end])
            start = end
        }
        out += parser.finish()
        return out.map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func readsWhatProvidersAndMCPServersSend() throws {
        let stream = "data: {\"a\":1}\n\n: keep-alive\n\nevent: message\r\nid: 7\r\ndata: {\"b\":\r\ndata:  2}\r\n\r\nid: 0\ndata: \n\nretry: 5\rdata: cr\r\rdata: last"
        let expected = ["{\"a\":1}", "{\"b\":\n 2}", "cr", "last"]
        #expect(try events(stream) == expected)
        // However the network splits it, down to one byte at a time (a CRLF or "é" across reads).
        for size in [1, 2, 3, 7] { #expect(try events(stream, pieceSize: size) == expected) }
        #expect(try events("data: é\r\n\r\n", pieceSize: 1) == ["é"])
        #expect(try events("data\n\ndata:x\n\n") == ["x"])  // a bare `data` line adds nothing but a separator
    }

    @Test func holdsNoMoreThanItsLimit() throws {
        #expect(throws: ServerSentEventParser.EventTooLarge.self) { try events("data: " + String(repeating: "x", count: 100), limit: 64) }
        // A line that never ends, and empty data lines that never end an event, are both bounded.
        var parser = ServerSentEventParser(maxEventBytes: 64)
        #expect(throws: ServerSentEventParser.EventTooLarge.self) {
            for _ in 0..<1000 { _ = try parser.feed(Array("data:\n".utf8)) }
        }
        #expect(try events("data: " + String(repeating: "x", count: 50) + "\n\n", limit: 64).first?.count == 50)
    }
}
