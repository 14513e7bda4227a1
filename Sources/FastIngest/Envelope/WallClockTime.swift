import Glibc

/// A point in time as nanoseconds since the Unix epoch (`CLOCK_REALTIME`).
///
/// A plain value so the hot path can stamp messages without Foundation. The `Int64` range covers the years
/// 1677 to 2262.
public struct WallClockTime: Sendable, Equatable, Comparable, Hashable {
    /// Nanoseconds since 1970-01-01T00:00:00Z; negative values are before the epoch.
    public var nanosecondsSinceEpoch: Int64

    /// Creates a time from nanoseconds since the Unix epoch.
    public init(nanosecondsSinceEpoch: Int64) {
        self.nanosecondsSinceEpoch = nanosecondsSinceEpoch
    }

    /// Reads `CLOCK_REALTIME`.
    public static func now() -> WallClockTime {
        var ts = timespec()
        // clock_gettime(CLOCK_REALTIME) cannot fail with a valid pointer and clock id.
        _ = clock_gettime(CLOCK_REALTIME, &ts)
        return WallClockTime(nanosecondsSinceEpoch: Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec))
    }

    /// Orders by `nanosecondsSinceEpoch`.
    public static func < (lhs: WallClockTime, rhs: WallClockTime) -> Bool {
        lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch
    }
}
