import Foundation

/// The POSIX calls the checkpoint commit protocol needs (fsync of files and
/// directories, atomic rename, free space), failing with one line naming the
/// path and the system's reason.
enum FileSystem {
    struct Failure: Error, CustomStringConvertible {
        let path: String
        let operation: String
        let code: Int32
        var description: String { "\(path): \(operation): \(String(cString: strerror(code)))" }
    }

    private static func fail(_ path: String, _ operation: String) -> Failure {
        Failure(path: path, operation: operation, code: errno)
    }

    /// Flushes a file's (or a directory's entries') data to stable storage.
    static func fsync(_ path: String, isDirectory: Bool = false) throws {
        let fd = open(path, isDirectory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY)
        guard fd >= 0 else { throw fail(path, "open for fsync") }
        defer { close(fd) }
        guard Glibc.fsync(fd) == 0 else { throw fail(path, "fsync") }
    }

    /// Atomic replace within one file system.
    static func rename(_ from: String, _ to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw fail(from, "rename to \((to as NSString).lastPathComponent)") }
    }

    /// Creates or truncates `path`, writes `data` (calling `progress` with the
    /// bytes written so far after each `chunk`), fsyncs, closes.
    static func writeDurably(_ path: String, _ data: Data, chunk: Int = 1 << 20, progress: ((Int) -> Void)? = nil) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw fail(path, "create") }
        var closed = false
        defer { if !closed { close(fd) } }
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard let base = raw.baseAddress else { return }
            var done = 0
            while done < raw.count {
                let n = Glibc.write(fd, base + done, min(chunk, raw.count - done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw fail(path, "write")
                }
                done += n
                progress?(done)
            }
        }
        guard Glibc.fsync(fd) == 0 else { throw fail(path, "fsync") }
        closed = true
        guard close(fd) == 0 else { throw fail(path, "close") }
    }

    /// Bytes available to an unprivileged user on the file system of `path`, or nil if unknown.
    static func availableBytes(_ path: String) -> Int? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        return Int(s.f_bavail) * Int(s.f_frsize)
    }

    static func mib(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }

    /// The OS reason of a Foundation file error, without Foundation's wrapping.
    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let under = ns.userInfo[NSUnderlyingErrorKey] as? NSError, under.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(under.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        return ns.localizedDescription
    }
}
