/// RFC 3339 timestamps exactly as chrono 0.4 prints a `DateTime<Utc>`.
///
/// rivven-connect writes two forms: serde's `DateTime<Utc>` serialisation (`…Z`) for the event's top-level
/// `timestamp`, and `to_rfc3339()` (`…+00:00`) for `data.timestamp`. Both use chrono's `SecondsFormat::AutoSi`
/// fraction: none when the nanoseconds are 0, otherwise 3, 6 or 9 digits, the fewest that are exact.
public enum RFC3339 {
    /// The longest text written: `YYYY-MM-DDTHH:MM:SS.fffffffff+00:00`.
    static let maxLength = 35

    /// Appends `t` as `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]` followed by `Z` (`zulu`) or `+00:00`.
    public static func append(_ t: WallClockTime, zulu: Bool, to out: inout [UInt8]) {
        out.appendWithin(maxCount: maxLength) { write(t, zulu: zulu, to: &$0) }
    }

    static func write(_ t: WallClockTime, zulu: Bool, to writer: inout ByteWriter) {
        let (seconds, nanos) = split(t)
        writeDateTime(seconds: seconds, to: &writer)
        writeFractionAndOffset(nanos: nanos, zulu: zulu, to: &writer)
    }

    /// Whole seconds (floored, so times before the epoch get a positive sub-second part, as chrono does) and nanos.
    @inline(__always)
    static func split(_ t: WallClockTime) -> (seconds: Int64, nanos: Int64) {
        let ns = t.nanosecondsSinceEpoch
        var seconds = ns / 1_000_000_000
        var nanos = ns % 1_000_000_000
        if nanos < 0 {
            seconds -= 1
            nanos += 1_000_000_000
        }
        return (seconds, nanos)
    }

    /// `YYYY-MM-DDTHH:MM:SS` (19 bytes).
    static func writeDateTime(seconds: Int64, to writer: inout ByteWriter) {
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 {
            days -= 1
            secondOfDay += 86_400
        }
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        // Int64 nanoseconds span the years 1677...2262, so chrono's four-digit form always applies (it would
        // print a sign and more digits outside 0...9999).
        precondition((0...9999).contains(year))
        writer.putFixedDigits(year, count: 4)
        writer.put(UInt8(ascii: "-"))
        writer.putFixedDigits(month, count: 2)
        writer.put(UInt8(ascii: "-"))
        writer.putFixedDigits(day, count: 2)
        writer.put(UInt8(ascii: "T"))
        writer.putFixedDigits(secondOfDay / 3600, count: 2)
        writer.put(UInt8(ascii: ":"))
        writer.putFixedDigits(secondOfDay / 60 % 60, count: 2)
        writer.put(UInt8(ascii: ":"))
        writer.putFixedDigits(secondOfDay % 60, count: 2)
    }

    /// chrono's AutoSi fraction, then `Z` or `+00:00`.
    static func writeFractionAndOffset(nanos: Int64, zulu: Bool, to writer: inout ByteWriter) {
        if nanos != 0 {
            writer.put(UInt8(ascii: "."))
            if nanos % 1_000_000 == 0 {
                writer.putFixedDigits(nanos / 1_000_000, count: 3)
            } else if nanos % 1_000 == 0 {
                writer.putFixedDigits(nanos / 1_000, count: 6)
            } else {
                writer.putFixedDigits(nanos, count: 9)
            }
        }
        if zulu {
            writer.put(UInt8(ascii: "Z"))
        } else {
            writer.put(UInt8(ascii: "+"))
            writer.put(UInt8(ascii: "0"))
            writer.put(UInt8(ascii: "0"))
            writer.put(UInt8(ascii: ":"))
            writer.put(UInt8(ascii: "0"))
            writer.put(UInt8(ascii: "0"))
        }
    }

    /// Remembers the `YYYY-MM-DDTHH:MM:SS` text of the last second written: consecutive messages almost always
    /// fall in the same second, so the calendar arithmetic runs about once per second.
    struct Cache: Sendable {
        private var second = Int64.min
        private var text: (UInt64, UInt64, UInt64) = (0, 0, 0)

        init() {}

        mutating func write(_ t: WallClockTime, zulu: Bool, to writer: inout ByteWriter) {
            let (seconds, nanos) = RFC3339.split(t)
            if seconds != second {
                withUnsafeMutableBytes(of: &text) { raw in
                    var textWriter = ByteWriter(
                        base: raw.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        position: 0,
                        limit: raw.count
                    )
                    RFC3339.writeDateTime(seconds: seconds, to: &textWriter)
                }
                second = seconds
            }
            withUnsafeBytes(of: &text) { writer.put(UnsafeRawBufferPointer(rebasing: $0[0..<19])) }
            RFC3339.writeFractionAndOffset(nanos: nanos, zulu: zulu, to: &writer)
        }
    }

    /// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
    static func civilDate(daysSinceEpoch: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}
