// libFuzzer target: how the token verifier splits and decodes a bearer token before any key is
// involved (base64url segments, the JSON header and claims), on arbitrary bytes. Built with
// Sources/ParleyAuth/{UnverifiedJWT,Base64URL,AuthError}.swift and ParleyCore's JSONValue into one
// module by scripts/fuzz-parsers.sh (swiftc -sanitize=fuzzer,address).
//
// The first byte picks what the rest is: the token's text, or the bytes of its header (wrapped
// into a token here, so the JSON decoder sees arbitrary bytes, not only what survives base64url).
// Oracles beyond "no crash":
// - base64url is one spelling per value: decode(encode(bytes)) gives the bytes back, and any text
//   that decodes is exactly what encoding its bytes writes (no padding, stray bits or other alphabets);
// - a decoded header, written back as JSON, decodes to the same values (JSONValue round trip);
// - what the verifier then reads is bounded: a `kid` is never empty or longer than 256 bytes.

import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
    guard count > 0 else { return 0 }
    let rest = Data(UnsafeBufferPointer(start: data + 1, count: count - 1))
    check(Base64URL.decode(Base64URL.encode(rest)) == rest, "base64url does not round-trip")

    let token: String
    if data[0] & 1 == 0 {
        token = String(decoding: rest, as: UTF8.self)
    } else {
        token = Base64URL.encode(rest) + "." + Base64URL.encode(Data(#"{"iss":"https://idp.example"}"#.utf8)) + ".c2ln"
    }
    for segment in token.split(separator: ".", omittingEmptySubsequences: false) {
        if let bytes = Base64URL.decode(segment) {
            check(Base64URL.encode(bytes) == segment, "\(segment) decodes but is not the spelling of its bytes")
        }
    }
    guard let jwt = try? UnverifiedJWT(token) else { return 0 }
    if let kid = jwt.keyID {
        check(!kid.isEmpty && kid.utf8.count <= UnverifiedJWT.maxKeyIDLength, "an unbounded kid")
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    guard let header = try? encoder.encode(jwt.header) else {
        fail("a decoded header does not encode")
    }
    let parts = token.split(separator: ".", omittingEmptySubsequences: false)
    let rebuilt = Base64URL.encode(header) + "." + parts[1] + "." + parts[2]
    if rebuilt.utf8.count <= UnverifiedJWT.maxLength {
        guard let again = try? UnverifiedJWT(rebuilt) else { fail("a re-encoded header does not decode") }
        check(again.header == jwt.header, "the header changes when written back")
        check(again.claims == jwt.claims, "the claims change with the header")
    }
    return 0
}
