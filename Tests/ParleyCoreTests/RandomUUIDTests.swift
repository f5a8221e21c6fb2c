import Foundation
import ParleyCore
import Testing

@Test func randomUUIDsAreVersion4AndDistinct() {
    let made = (0..<1000).map { _ in UUID.random() }
    #expect(Set(made).count == 1000)
    for uuid in made {
        let text = uuid.uuidString
        #expect(text.count == 36)
        #expect(Array(text)[14] == "4")  // version
        #expect("89AB".contains(Array(text)[19]))  // variant
    }
}
