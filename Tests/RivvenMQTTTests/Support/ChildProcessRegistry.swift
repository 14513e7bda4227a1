import Glibc
import Synchronization

/// Every child process the harness started and that has not been seen to exit, process-wide.
///
/// An `atexit` handler SIGKILLs whatever is still listed, so a test run that ends normally never leaves a
/// broker or a product binary behind, even when a test forgot to stop it. (A test process that is itself
/// killed cannot run the handler; the objects' `deinit`s and `stop()` calls are the first line of defence.)
enum ChildProcessRegistry {
    private static let running = Mutex<Set<pid_t>>([])

    /// Installs the exit handler once.
    private static let installed: Bool = {
        atexit { ChildProcessRegistry.killAll() }
        return true
    }()

    /// Call before starting any child process.
    static func prepare() {
        _ = installed
    }

    static func register(_ pid: pid_t) {
        prepare()
        running.withLock { _ = $0.insert(pid) }
    }

    static func unregister(_ pid: pid_t) {
        running.withLock { _ = $0.remove(pid) }
    }

    /// The PIDs currently listed.
    static var runningPIDs: Set<pid_t> {
        running.withLock { $0 }
    }

    /// SIGKILLs every listed child. Runs at exit; harmless to call at any time.
    static func killAll() {
        for pid in runningPIDs {
            kill(pid, SIGKILL)
        }
    }
}
