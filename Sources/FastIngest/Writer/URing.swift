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

    /// The linked liburing version, read from the mapped shared object's file name (liburing 2.3 has no version
    /// call): `/usr/lib/x86_64-linux-gnu/liburing.so.2.3` → `2.3`.
    public static var libraryVersion: String {
        guard let maps = readSmallFile("/proc/self/maps") else { return "unknown" }
        for line in maps.split(separator: "\n") {
            guard let slash = line.firstIndex(of: "/"), line.contains("liburing.so") else { continue }
            let path = String(line[slash...])
            guard let resolved = realpath(path, nil) else { continue }
            defer { free(resolved) }
            let file = String(cString: resolved).split(separator: "/").last.map(String.init) ?? ""
            let prefix = "liburing.so."
            if file.hasPrefix(prefix) { return String(file.dropFirst(prefix.count)) }
        }
        return "unknown"
    }

    private static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
