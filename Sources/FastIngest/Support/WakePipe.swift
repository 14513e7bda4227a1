import Glibc

/// A non-blocking self-pipe: one thread `signal()`s, another polls `readFD` and `drain()`s it.
package final class WakePipe: Sendable {
    /// The end to poll for readability.
    package let readFD: Int32
    private let writeFD: Int32

    /// Creates the pipe (both ends non-blocking, close-on-exec).
    package init() {
        var fds: [Int32] = [-1, -1]
        let rc = pipe(&fds)
        precondition(rc == 0, "pipe failed: errno \(errno)")
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        readFD = fds[0]
        writeFD = fds[1]
    }

    deinit {
        close(readFD)
        close(writeFD)
    }

    /// Wakes the poller (a full pipe already means "woken").
    package func signal() {
        var byte: UInt8 = 1
        _ = write(writeFD, &byte, 1)
    }

    /// Empties the pipe.
    package func drain() {
        var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        // A read that did not fill the buffer emptied the pipe: no second read to learn that (a syscall per wake).
        while withUnsafeMutableBytes(of: &buffer, { read(readFD, $0.baseAddress, $0.count) })
            == MemoryLayout.size(ofValue: buffer)
        {}
    }

    /// Blocks until signalled (or `timeoutMilliseconds` pass, -1 = forever); drains and returns true when woken.
    @discardableResult
    package func wait(timeoutMilliseconds: Int32) -> Bool {
        var fd = pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)
        let ready = poll(&fd, 1, timeoutMilliseconds)
        if ready > 0 {
            drain()
            return true
        }
        return false
    }
}
