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
        let rc = pthread_create(&handle, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            _ = pthread_setname_np(pthread_self(), String(box.name.prefix(15)))
            box.body()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    /// Waits for the thread to finish.
    package func join() {
        pthread_join(handle, nil)
    }
}
