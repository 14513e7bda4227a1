import Glibc

/// The clock `rivven-mqtt bench` stamps and measures with: CLOCK_MONOTONIC, shared by every thread of the process.
package enum BenchClock {
    /// CLOCK_MONOTONIC in nanoseconds.
    @inline(__always)
    package static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
