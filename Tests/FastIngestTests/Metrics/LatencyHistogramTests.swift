import Testing

@testable import FastIngest

@Suite("LatencyHistogram")
struct LatencyHistogramTests {
    @Test func bucketsArePowersOfTwo() {
        let cases: [(UInt64, Int)] = [
            (0, 0), (1, 1), (2, 2), (3, 2), (4, 3), (7, 3), (8, 4), (1023, 10), (1024, 11),
            (1 << 61, 62), ((1 << 62) - 1, 62), (1 << 62, 63), (.max, 63),
        ]
        for (value, bucket) in cases {
            #expect(LatencyHistogram.bucket(ofMicroseconds: value) == bucket, "\(value)")
        }
        #expect(LatencyDistribution.upperBoundMicroseconds(ofBucket: 0) == 0)
        #expect(LatencyDistribution.upperBoundMicroseconds(ofBucket: 10) == 1023)
        #expect(LatencyDistribution.upperBoundMicroseconds(ofBucket: 63) == .max)
    }

    /// Whatever the value, the quantile read back is its bucket's upper bound: at least the value, under twice it.
    @Test func aQuantileIsAnUpperBoundWithinTwiceTheValue() {
        var random = SplitMix64(seed: 7)
        for _ in 0..<2000 {
            // Below 2^62: the last bucket is open-ended.
            let value = random.next() >> UInt64.random(in: 2...63, using: &random)
            let histogram = LatencyHistogram()
            histogram.record(microseconds: value)
            let estimate = try! #require(histogram.distribution(reset: false).quantileMicroseconds(0.5))
            #expect(estimate >= value)
            #expect(value == 0 ? estimate == 0 : estimate <= 2 * value - 1, "\(value) → \(estimate)")
        }
    }

    @Test func quantilesPickTheBucketOfTheRank() {
        let histogram = LatencyHistogram()
        for _ in 0..<90 { histogram.record(microseconds: 100) }  // bucket 7: 64 … 127
        for _ in 0..<9 { histogram.record(microseconds: 1000) }  // bucket 10: 512 … 1023
        histogram.record(microseconds: 50_000)  // bucket 16: 32768 … 65535
        let distribution = histogram.distribution(reset: false)
        #expect(distribution.count == 100)
        #expect(distribution.quantileMicroseconds(0) == 127)
        #expect(distribution.quantileMicroseconds(0.5) == 127)
        #expect(distribution.quantileMicroseconds(0.9) == 127)
        #expect(distribution.quantileMicroseconds(0.91) == 1023)
        #expect(distribution.quantileMicroseconds(0.99) == 1023)
        #expect(distribution.quantileMicroseconds(0.999) == 65535)
        #expect(distribution.quantileMicroseconds(1) == 65535)
        #expect(LatencyDistribution().quantileMicroseconds(0.5) == nil)
    }

    @Test func resetEmptiesAndCountsAreKept() {
        let histogram = LatencyHistogram()
        for value in [5, 6, 7, 300] as [UInt64] { histogram.record(microseconds: value) }
        let first = histogram.distribution(reset: true)
        #expect(first.count == 4)
        #expect(first.bucketCounts[3] == 3 && first.bucketCounts[9] == 1)
        #expect(histogram.distribution(reset: false).count == 0)
    }

    /// Recording from several threads at once loses no count (the writer threads of several sources share one).
    @Test func concurrentRecordingLosesNothing() async {
        let histogram = LatencyHistogram()
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<4 {
                group.addTask {
                    for i in 0..<25_000 { histogram.record(microseconds: UInt64(i * (task + 1))) }
                }
            }
        }
        #expect(histogram.distribution(reset: false).count == 100_000)
    }

    @Test func snapshotCarriesTheDistributionAndTheJSONItsQuantiles() {
        let counters = IngestCounters()
        #expect(!counters.snapshot().json.contains("end_to_end_latency_p50_us"))
        #expect(counters.snapshot().json.contains(#""end_to_end_latency_count":0"#))
        counters.endToEndLatency.record(microseconds: 700)
        let snapshot = counters.snapshot()
        #expect(snapshot.endToEndLatency.count == 1)
        #expect(snapshot.json.hasSuffix(#""end_to_end_latency_p99_us":1023,"end_to_end_latency_p999_us":1023}"#))
        #expect(counters.snapshotAndReset().endToEndLatency.count == 1)
        #expect(counters.snapshot().endToEndLatency.count == 0)
    }
}
