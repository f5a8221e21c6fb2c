import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@testable import ParleyRedis

@Suite("RESP wire format")
struct RESPTests {
    func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }
    func utf8(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func decodesEveryReplyKindEvenWhenTheBytesArriveOneByOne() throws {
        let pairs: [(ByteBuffer, [RESPValue])] = [
            (buffer("+OK\r\n"), [.simpleString("OK")]),
            (buffer("-NOSCRIPT No matching script\r\n"), [.error(RedisServerError(message: "NOSCRIPT No matching script"))]),
            (buffer(":-42\r\n"), [.integer(-42)]),
            (buffer("$5\r\nh\r\nlo\r\n"), [.bulkString(utf8("h\r\nlo"))]),
            (buffer("$-1\r\n*-1\r\n"), [.null, .null]),
            (buffer("*0\r\n"), [.array([])]),
            (
                buffer("*2\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nk\r\n$2\r\nvé\r\n:7\r\n".replacingOccurrences(of: "$2\r\nvé", with: "$3\r\nvé")),
                [.array([.array([.bulkString(utf8("1-0")), .array([.bulkString(utf8("k")), .bulkString(utf8("vé"))])]), .integer(7)])]
            ),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { RESPValueDecoder() }
    }

    @Test(arguments: ["?x\r\n", ":12a\r\n", "$3\r\nabcXY", "+OK\rX", "$-7\r\n", "*-3\r\n"])
    func refusesWhatIsNotRESP(_ input: String) {
        var bytes = ByteBuffer(string: input)
        #expect(throws: RedisClientError.self) { _ = try RESPParser().parse(&bytes) }
    }

    @Test func refusesNestingBeyondTheLimit() {
        var limits = RESPParser.Limits()
        limits.maxDepth = 3
        var bytes = ByteBuffer(string: String(repeating: "*1\r\n", count: 5) + ":1\r\n")
        #expect(throws: RedisClientError.self) { _ = try RESPParser(limits: limits).parse(&bytes) }
    }

    @Test func leavesAnIncompleteValueUntouched() throws {
        var bytes = ByteBuffer(string: "*2\r\n:1\r\n$3\r\nab")
        #expect(try RESPParser().parse(&bytes) == nil)
        #expect(bytes.readerIndex == 0)
        bytes.writeString("c\r\n")
        #expect(try RESPParser().parse(&bytes) == .array([.integer(1), .bulkString(utf8("abc"))]))
        #expect(bytes.readableBytes == 0)
    }

    @Test func encodesCommandsWithByteLengths() {
        var out = ByteBuffer()
        RESPCommand("SET", "clé", .integer(10)).encode(into: &out)
        #expect(String(buffer: out) == "*3\r\n$3\r\nSET\r\n$4\r\nclé\r\n$2\r\n10\r\n")
        #expect(RESPCommand("AUTH", "parley", "secret").description == "AUTH (2 arguments)")
    }

    @Test func parsesRedisURLs() throws {
        let full = try RedisConfiguration(url: "redis://parley:p%40ss@cache.internal:6380/2")
        #expect(full.host == "cache.internal" && full.port == 6380 && full.database == 2)
        #expect(full.username == "parley" && full.password == "p@ss")
        #expect(!full.description.contains("p@ss"))
        let passwordOnly = try RedisConfiguration(url: "redis://:secret@127.0.0.1")
        #expect(passwordOnly.username == nil && passwordOnly.password == "secret" && passwordOnly.port == 6379)
        for bad in ["rediss://h", "http://h", "redis://h/x", "redis://user@h"] {
            #expect(throws: RedisClientError.self) { try RedisConfiguration(url: bad) }
        }
    }
}
