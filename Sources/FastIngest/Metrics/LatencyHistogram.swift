package import Synchronization

/// A lock-free histogram of microsecond latencies in 64 power-of-two buckets of relaxed atomics: recording is one
/// `leadingZeroBitCount` and one atomic add, with no allocation, so the writer thread records every message.
///
/// Bucket 0 holds 0 µs; bucket `i` (1 … 62) holds `2^(i-1)` … `2^i - 1` µs; bucket 63 holds everything from `2^62`
/// µs on. A quantile read from it is the upper bound of the bucket holding that rank: never below the true value,
/// and less than twice it.
package final class LatencyHistogram: Sendable {
    /// The number of buckets.
    package static let bucketCount = 64
    private let buckets: InlineArray<64, Atomic<UInt64>>

    /// Creates an empty histogram.
    package init() {
        buckets = InlineArray { _ in Atomic(0) }
    }

    /// The bucket of a latency.
    @inline(__always)
    package static func bucket(ofMicroseconds value: UInt64) -> Int {
        min(bucketCount - 1, UInt64.bitWidth - value.leadingZeroBitCount)
    }

    /// Counts one latency.
    @inline(__always)
    package func record(microseconds value: UInt64) {
        buckets[Self.bucket(ofMicroseconds: value)].wrappingAdd(1, ordering: .relaxed)
    }

    /// The bucket counts (optionally zeroing them: a value recorded meanwhile lands in this read or the next).
    package func distribution(reset: Bool) -> LatencyDistribution {
        var counts = [UInt64](repeating: 0, count: Self.bucketCount)
        for index in 0..<Self.bucketCount {
            counts[index] =
                reset
                ? buckets[index].exchange(0, ordering: .relaxed) : buckets[index].load(ordering: .relaxed)
        }
        return LatencyDistribution(bucketCounts: counts)
    }
}

/// The counts of a ``LatencyHistogram`` at one moment, and the quantiles read from them.
public struct LatencyDistribution: Sendable, Equatable {
    /// Per bucket, how many latencies fell into it (64 entries, or none for an empty distribution).
    public var bucketCounts: [UInt64]

    /// An empty distribution.
    public init() {
        bucketCounts = []
    }

    /// A distribution with the given bucket counts (bucket `i` as in ``LatencyHistogram``).
    public init(bucketCounts: [UInt64]) {
        self.bucketCounts = bucketCounts
    }

    /// How many latencies were counted.
    public var count: UInt64 {
        bucketCounts.reduce(0, &+)
    }

    /// The largest latency bucket `index` holds, in microseconds.
    public static func upperBoundMicroseconds(ofBucket index: Int) -> UInt64 {
        index >= LatencyHistogram.bucketCount - 1 ? .max : (UInt64(1) << UInt64(index)) - 1
    }

    /// An upper-bound estimate of the `quantile` (0 … 1) in microseconds: the upper bound of the bucket holding
    /// the latency of that rank. `nil` when nothing was counted.
    public func quantileMicroseconds(_ quantile: Double) -> UInt64? {
        let total = count
        guard total > 0 else { return nil }
        let clamped = min(1, max(0, quantile))
        // The rank of the quantile, 1-based: the smallest r with r ≥ q · total (at least the first).
        let rank = max(1, UInt64((clamped * Double(total)).rounded(.up)))
        var seen: UInt64 = 0
        for (index, bucketCount) in bucketCounts.enumerated() {
            seen += bucketCount
            if seen >= rank { return Self.upperBoundMicroseconds(ofBucket: index) }
        }
        return Self.upperBoundMicroseconds(ofBucket: bucketCounts.count - 1)
    }
}
