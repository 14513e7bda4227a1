import Glibc

/// One connection of the forwarder to a Rivven broker: session set-up requests one at a time
/// (``request(_:timeoutMilliseconds:)``), then batches pipelined — written back to back, replies matched in order by
/// correlation id (WIRE.md §1: the broker answers in request order).
///
/// Correlation ids count 0, 1, 2 … per connection, as the official client numbers them.
final class ForwarderConnection {
    let stream: any RivvenStream
    var server: String { stream.server }

    private var decoder = RivvenFrameDecoder(maxFrameLength: RivvenLimits.maxResponseFrameLength)
    private var nextCorrelationID: UInt32 = 0
    private var scratch: [UInt8] = []
    private var receiveBuffer = [UInt8](repeating: 0, count: 64 * 1024)

    /// Batches whose frames are (partly) unwritten, in send order; `writeOffset` bytes of the first are written.
    private(set) var writeQueue: [ForwardBatch] = []
    private var writeQueueHead = 0
    private var writeOffset = 0
    /// Batches written (or being written) and waiting for their reply, in send order.
    private(set) var awaiting: [ForwardBatch] = []
    private var awaitingHead = 0
    /// Monotonic time of the last request sent, for keep-alive pings.
    private(set) var lastRequestAt: Int64

    init(stream: any RivvenStream, now: Int64) {
        self.stream = stream
        self.lastRequestAt = now
    }

    /// Batches sent (or queued to send) and not answered yet.
    var awaitingCount: Int { awaiting.count - awaitingHead }
    /// Whether frames are waiting to be written.
    var hasPendingWrites: Bool { writeQueueHead < writeQueue.count }

    // MARK: Set-up requests

    /// Sends `request` and waits for its reply. Only while no batch is in flight.
    func request(_ request: RivvenRequest, timeoutMilliseconds: Int32) throws(RivvenStreamError) -> RivvenResponse {
        precondition(awaitingCount == 0 && !hasPendingWrites, "ForwarderConnection.request while batches are in flight")
        let cid = takeCorrelationID()
        scratch.removeAll(keepingCapacity: true)
        request.encode(correlationID: cid, into: &scratch)
        var offset = 0
        let deadline = Self.monotonicNow() + Int64(timeoutMilliseconds) * 1_000_000
        while offset < scratch.count {
            let result = scratch.withUnsafeBytes { raw in
                Result { () throws(RivvenStreamError) in
                    try stream.write(UnsafeRawBufferPointer(rebasing: raw[offset...]))
                }
            }
            let written = try result.get()
            offset += written
            if written == 0 { try waitFor(read: false, write: true, until: deadline, what: request.variantName) }
        }
        lastRequestAt = Self.monotonicNow()
        while true {
            if let frame = try nextFrame() {
                let response: RivvenResponse
                do {
                    response = try RivvenResponse.decode(frame)
                } catch {
                    throw RivvenStreamError("\(server): undecodable \(request.variantName) reply: \(error)")
                }
                guard frame.correlationID == cid else {
                    throw RivvenStreamError(
                        "\(server): \(request.variantName) reply has correlation id \(frame.correlationID), expected "
                            + "\(cid)\(Self.errorSuffix(response))"
                    )
                }
                return response
            }
            if try readAvailable() == 0 {
                try waitFor(read: true, write: false, until: deadline, what: request.variantName)
            }
        }
    }

    // MARK: Pipelined batches

    /// Queues `batch` for sending with the next correlation id (written into its frame now).
    func enqueue(_ batch: ForwardBatch, now: Int64) {
        let cid = takeCorrelationID()
        batch.setCorrelationID(cid)
        batch.correlationID = cid
        writeQueue.append(batch)
        awaiting.append(batch)
        lastRequestAt = now
    }

    /// Writes queued frames until done or the socket is full. Returns the bytes written.
    @discardableResult
    func writePending() throws(RivvenStreamError) -> Int {
        var total = 0
        while writeQueueHead < writeQueue.count {
            let batch = writeQueue[writeQueueHead]
            let offset = writeOffset
            let result = batch.frame.withUnsafeBytes { raw in
                Result { () throws(RivvenStreamError) in
                    try stream.write(UnsafeRawBufferPointer(rebasing: raw[offset..<batch.frameLength]))
                }
            }
            let written = try result.get()
            if written == 0 { break }
            total += written
            writeOffset += written
            if writeOffset == batch.frameLength {
                writeOffset = 0
                writeQueueHead += 1
            }
        }
        if writeQueueHead == writeQueue.count {
            writeQueue.removeAll(keepingCapacity: true)
            writeQueueHead = 0
        }
        return total
    }

    /// Reads what arrived and hands each complete reply, with the batch it answers, to `handle`.
    /// Throws on a broken connection, a malformed reply, or a reply that answers no batch.
    func readReplies(_ handle: (ForwardBatch, RivvenResponse) -> Void) throws(RivvenStreamError) {
        while true {
            while let frame = try nextFrame() {
                guard awaitingHead < awaiting.count else {
                    throw RivvenStreamError(
                        "\(server): a reply (correlation id \(frame.correlationID)) nobody asked for"
                    )
                }
                let batch = awaiting[awaitingHead]
                let response: RivvenResponse
                do {
                    response = try RivvenResponse.decode(frame)
                } catch {
                    throw RivvenStreamError("\(server): undecodable reply to a batch: \(error)")
                }
                guard frame.correlationID == batch.correlationID else {
                    // cid 0 + Error: the broker could not parse a frame (WIRE.md §2). Either way the replies no longer
                    // line up with the requests: the connection is dropped and everything unanswered resent.
                    throw RivvenStreamError(
                        "\(server): reply has correlation id \(frame.correlationID), expected \(batch.correlationID)"
                            + Self.errorSuffix(response)
                    )
                }
                awaitingHead += 1
                handle(batch, response)
            }
            if awaitingHead == awaiting.count && awaitingHead > 0 {
                awaiting.removeAll(keepingCapacity: true)
                awaitingHead = 0
            }
            if try readAvailable() == 0 { return }
        }
    }

    /// The batches never answered, in send order (after a failure, to resend them elsewhere).
    func takeUnanswered() -> [ForwardBatch] {
        let unanswered = Array(awaiting[awaitingHead...])
        awaiting.removeAll()
        awaitingHead = 0
        writeQueue.removeAll()
        writeQueueHead = 0
        writeOffset = 0
        return unanswered
    }

    // MARK: Private

    private func takeCorrelationID() -> UInt32 {
        let cid = nextCorrelationID
        nextCorrelationID &+= 1
        return cid
    }

    private func nextFrame() throws(RivvenStreamError) -> RivvenFrame? {
        do {
            return try decoder.next()
        } catch {
            throw RivvenStreamError("\(server): malformed reply: \(error)")
        }
    }

    /// Reads once (and once more while the stream holds buffered input). Returns the bytes read.
    private func readAvailable() throws(RivvenStreamError) -> Int {
        var total = 0
        while true {
            let result = receiveBuffer.withUnsafeMutableBytes { raw in
                Result { () throws(RivvenStreamError) in try stream.read(into: raw) }
            }
            let n = try result.get()
            if n == 0 { return total }
            receiveBuffer.withUnsafeBytes { decoder.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            total += n
            // A full buffer may mean more is waiting; so may a TLS record decrypted whole.
            if n < receiveBuffer.count && !stream.hasBufferedInput { return total }
        }
    }

    private func waitFor(read: Bool, write: Bool, until deadline: Int64, what: String) throws(RivvenStreamError) {
        if read && stream.hasBufferedInput { return }
        let remaining = (deadline - Self.monotonicNow()) / 1_000_000
        guard remaining > 0 else { throw RivvenStreamError("\(server): no \(what) reply in time") }
        var pfd = pollfd(
            fd: stream.fileDescriptor,
            events: stream.pollEvents(wantRead: read, wantWrite: write),
            revents: 0
        )
        _ = poll(&pfd, 1, Int32(clamping: remaining))
    }

    private static func errorSuffix(_ response: RivvenResponse) -> String {
        if case .error(let message) = response { return ": \(message)" }
        return ""
    }

    static func monotonicNow() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
