import CNetCDF
import Foundation

/// On-disk formats a new file can have.
public enum NetCDFFormat: String, CaseIterable, Sendable {
    /// CDF-1, the original classic format.
    case classic
    /// CDF-2, classic with 64-bit offsets (variables over 2 GiB).
    case classic64
    /// NetCDF-4 (HDF5): groups, compression, checksums, more types.
    case netcdf4
    /// NetCDF-4 storage restricted to the classic data model.
    case netcdf4Classic = "netcdf4_classic"

    var createMode: Int32 {
        switch self {
        case .classic: NC_CLOBBER
        case .classic64: NC_CLOBBER | NC_64BIT_OFFSET
        case .netcdf4: NC_CLOBBER | NC_NETCDF4
        case .netcdf4Classic: NC_CLOBBER | NC_NETCDF4 | NC_CLASSIC_MODEL
        }
    }

    public var isNetCDF4: Bool { self == .netcdf4 || self == .netcdf4Classic }
}

/// An open NetCDF file. Every call is serialized through one process-wide
/// lock, so a file may be used from any thread (a prefetch thread reads while
/// the main thread writes a checkpoint). Closed by `close()` or on deinit.
public final class NetCDFFile: @unchecked Sendable {
    public let path: String
    public let writable: Bool
    public let format: NetCDFFormat
    let ncid: Int32
    private var isOpen = true
    /// Classic files need explicit define/data modes; we switch on demand.
    private var inDefineMode: Bool

    private init(path: String, ncid: Int32, writable: Bool, format: NetCDFFormat, inDefineMode: Bool) {
        self.path = path
        self.ncid = ncid
        self.writable = writable
        self.format = format
        self.inDefineMode = inDefineMode
    }

    deinit {
        if isOpen { NetCDFLock.run { _ = nc_close(ncid) } }
    }

    /// Opens an existing file (classic or NetCDF-4).
    public static func open(_ path: String, writable: Bool = false) throws -> NetCDFFile {
        try NetCDFLock.run {
            var id: Int32 = 0
            let status = nc_open(path, writable ? NC_WRITE : NC_NOWRITE, &id)
            if status != NC_NOERR {
                // nc_open reports a missing file with the OS errno; say it plainly.
                let exists = FileManager.default.fileExists(atPath: path)
                let message = exists ? netCDFMessage(status) : "no such file"
                throw NetCDFError(path: path, operation: "cannot open", code: status, message: message)
            }
            var fmt: Int32 = 0
            nc_inq_format(id, &fmt)
            let format: NetCDFFormat
            switch fmt {
            case NC_FORMAT_64BIT_OFFSET, NC_FORMAT_CDF5: format = .classic64
            case NC_FORMAT_NETCDF4: format = .netcdf4
            case NC_FORMAT_NETCDF4_CLASSIC: format = .netcdf4Classic
            default: format = .classic
            }
            return NetCDFFile(path: path, ncid: id, writable: writable, format: format, inDefineMode: false)
        }
    }

    /// Creates (or replaces) a file in the given format, in define mode.
    public static func create(_ path: String, format: NetCDFFormat = .netcdf4) throws -> NetCDFFile {
        try NetCDFLock.run {
            var id: Int32 = 0
            try check(nc_create(path, format.createMode, &id), path, nil, "cannot create")
            if !format.isNetCDF4 {
                // Classic files: we write every value ourselves, so skip prefilling.
                var old: Int32 = 0
                nc_set_fill(id, NC_NOFILL, &old)
            }
            return NetCDFFile(path: path, ncid: id, writable: true, format: format, inDefineMode: true)
        }
    }

    /// Creates a NetCDF-4 file in memory; `closeToBytes()` returns its image.
    ///
    /// Why: when HDF5 itself hits a write error (a full disk), NetCDF 4.9 /
    /// HDF5 1.10 fail `nc_close`, keep the file descriptor open (the space of
    /// the deleted file is never freed) and crash at process exit. Built in
    /// memory, the file reaches the disk by the caller's own `write`, whose
    /// errors are plain errors.
    ///
    /// How: `nc_open_memio` on the image of an empty NetCDF-4 file as
    /// `nc_create` writes it (superblock 2, creation order tracked), not
    /// `nc_create_mem`, whose files lack creation order (variables come back
    /// sorted by name, the file cannot be reopened for writing), metadata
    /// checksums (superblock 0) and attributes over 64 KiB.
    /// `name` is for messages only.
    public static func createInMemory(_ name: String) throws -> NetCDFFile {
        try NetCDFLock.run {
            guard let template = Data(base64Encoded: emptyNetCDF4), let memory = malloc(template.count) else {
                throw NetCDFError(path: name, operation: "cannot create in memory", message: "out of memory")
            }
            template.copyBytes(to: memory.assumingMemoryBound(to: UInt8.self), count: template.count)
            // Not NC_MEMIO_LOCKED: the library grows (reallocs) the buffer and owns it until closeToBytes.
            var info = NC_memio(size: template.count, memory: memory, flags: 0)
            var id: Int32 = 0
            let status = nc_open_memio(name, NC_WRITE, &info, &id)
            if status != NC_NOERR {
                free(memory)
                try check(status, name, nil, "cannot create in memory")
            }
            return NetCDFFile(path: name, ncid: id, writable: true, format: .netcdf4, inDefineMode: false)
        }
    }

    /// `nc_create(path, NC_NETCDF4)` + `nc_close` of NetCDF 4.9.0 / HDF5 1.10.8, 239 bytes.
    private static let emptyNetCDF4 = """
        iUhERg0KGgoCCAgAAAAAAAAAAAD//////////+8AAAAAAAAAMAAAAAAAAACUM0UPT0hEUgIMtAIiAAAAAAADAAAAAAAAAAD/////////\
        //////////////////////8KAgABAAAAABUcAAQAAAADAQD///////////////////////////////8MRQAAAAADAA4ACAAEAABfTkNQ\
        cm9wZXJ0aWVzABMAAAAiAAAAAgAAAHZlcnNpb249MixuZXRjZGY9NC45LjAsaGRmNT0xLjEwLjgAEQAAAAAAAAAAAAAAAAAAAAAAAAAA\
        AA6NjFU=
        """

    /// Closes a file made by `createInMemory` and returns the bytes of the finished file.
    public func closeToBytes() throws -> Data {
        try NetCDFLock.run {
            try ensureOpen()
            isOpen = false
            var info = NC_memio()
            try check(nc_close_memio(ncid, &info), path, nil, "close in-memory file")
            guard let memory = info.memory else { return Data() }
            // The library hands the (realloc'ed) buffer back; Data frees it.
            return Data(bytesNoCopy: memory, count: info.size, deallocator: .free)
        }
    }

    /// The root group ("/").
    public var root: NetCDFGroup { NetCDFGroup(file: self, id: ncid, path: "/") }

    /// Flushes written data to disk.
    public func sync() throws {
        try NetCDFLock.run {
            try ensureOpen()
            try dataMode()
            try check(nc_sync(ncid), path, nil, "sync")
        }
    }

    /// Closes the file; further use throws. Closing twice is allowed.
    public func close() throws {
        try NetCDFLock.run {
            guard isOpen else { return }
            isOpen = false
            try check(nc_close(ncid), path, nil, "close")
        }
    }

    // Mode handling; callers hold the lock.

    func ensureOpen() throws {
        if !isOpen { throw NetCDFError(path: path, operation: "use", message: "file is closed") }
    }

    func defineMode() throws {
        try ensureOpen()
        if !inDefineMode {
            try check(nc_redef(ncid), path, nil, "enter define mode")
            inDefineMode = true
        }
    }

    func dataMode() throws {
        try ensureOpen()
        if inDefineMode {
            try check(nc_enddef(ncid), path, nil, "leave define mode")
            inDefineMode = false
        }
    }
}
