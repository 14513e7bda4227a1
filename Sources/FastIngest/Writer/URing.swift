// The only file that imports CURing (STYLE.md convention 2).
import CURing
import Glibc

/// Facts about io_uring on this machine, probed once.
public enum URingSupport {
    /// The result of trying to set up a ring: `nil` when usable, otherwise the reason.
    public static let unavailableReason: String? = {
        var ring = io_uring()
        let rc = io_uring_queue_init(8, &ring, 0)
        guard rc == 0 else {
            return "io_uring_queue_init failed: \(String(cString: strerror(-rc))) (errno \(-rc))"
        }
        io_uring_queue_exit(&ring)
        return nil
    }()

    /// The linked liburing version read from the shared object's file name (liburing 2.3 has no version call).
    public static var libraryVersion: String {
        var info = Dl_info()
        let symbol = unsafeBitCast(io_uring_queue_init as @convention(c) (UInt32, UnsafeMutablePointer<io_uring>?, UInt32) -> Int32, to: UnsafeRawPointer.self)
        guard dladdr(symbol, &info) != 0, let name = info.dli_fname,
            let resolved = realpath(name, nil)
        else { return "unknown" }
        defer { free(resolved) }
        let path = String(cString: resolved)
        let file = path.split(separator: "/").last.map(String.init) ?? path
        let prefix = "liburing.so."
        return file.hasPrefix(prefix) ? String(file.dropFirst(prefix.count)) : "unknown"
    }
}
