import CNetCDF
import Foundation

/// A failed NetCDF-C call, as one line naming the file, the variable (when
/// there is one), what was being done, and NetCDF's own message.
public struct NetCDFError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let variable: String?
    public let operation: String
    /// NetCDF-C status code (negative), or 0 for errors found by this layer.
    public let code: Int32
    public let message: String

    public init(path: String, variable: String? = nil, operation: String, code: Int32 = 0, message: String) {
        self.path = path
        self.variable = variable
        self.operation = operation
        self.code = code
        self.message = message
    }

    public var description: String {
        if let v = variable { return "\(path): variable '\(v)': \(operation): \(message)" }
        return "\(path): \(operation): \(message)"
    }

    /// True for "no such file" / "not a NetCDF file" style failures of nc_open.
    public var isNotFound: Bool { code == NC_ENOTFOUND || code == 2 /* ENOENT */ }
}

/// NetCDF-C (and HDF5 under it) is not thread-safe: every call into the
/// library from any thread goes through this one process-wide lock. It is
/// recursive because some public operations are built from others.
enum NetCDFLock {
    static let lock = NSRecursiveLock()

    @inline(__always)
    static func run<R>(_ body: () throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}

/// NetCDF's message for a status code.
func netCDFMessage(_ status: Int32) -> String {
    guard let p = nc_strerror(status) else { return "NetCDF error \(status)" }
    return String(cString: p)
}

/// Throws a `NetCDFError` when `status` is not NC_NOERR. Callers hold the lock.
@inline(__always)
func check(_ status: Int32, _ path: String, _ variable: String? = nil, _ operation: @autoclosure () -> String) throws {
    if status != NC_NOERR {
        throw NetCDFError(path: path, variable: variable, operation: operation(), code: status, message: netCDFMessage(status))
    }
}

/// A NUL-terminated C name buffer as a String.
func cName(_ buf: [CChar]) -> String {
    String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
