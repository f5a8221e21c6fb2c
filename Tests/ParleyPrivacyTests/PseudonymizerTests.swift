import Foundation
import Testing

@testable import ParleyPrivacy

@Suite("PII detection")
struct PIIDetectorTests {
    private func found(_ text: String) -> [String] {
        PIIDetector.detect(in: text).map { "\($0.kind.rawValue):\($0.value)" }
    }

    @Test(arguments: [
        ("add a task to email jane.doe@example.com about the invoice", "email:jane.doe@example.com"),
        ("reply to support+billing@mail.example.org today", "email:support+billing@mail.example.org"),
    ])
    func findsEmails(text: String, expected: String) {
        #expect(found(text) == [expected])
    }

    @Test(arguments: [
        ("remind me to ring +44 20 7946 0958", "phone:+44 20 7946 0958"),
        ("call the plumber at +1-202-555-0143", "phone:+1-202-555-0143"),
        ("venue: +49 (0)30 123456", "phone:+49 (0)30 123456"),
        ("the garage is (202) 555-0143", "phone:(202) 555-0143"),
        ("the garage is 202-555-0143", "phone:202-555-0143"),
        ("ring the dentist 020 7946 0958", "phone:020 7946 0958"),
        ("my mobile is 0171 1234567", "phone:0171 1234567"),
    ])
    func findsPhones(text: String, expected: String) {
        #expect(found(text) == [expected])
    }

    @Test(arguments: [
        "move task 12 to 2026-11-21 at 10:30",
        "budget is $1,250.00 for the offsite",
        "update the app to version 1.2.3",
        "remind me on 21.11.2026 and again in 2027",
        "order 1234567890 is late, ticket #4567890 too",
        "the 9-5 job, room 204, 15 tasks",
    ])
    func leavesOrdinaryNumbersAlone(text: String) {
        #expect(found(text) == [])
    }

    @Test func acceptsLuhnValidCardsOnly() {
        #expect(found("card 4111 1111 1111 1111 please") == ["card:4111 1111 1111 1111"])
        #expect(found("amex 3782 822463 10005") == ["card:3782 822463 10005"])
        #expect(found("use 5555-5555-5555-4444") == ["card:5555-5555-5555-4444"])
        // One digit off: Luhn fails, so it is just a number.
        #expect(found("card 4111 1111 1111 1112 please") == [])
        #expect(found("order 1234567890123456") == [])
    }

    @Test func acceptsMod97ValidIBANsOnly() {
        #expect(found("pay DE89370400440532013000 today") == ["iban:DE89370400440532013000"])
        #expect(found("IBAN: GB82 WEST 1234 5698 7654 32, thanks") == ["iban:GB82 WEST 1234 5698 7654 32"])
        #expect(found("to FR1420041010050500013M02606") == ["iban:FR1420041010050500013M02606"])
        // Last digit changed: the checksum fails, and the digits are no phone or card either.
        #expect(found("pay DE89370400440532013001 today") == [])
        #expect(found("IBAN DE89 3704 0044 0532 0130 01 bounced") == [])
    }

    @Test func findsIPAddressesButNotVersionsOrTimes() {
        #expect(found("whitelist 192.0.2.44 on the firewall") == ["ip:192.0.2.44"])
        #expect(found("block 2001:db8::1 and 2001:db8:0:0:0:0:0:2") == ["ip:2001:db8::1", "ip:2001:db8:0:0:0:0:0:2"])
        #expect(found("upgrade to 1.2.3.4.5") == [])
        #expect(found("not an address: 192.0.2.300") == [])
        #expect(found("meet at 10:30, then 10:30:45") == [])
    }

    @Test(arguments: [
        ("My name is Anna Schmidt, add a task", "person:Anna Schmidt"),
        ("I'm Jean-Luc Moreau", "person:Jean-Luc Moreau"),
        ("remind me to call Sarah O'Brien tomorrow", "person:Sarah O'Brien"),
        ("meeting with Ludwig van Berkel at 3", "person:Ludwig van Berkel"),
        ("Please add buy milk.\n\nThanks,\nAnna Schmidt", "person:Anna Schmidt"),
        ("move the dentist to Friday\n— Maria", "person:Maria"),
        ("ask Dr. Patel about the results", "person:Patel"),
    ])
    func findsCuedPeople(text: String, expected: String) {
        #expect(found(text) == [expected])
    }

    @Test(arguments: [
        "call mom tomorrow", "call the bank about the fee", "I'm busy until 3", "I'm tired", "meet with the team on Monday",
        "Meeting with Acme Corp on Thursday", "ask Siri to set a timer", "Thanks!", "from Monday to Friday",
    ])
    func findsNoPersonWithoutAName(text: String) {
        #expect(found(text) == [])
    }

    @Test func matchesAreSortedAndDoNotOverlap() {
        let text = "call Anna at +49 30 1234567, email anna@example.com, card 4111111111111111, ip 192.0.2.1"
        let matches = PIIDetector.detect(in: text)
        #expect(matches.map(\.kind) == [.person, .phone, .email, .card, .ip])
        for (a, b) in zip(matches, matches.dropFirst()) {
            #expect(a.range.upperBound <= b.range.lowerBound)
        }
        for match in matches {
            #expect(String(text[match.range]) == match.value)
        }
    }
}

@Suite("Pseudonym map")
struct PseudonymMapTests {
    @Test func sameValueKeepsItsPlaceholderAcrossCalls() {
        var map = PseudonymMap()
        #expect(map.isEmpty)
        let first = map.pseudonymize("email jane@example.com and call +44 20 7946 0958")
        #expect(first == "email <EMAIL_1> and call <PHONE_1>")
        let second = map.pseudonymize("did jane@example.com answer?")
        #expect(second == "did <EMAIL_1> answer?")
        let third = map.pseudonymize("also cc tom@example.com and jane@example.com")
        #expect(third == "also cc <EMAIL_2> and <EMAIL_1>")
        #expect(!map.isEmpty)
        #expect(map.placeholders == [
            "<EMAIL_1>": "jane@example.com",
            "<EMAIL_2>": "tom@example.com",
            "<PHONE_1>": "+44 20 7946 0958",
        ])
    }

    @Test func aValueRepeatedInOneTextGetsOnePlaceholder() {
        var map = PseudonymMap()
        let text = map.pseudonymize("call Anna, then email Anna the lease; Anna's number is 202-555-0143")
        #expect(text == "call <PERSON_1>, then email <PERSON_1> the lease; <PERSON_1>'s number is <PHONE_1>")
        #expect(map.placeholders.count == 2)
    }

    @Test func everyKindGetsItsOwnNumbering() {
        var map = PseudonymMap()
        let text = map.pseudonymize(
            "I'm Tom Baker: tom@example.com, +1 202 555 0100, 4111 1111 1111 1111, DE89370400440532013000, 198.51.100.7")
        #expect(text == "I'm <PERSON_1>: <EMAIL_1>, <PHONE_1>, <CARD_1>, <IBAN_1>, <IP_1>")
        let more = map.pseudonymize("and 198.51.100.8, 2001:db8::1")
        #expect(more == "and <IP_2>, <IP_3>")
    }

    @Test func pseudonymizedTextContainsNoOriginalValue() {
        var map = PseudonymMap()
        let original = """
            My name is Laura Bianchi. Call me on +39 06 1234 5678 or mail laura.bianchi@example.com.
            Refund to GB82 WEST 1234 5698 7654 32, card 5555 5555 5555 4444, from 203.0.113.5.
            Thanks,
            Laura Bianchi
            """
        let text = map.pseudonymize(original)
        for value in ["Laura", "Bianchi", "+39 06 1234 5678", "laura.bianchi@example.com", "GB82 WEST 1234 5698 7654 32",
                      "5555 5555 5555 4444", "203.0.113.5"] {
            #expect(!text.contains(value), "\(value) leaked into \(text)")
        }
        #expect(map.restore(text) == original)
    }

    @Test func restoreRoundTripsAndToleratesLooseForms() {
        var map = PseudonymMap()
        let original = "remind me to call Anna Schmidt at +49 30 1234567 about task 12 on 2026-11-21"
        let text = map.pseudonymize(original)
        #expect(text == "remind me to call <PERSON_1> at <PHONE_1> about task 12 on 2026-11-21")
        #expect(map.restore(text) == original)
        // What a model may write back: bare or bracketed placeholders, in any order.
        #expect(map.restore("Done: I added a task to call PERSON_1 ([PHONE_1]).") ==
            "Done: I added a task to call Anna Schmidt (+49 30 1234567).")
        // Unknown placeholders and look-alikes stay as they are.
        #expect(map.restore("<EMAIL_1> <PERSON_2> PERSON_10 XPERSON_1") == "<EMAIL_1> <PERSON_2> PERSON_10 XPERSON_1")
    }

    @Test func survivesCodableRoundTrip() throws {
        var map = PseudonymMap()
        _ = map.pseudonymize("email jane@example.com")
        let data = try JSONEncoder().encode(map)
        var decoded = try JSONDecoder().decode(PseudonymMap.self, from: data)
        #expect(decoded == map)
        // The decoded map keeps numbering where the original left off.
        #expect(decoded.pseudonymize("and tom@example.com, jane@example.com") == "and <EMAIL_2>, <EMAIL_1>")
    }
}
