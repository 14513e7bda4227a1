import Foundation
import Glibc
import Synchronization

/// A uniquely named directory under `$TMPDIR` (or `/tmp`), removed with everything in it by `cleanup()` or,
/// at the latest, when the object is released.
///
/// Keep a reference for as long as the directory is used: Swift may release an object right after its last
/// use, not at the end of the enclosing scope.
final class TemporaryDirectory: Sendable {
    /// The absolute path of the directory.
    let path: String
    private let removed = Mutex(false)

    /// Creates the directory (mode 0700) with `mkdtemp(3)`.
    init(prefix: String = "rivven-mqtt-test") throws {
        let base = Self.baseDirectory()
        var template = Array("\(base)/\(prefix).XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer -> Bool in
            mkdtemp(buffer.baseAddress!) != nil
        }
        guard created else {
            throw HarnessError("mkdtemp in \(base) failed: \(String(cString: strerror(errno)))")
        }
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// The directory as a file URL.
    var url: URL { URL(fileURLWithPath: path, isDirectory: true) }

    /// The path of `name` inside the directory (nothing is created).
    func file(_ name: String) -> String {
        "\(path)/\(name)"
    }

    /// Creates a subdirectory (and its parents) and returns its path.
    @discardableResult
    func makeSubdirectory(_ name: String) throws -> String {
        let subdirectory = file(name)
        try FileManager.default.createDirectory(atPath: subdirectory, withIntermediateDirectories: true)
        return subdirectory
    }

    /// Removes the directory and its contents. Safe to call more than once.
    func cleanup() {
        let alreadyRemoved = removed.withLock { removed in
            defer { removed = true }
            return removed
        }
        if !alreadyRemoved {
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    deinit {
        cleanup()
    }

    private static func baseDirectory() -> String {
        var isDirectory: ObjCBool = false
        if let tmpdir = ProcessInfo.processInfo.environment["TMPDIR"], !tmpdir.isEmpty,
            FileManager.default.fileExists(atPath: tmpdir, isDirectory: &isDirectory), isDirectory.boolValue
        {
            return tmpdir.hasSuffix("/") && tmpdir.count > 1 ? String(tmpdir.dropLast()) : tmpdir
        }
        return "/tmp"
    }
}
