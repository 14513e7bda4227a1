import Glibc

/// Sends bytes on a non-blocking socket for the Rivven forwarder: through an io_uring `IORING_OP_SEND`
/// (`MSG_DONTWAIT | MSG_NOSIGNAL`, submitted and reaped at once) when a ring could be set up and the kernel has the
/// opcode, otherwise through `send(2)`. `RIVVEN_MQTT_DISABLE_IO_URING` forces `send(2)`, as for the log writer.
///
/// One thread uses it (the forwarder's).
package struct RivvenSocketSender: ~Copyable {
    /// The outcome of one send.
    package enum Outcome: Equatable {
        /// This many bytes were sent (at least 1).
        case sent(Int)
        /// The socket buffer is full: poll for writability.
        case wouldBlock
        /// The send failed with this `errno`.
        case failed(Int32)
    }

    private var ring: URing?
    /// Why io_uring is not used, or nil when it is.
    package let fallbackReason: String?

    /// Sets up a one-entry ring when `useIOURing` and the machine allows it.
    package init(useIOURing: Bool) {
        guard useIOURing else {
            ring = nil
            fallbackReason = "io_uring not requested"
            return
        }
        if let value = getenv(DurableFileWriters.disableVariable).map({ String(cString: $0) }), !value.isEmpty,
            value != "0"
        {
            ring = nil
            fallbackReason = "disabled by \(DurableFileWriters.disableVariable)=\(value)"
            return
        }
        do {
            let created = try URing(entries: 2)
            if let reason = created.unsupportedReason(requiring: [.send]) {
                ring = nil
                fallbackReason = reason
            } else {
                ring = consume created
                fallbackReason = nil
            }
        } catch {
            ring = nil
            fallbackReason = error.description
        }
    }

    /// Whether sends go through io_uring.
    package var usesIOURing: Bool { fallbackReason == nil }

    /// Sends as much of `bytes` as the socket takes now.
    package mutating func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Outcome {
        if bytes.isEmpty { return .sent(0) }
        let flags = Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL)
        let chunk = UnsafeRawBufferPointer(rebasing: bytes.prefix(URing.maximumTransfer))
        if ring != nil {
            var result: Int32 = 0
            ring!.enqueue(.send(socket: fd, bytes: chunk, flags: flags), userData: 1)
            while true {
                do {
                    try ring!.submit(waitingFor: 1)
                    break
                } catch {
                    if error.errno == EINTR || error.errno == EAGAIN || error.errno == EBUSY { continue }
                    return .failed(error.errno)
                }
            }
            ring!.reapCompletions { result = $0.result }
            if result > 0 { return .sent(Int(result)) }
            if result == -EAGAIN || result == -EWOULDBLOCK || result == 0 { return .wouldBlock }
            if result == -EINTR { return .wouldBlock }
            return .failed(-result)
        }
        while true {
            let n = Glibc.send(fd, chunk.baseAddress, chunk.count, flags)
            if n > 0 { return .sent(n) }
            if n < 0 && errno == EINTR { continue }
            if n == 0 || errno == EAGAIN || errno == EWOULDBLOCK { return .wouldBlock }
            return .failed(errno)
        }
    }
}
