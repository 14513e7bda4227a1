/// RFC 3339 timestamps exactly as chrono 0.4 prints a `DateTime<Utc>`.
///
/// rivven-connect writes two forms: serde's `DateTime<Utc>` serialisation (`…Z`) for the event's top-level
/// `timestamp`, and `to_rfc3339()` (`…+00:00`) for `data.timestamp`. Both use chrono's `SecondsFormat::AutoSi`
/// fraction: none when the nanoseconds are 0, otherwise 3, 6 or 9 digits, the fewest that are exact.
public enum RFC3339 {
    /// Appends `t` as `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]` followed by `Z` (`zulu`) or `+00:00`.
    public static func append(_ t: WallClockTime, zulu: Bool, to out: inout [UInt8]) {
        let ns = t.nanosecondsSinceEpoch
        // Floor division so times before the epoch get a positive sub-second part, as chrono does.
        var seconds = ns / 1_000_000_000
        var nanos = ns % 1_000_000_000
        if nanos < 0 {
            seconds -= 1
            nanos += 1_000_000_000
        }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 {
            days -= 1
            secondOfDay += 86_400
        }
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        guard (0...9999).contains(year) else {
            // Unreachable for Int64 nanoseconds (1677...2262); kept for completeness.
            appendSlow(year: year, month: month, day: day, secondOfDay: secondOfDay, nanos: nanos, zulu: zulu, to: &out)
            return
        }
        // Longest text: "YYYY-MM-DDTHH:MM:SS.fffffffff+00:00" (35 bytes); built on the stack, appended once.
        var storage: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &storage) { buffer in
            var position = 0
            @inline(__always) func put(_ byte: UInt8) {
                buffer[position] = byte
                position += 1
            }
            @inline(__always) func digits(_ value: Int64, _ count: Int) {
                var rest = value
                var index = position + count
                while index > position {
                    index -= 1
                    buffer[index] = UInt8(truncatingIfNeeded: 48 + rest % 10)
                    rest /= 10
                }
                position += count
            }
            digits(year, 4)
            put(UInt8(ascii: "-"))
            digits(month, 2)
            put(UInt8(ascii: "-"))
            digits(day, 2)
            put(UInt8(ascii: "T"))
            digits(secondOfDay / 3600, 2)
            put(UInt8(ascii: ":"))
            digits(secondOfDay / 60 % 60, 2)
            put(UInt8(ascii: ":"))
            digits(secondOfDay % 60, 2)
            if nanos != 0 {
                put(UInt8(ascii: "."))
                if nanos % 1_000_000 == 0 {
                    digits(nanos / 1_000_000, 3)
                } else if nanos % 1_000 == 0 {
                    digits(nanos / 1_000, 6)
                } else {
                    digits(nanos, 9)
                }
            }
            if zulu {
                put(UInt8(ascii: "Z"))
            } else {
                put(UInt8(ascii: "+"))
                put(UInt8(ascii: "0"))
                put(UInt8(ascii: "0"))
                put(UInt8(ascii: ":"))
                put(UInt8(ascii: "0"))
                put(UInt8(ascii: "0"))
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<position]))
        }
    }

    /// Byte-by-byte form, used only for years outside 0...9999.
    private static func appendSlow(
        year: Int64,
        month: Int64,
        day: Int64,
        secondOfDay: Int64,
        nanos: Int64,
        zulu: Bool,
        to out: inout [UInt8]
    ) {
        appendYear(year, to: &out)
        out.append(UInt8(ascii: "-"))
        appendTwoDigits(month, to: &out)
        out.append(UInt8(ascii: "-"))
        appendTwoDigits(day, to: &out)
        out.append(UInt8(ascii: "T"))
        appendTwoDigits(secondOfDay / 3600, to: &out)
        out.append(UInt8(ascii: ":"))
        appendTwoDigits(secondOfDay / 60 % 60, to: &out)
        out.append(UInt8(ascii: ":"))
        appendTwoDigits(secondOfDay % 60, to: &out)

        if nanos != 0 {
            out.append(UInt8(ascii: "."))
            if nanos % 1_000_000 == 0 {
                appendFixedDigits(UInt64(nanos / 1_000_000), count: 3, to: &out)
            } else if nanos % 1_000 == 0 {
                appendFixedDigits(UInt64(nanos / 1_000), count: 6, to: &out)
            } else {
                appendFixedDigits(UInt64(nanos), count: 9, to: &out)
            }
        }
        out.append(contentsOf: zulu ? Array("Z".utf8) : Array("+00:00".utf8))
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

    /// chrono writes years 0...9999 as four digits and others as `{:+05}` (sign, at least four digits).
    private static func appendYear(_ year: Int64, to out: inout [UInt8]) {
        if (0...9999).contains(year) {
            appendFixedDigits(UInt64(year), count: 4, to: &out)
        } else {
            out.append(year < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            let magnitude = year.magnitude
            if magnitude < 10_000 {
                appendFixedDigits(magnitude, count: 4, to: &out)
            } else {
                DecimalWriter.append(magnitude, to: &out)
            }
        }
    }

    @inline(__always)
    private static func appendTwoDigits(_ value: Int64, to out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: 48 + value / 10))
        out.append(UInt8(truncatingIfNeeded: 48 + value % 10))
    }

    private static func appendFixedDigits(_ value: UInt64, count: Int, to out: inout [UInt8]) {
        var divisor: UInt64 = 1
        for _ in 1..<count { divisor &*= 10 }
        var rest = value
        while divisor > 0 {
            out.append(UInt8(truncatingIfNeeded: 48 &+ rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }
}
