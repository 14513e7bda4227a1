/// Which of the sequence numbers `0..<expected` arrived, and how many arrived again: `rivven-mqtt bench`'s loss and
/// duplicate count. One bit per sequence number.
package struct SequenceTracker: Sendable {
    /// How many distinct sequence numbers should arrive.
    package let expected: Int
    /// Distinct sequence numbers that arrived.
    package private(set) var unique = 0
    /// Arrivals of a sequence number that had arrived before.
    package private(set) var duplicates = 0
    /// Arrivals of a number outside `0..<expected`.
    package private(set) var outOfRange = 0
    private var seen: [UInt64]

    /// Tracks `0..<expected`.
    package init(expected: Int) {
        precondition(expected >= 0)
        self.expected = expected
        self.seen = [UInt64](repeating: 0, count: (expected + 63) / 64)
    }

    /// Counts one arrival; true when `sequence` is new.
    @discardableResult
    package mutating func record(_ sequence: UInt64) -> Bool {
        guard sequence < UInt64(expected) else {
            outOfRange += 1
            return false
        }
        let word = Int(sequence >> 6)
        let bit = UInt64(1) << (sequence & 63)
        if seen[word] & bit != 0 {
            duplicates += 1
            return false
        }
        seen[word] |= bit
        unique += 1
        return true
    }

    /// Sequence numbers that did not arrive.
    package var missing: Int { expected - unique }

    /// Whether every sequence number arrived.
    package var isComplete: Bool { unique == expected }

    /// Up to `limit` of the sequence numbers that did not arrive, lowest first.
    package func missingSequences(limit: Int) -> [Int] {
        var result: [Int] = []
        var sequence = 0
        while sequence < expected && result.count < limit {
            if seen[sequence >> 6] & (UInt64(1) << UInt64(sequence & 63)) == 0 { result.append(sequence) }
            sequence += 1
        }
        return result
    }
}
