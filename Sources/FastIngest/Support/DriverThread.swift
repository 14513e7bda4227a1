import Glibc

/// A dedicated OS thread for a blocking loop (the MQTT driver, the writer). Joined explicitly.
package final class DriverThread: @unchecked Sendable {
    // @unchecked: `handle` is written once in init before any other thread can see the object.
    private var handle = pthread_t()

    private final class Box {
        let body: () -> Void
        let name: String
        init(_ name: String, _ body: @escaping () -> Void) {
            self.body = body
            self.name = name
        }
    }

    /// Starts `body` on a new thread named `name` (≤ 15 characters are kept by Linux).
    package init(name: String, _ body: @escaping () -> Void) {
        let box = Unmanaged.passRetained(Box(name, body)).toOpaque()
        let rc = pthread_create(
            &handle,
            nil,
            { raw in
                let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
                nameCurrentThread(box.name)
                box.body()
                return nil
            },
            box
        )
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    /// Waits for the thread to finish.
    package func join() {
        pthread_join(handle, nil)
    }
}

/// Names the calling thread (visible in `top -H`, `ps -L`), through /proc since glibc's pthread_setname_np is not
/// imported into Swift.
private func nameCurrentThread(_ name: String) {
    let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { return }
    let short = Array(name.utf8.prefix(15))
    _ = short.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
}
