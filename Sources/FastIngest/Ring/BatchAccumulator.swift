/// Decides when a batch closes: at `maxMessages`, at `maxBytes`, or — once the source has nothing more to give —
/// soon when a message in it waits for its acknowledgement (group commit: at once when a producer stopped reading
/// to wait for it, else after `acknowledgementLinger`, so one fsync covers what arrives meanwhile), else when
/// `linger` has passed since the batch opened. Pure logic: no I/O, no clock of its own, no allocation.
public struct BatchAccumulator: Sendable, Equatable {
    /// Close at this many records.
    public let maxMessages: Int
    /// Close at this many encoded bytes.
    public let maxBytes: Int
    /// How long a batch of QoS 0 messages may wait for more.
    public let lingerNanoseconds: Int64
    /// How long a batch holding acknowledgements may wait for more while its producers still read.
    public static let acknowledgementLingerNanoseconds: Int64 = 1_000_000

    /// Records in the open batch.
    public private(set) var count = 0
    /// Encoded bytes in the open batch.
    public private(set) var bytes = 0
    /// Whether a record in the batch holds back an acknowledgement (QoS ≥ 1).
    public private(set) var holdsAcknowledgement = false
    /// When the first record was added (monotonic nanoseconds).
    public private(set) var openedAt: Int64 = 0

    /// Creates an empty accumulator.
    public init(maxMessages: Int, maxBytes: Int, lingerMilliseconds: Int) {
        precondition(maxMessages > 0 && maxBytes > 0 && lingerMilliseconds >= 0)
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
        self.lingerNanoseconds = Int64(lingerMilliseconds) * 1_000_000
    }

    /// Whether nothing is in the batch.
    public var isEmpty: Bool { count == 0 }

    /// Whether the batch reached a size limit (no more records may be added).
    public var isFull: Bool { count >= maxMessages || bytes >= maxBytes }

    /// Records one added record of `size` encoded bytes.
    public mutating func add(size: Int, qos: UInt8, now: Int64) {
        if count == 0 { openedAt = now }
        count += 1
        bytes += size
        if qos > 0 { holdsAcknowledgement = true }
    }

    /// Whether the batch should be written now. `sourceIsEmpty`: nothing more is available right now;
    /// `producerWaits`: a producer stopped reading until its acknowledgements are released.
    public func shouldClose(now: Int64, sourceIsEmpty: Bool, producerWaits: Bool = true) -> Bool {
        guard count > 0 else { return false }
        if isFull { return true }
        guard sourceIsEmpty else { return false }
        if holdsAcknowledgement {
            return producerWaits || now - openedAt >= Self.acknowledgementLingerNanoseconds
        }
        return now - openedAt >= lingerNanoseconds
    }

    /// Nanoseconds until the batch is due (0 when due), for the writer's idle wait.
    public func lingerRemaining(now: Int64) -> Int64 {
        guard count > 0 else { return lingerNanoseconds }
        let linger = holdsAcknowledgement ? Self.acknowledgementLingerNanoseconds : lingerNanoseconds
        return max(0, openedAt + linger - now)
    }

    /// Starts a new, empty batch.
    public mutating func reset() {
        count = 0
        bytes = 0
        holdsAcknowledgement = false
        openedAt = 0
    }
}
