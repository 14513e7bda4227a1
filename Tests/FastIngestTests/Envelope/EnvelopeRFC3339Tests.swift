import FastIngest
import Testing

@Suite("RFC3339")
struct EnvelopeRFC3339Tests {
    struct Case: CustomTestStringConvertible, Sendable {
        var nanoseconds: Int64
        var zulu: String
        var testDescription: String { zulu }
        /// The `to_rfc3339()` form: same text with `+00:00` instead of `Z`.
        var plus: String { String(zulu.dropLast()) + "+00:00" }
    }

    // Expected texts were computed independently (Python's calendar.timegm).
    static let cases: [Case] = [
        Case(nanoseconds: 0, zulu: "1970-01-01T00:00:00Z"),
        Case(nanoseconds: 1_000_000, zulu: "1970-01-01T00:00:00.001Z"),
        Case(nanoseconds: 1_000, zulu: "1970-01-01T00:00:00.000001Z"),
        Case(nanoseconds: 1, zulu: "1970-01-01T00:00:00.000000001Z"),
        Case(nanoseconds: 1_500_000_000, zulu: "1970-01-01T00:00:01.500Z"),
        Case(nanoseconds: 1_000_010_000, zulu: "1970-01-01T00:00:01.000010Z"),
        Case(nanoseconds: 120_000_000_000, zulu: "1970-01-01T00:02:00Z"),
        Case(nanoseconds: 1_795_608_000_123_456_789, zulu: "2026-11-25T12:00:00.123456789Z"),
        Case(nanoseconds: 1_795_608_000_123_451_234, zulu: "2026-11-25T12:00:00.123451234Z"),
        Case(nanoseconds: 1_709_251_199_999_999_999, zulu: "2024-02-29T23:59:59.999999999Z"),
        Case(nanoseconds: 951_827_696_000_789_000, zulu: "2000-02-29T12:34:56.000789Z"),
        Case(nanoseconds: 946_684_799_000_000_000, zulu: "1999-12-31T23:59:59Z"),
        Case(nanoseconds: 4_107_542_399_500_000_000, zulu: "2100-02-28T23:59:59.500Z"),
        Case(nanoseconds: 4_107_542_400_000_000_000, zulu: "2100-03-01T00:00:00Z"),
        Case(nanoseconds: -1, zulu: "1969-12-31T23:59:59.999999999Z"),
        Case(nanoseconds: -1_000_000_000, zulu: "1969-12-31T23:59:59Z"),
        Case(nanoseconds: Int64.max, zulu: "2262-04-11T23:47:16.854775807Z"),
        Case(nanoseconds: Int64.min, zulu: "1677-09-21T00:12:43.145224192Z"),
    ]

    @Test(arguments: cases)
    func zuluForm(_ c: Case) {
        var out: [UInt8] = []
        RFC3339.append(WallClockTime(nanosecondsSinceEpoch: c.nanoseconds), zulu: true, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == c.zulu)
    }

    @Test(arguments: cases)
    func offsetForm(_ c: Case) {
        var out: [UInt8] = Array("x".utf8)
        RFC3339.append(WallClockTime(nanosecondsSinceEpoch: c.nanoseconds), zulu: false, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "x" + c.plus)
    }

    @Test func nowIsPlausibleAndOrdered() {
        let a = WallClockTime.now()
        let b = WallClockTime.now()
        #expect(a <= b)
        // After 2025-01-01 and before 2100.
        #expect(a.nanosecondsSinceEpoch > 1_735_689_600_000_000_000)
        #expect(a.nanosecondsSinceEpoch < 4_102_444_800_000_000_000)
    }
}
