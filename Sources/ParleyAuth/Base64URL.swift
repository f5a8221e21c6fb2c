import Foundation

/// Base64url without padding (RFC 7515 §2), as JWS segments and JWK members use it.
enum Base64URL {
    static func encode(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The bytes of `text`, or `nil` when it is not their one base64url spelling: only
    /// `A–Z a–z 0–9 - _`, no padding, no whitespace, and no stray bits in the last character
    /// (Foundation would read `QR` as `QQ`; one text per value keeps tokens from having twins).
    static func decode(_ text: some StringProtocol) -> Data? {
        var base64 = ""
        base64.reserveCapacity(text.utf8.count + 3)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                base64.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "-"): base64 += "+"
            case UInt8(ascii: "_"): base64 += "/"
            default: return nil
            }
        }
        switch base64.utf8.count % 4 {
        case 1: return nil
        case 2: base64 += "=="
        case 3: base64 += "="
        default: break
        }
        guard let data = Data(base64Encoded: base64), encode(data).utf8.elementsEqual(text.utf8) else { return nil }
        return data
    }
}
