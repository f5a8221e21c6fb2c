extension PIIKind {
    public static let iban = PIIKind(rawValue: "iban")
}

/// IBANs, plain or in groups of four, with the country's length and the mod-97 check.
struct IBANRecognizer: PIIRecognizer {
    let kind = PIIKind.iban

    func mayOccur(in text: PIIText) -> Bool { text.hasDigit }

    func recognize(in text: PIIText) -> [PIICandidate] {
        var scan = PIIScan(text)
        scan.scanIBANs()
        return scan.found
    }

    func normalize(_ value: String) -> String {
        String(value.unicodeScalars.filter { $0 != " " }).uppercased()
    }
}

extension PIIScan {
    static let ibanLengths: [String: Int] = [
        "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
        "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
        "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
        "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
        "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
        "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
        "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
        "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
        "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
    ]

    mutating func scanIBANs() {
        var i = 0
        while i + 4 < n {
            guard isASCIILetter(s[i]), isASCIILetter(s[i + 1]), isDigit(s[i + 2]), isDigit(s[i + 3]),
                  isASCIIUpper(s[i]) == isASCIIUpper(s[i + 1]), i == 0 || !isAlnum(s[i - 1])
            else { i += 1; continue }
            // Groups of ASCII letters/digits separated by single spaces; the first is "CCkk...".
            var groups: [(start: Int, end: Int)] = []
            var j = i
            while j < n {
                let g = j
                while j < n, s[j].isASCII, isAlnum(s[j]) { j += 1 }
                if j == g { break }
                if j < n, isLetter(s[j]) { break } // a non-ASCII letter glued on: not an IBAN group
                groups.append((g, j))
                if j + 1 < n, s[j] == " ", s[j + 1].isASCII, isAlnum(s[j + 1]), groups.count < 10 { j += 1 } else { break }
            }
            var matchedEnd: Int? = nil
            var k = groups.count
            while k >= 1 {
                if ibanShapeValid(groups, k), ibanValid(groups, k) { matchedEnd = groups[k - 1].end; break }
                k -= 1
            }
            if let end = matchedEnd {
                found.append(PIICandidate(kind: .iban, start: i, end: end))
                i = end
            } else {
                i += 1
            }
        }
    }

    private func ibanShapeValid(_ groups: [(start: Int, end: Int)], _ k: Int) -> Bool {
        if k == 1 { return true }
        for g in 0..<(k - 1) where groups[g].end - groups[g].start != 4 { return false }
        let last = groups[k - 1].end - groups[k - 1].start
        return last >= 1 && last <= 4
    }

    private func ibanValid(_ groups: [(start: Int, end: Int)], _ k: Int) -> Bool {
        var chars: [Unicode.Scalar] = []
        for g in 0..<k { chars.append(contentsOf: s[groups[g].start..<groups[g].end]) }
        guard chars.count >= 15, chars.count <= 34 else { return false }
        let upper = chars.map { isASCIILetter($0) ? Unicode.Scalar($0.value & ~0x20)! : $0 }
        // Letters in an IBAN are either all upper case or (someone typing) all lower case.
        let hasUpper = chars.contains { isASCIIUpper($0) }
        let hasLower = chars.contains { isASCIILetter($0) && !isASCIIUpper($0) }
        guard !(hasUpper && hasLower) else { return false }
        let country = String(String.UnicodeScalarView(upper[0..<2]))
        if let expected = Self.ibanLengths[country] {
            guard chars.count == expected else { return false }
        }
        let check = digitValue(upper[2]) * 10 + digitValue(upper[3])
        guard check >= 2, check <= 98 else { return false }
        // The BBAN must carry digits (not a word that happens to follow "AB12").
        guard upper[4...].contains(where: { isDigit($0) }) else { return false }
        var remainder = 0
        for c in upper[4...] + upper[0..<4] {
            if isDigit(c) {
                remainder = (remainder * 10 + digitValue(c)) % 97
            } else {
                remainder = (remainder * 100 + Int(c.value) - 55) % 97
            }
        }
        return remainder == 1
    }
}
