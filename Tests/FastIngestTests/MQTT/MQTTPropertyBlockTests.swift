import FastIngest
import Testing

@Suite("MQTTPropertyBlock")
struct MQTTPropertyBlockTests {
    @Test func entriesComeBackInOrderWithExactBytes() {
        let block = PropertyFixture.block(PropertyFixture.full)
        #expect(PropertyFixture.entries(block) == PropertyFixture.full)
    }

    @Test func layoutIsTagThenBigEndianLengthsAndIntegers() {
        let block = PropertyFixture.block([
            .user("k", "vv"), .expiry(0x0102_0304), .formatIndicator(0), .contentType(""),
        ])
        #expect(block == [1, 0, 1, 0x6B, 0, 2, 0x76, 0x76, 3, 1, 2, 3, 4, 6, 0, 2, 0, 0])
    }

    @Test func emptyBlockHasNoEntries() {
        #expect(PropertyFixture.entries([]) == [])
    }

    @Test func longestValuesFit() {
        let long = String(repeating: "x", count: 65_535)
        let block = PropertyFixture.block([.user(long, long), .correlation([UInt8](repeating: 7, count: 65_535))])
        #expect(
            PropertyFixture.entries(block) == [.user(long, long), .correlation([UInt8](repeating: 7, count: 65_535))]
        )
    }

    /// A cut block (never written by the gateway) ends the iteration instead of reading past its end.
    @Test(arguments: 1..<18)
    func truncatedBlockStopsAtTheLastWholeEntry(_ cut: Int) {
        let whole = PropertyFixture.block([.user("k", "vv"), .expiry(9), .formatIndicator(1), .contentType("ab")])
        let entries = PropertyFixture.entries(Array(whole.prefix(cut)))
        let complete: [PropertyFixture] = [.user("k", "vv"), .expiry(9), .formatIndicator(1)]
        let wholeEntries = [8, 13, 15].filter { $0 <= cut }.count
        #expect(entries == Array(complete.prefix(wholeEntries)))
    }

    @Test func unknownTagEndsTheIteration() {
        var block = PropertyFixture.block([.expiry(5)])
        block += [99, 0, 0]
        block += PropertyFixture.block([.expiry(6)])
        #expect(PropertyFixture.entries(block) == [.expiry(5)])
    }

    @Test func firstUserPropertyByName() {
        let block = PropertyFixture.block(PropertyFixture.full)
        func lookup(_ name: String) -> String? {
            block.withUnsafeBytes { b in
                Array(name.utf8).withUnsafeBytes { n in
                    MQTTPropertyBlock.firstUserProperty(named: n, in: b).map { String(decoding: $0, as: UTF8.self) }
                }
            }
        }
        #expect(lookup("device") == "dev-1")
        #expect(lookup("naïve ключ") == "wert \"ü\" \\ 🚀")
        #expect(lookup("Device") == nil)
        #expect(lookup("dev") == nil)
        #expect(lookup("application/json") == nil)
    }
}
