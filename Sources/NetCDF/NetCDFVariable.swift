import CNetCDF

/// A variable of a group: its type, dimensions, attributes, and hyperslab
/// reads and writes (`nc_get_vara` / `nc_put_vara`).
public struct NetCDFVariable: Sendable {
    public let group: NetCDFGroup
    let id: Int32
    public let name: String
    public let type: NetCDFType
    public let dimensionNames: [String]
    let dimensionIDs: [Int32]

    public var file: NetCDFFile { group.file }
    private var path: String { group.path == "/" ? file.path : "\(file.path) group \(group.path)" }

    /// Callers hold the lock.
    init(group: NetCDFGroup, id: Int32) throws {
        self.group = group
        self.id = id
        let path = group.path == "/" ? group.file.path : "\(group.file.path) group \(group.path)"
        var buf = [CChar](repeating: 0, count: Int(NC_MAX_NAME) + 1)
        var xtype: nc_type = 0
        var ndims: Int32 = 0
        try check(nc_inq_var(group.id, id, &buf, &xtype, &ndims, nil, nil), path, nil, "inquire variable \(id)")
        name = cName(buf)
        type = NetCDFType(xtype)
        var dimids = [Int32](repeating: 0, count: Int(ndims))
        try check(nc_inq_var(group.id, id, nil, nil, nil, &dimids, nil), path, name, "inquire dimensions")
        dimensionIDs = dimids
        dimensionNames = try dimids.map { d in
            var n = [CChar](repeating: 0, count: Int(NC_MAX_NAME) + 1)
            try check(nc_inq_dimname(group.id, d, &n), path, cName(buf), "inquire dimension name")
            return cName(n)
        }
    }

    /// Current length of each dimension (an unlimited one grows as records are written).
    public func shape() throws -> [Int] {
        try NetCDFLock.run {
            try file.ensureOpen()
            return try dimensionIDs.map { d in
                var len = 0
                try check(nc_inq_dimlen(group.id, d, &len), path, name, "inquire shape")
                return len
            }
        }
    }

    public var rank: Int { dimensionIDs.count }

    // MARK: Attributes

    public func attributes() throws -> [String: NetCDFAttribute] {
        try NetCDFLock.run { try readAttributes(file: file, ncid: group.id, varid: id, where: path, variable: name) }
    }

    public func attribute(_ attr: String) throws -> NetCDFAttribute? {
        try NetCDFLock.run { try readAttribute(file: file, ncid: group.id, varid: id, name: attr, where: path, variable: name) }
    }

    public func setAttribute(_ attr: String, _ value: NetCDFAttribute) throws {
        try NetCDFLock.run { try writeAttribute(file: file, ncid: group.id, varid: id, name: attr, value: value, where: path, variable: name) }
    }

    /// True when the Fletcher32 checksum filter is on.
    public func hasFletcher32() throws -> Bool {
        try NetCDFLock.run {
            try file.ensureOpen()
            guard file.format.isNetCDF4 else { return false }
            var f: Int32 = 0
            try check(nc_inq_var_fletcher32(group.id, id, &f), path, name, "inquire fletcher32")
            return f != 0
        }
    }

    /// How a NetCDF-4 variable is stored: its chunk shape (nil when contiguous,
    /// compact, or in a classic-format file) and the chunk cache netCDF-C gives
    /// it (HDF5 keeps up to `cacheBytes` of decompressed chunks, in at most
    /// `cacheSlots` hash slots, while the file is open).
    public struct Chunking: Equatable, Sendable {
        public let chunkShape: [Int]?
        public let cacheBytes: Int
        public let cacheSlots: Int
    }

    public func chunking() throws -> Chunking {
        try NetCDFLock.run {
            try file.ensureOpen()
            guard file.format.isNetCDF4 else { return Chunking(chunkShape: nil, cacheBytes: 0, cacheSlots: 0) }
            var storage: Int32 = 0
            var sizes = [Int](repeating: 0, count: max(1, rank))
            try check(nc_inq_var_chunking(group.id, id, &storage, &sizes), path, name, "inquire chunking")
            var bytes = 0, slots = 0
            var preemption: Float = 0
            try check(nc_get_var_chunk_cache(group.id, id, &bytes, &slots, &preemption), path, name, "inquire chunk cache")
            let chunked = storage == NC_CHUNKED && rank > 0
            return Chunking(chunkShape: chunked ? Array(sizes.prefix(rank)) : nil, cacheBytes: bytes, cacheSlots: slots)
        }
    }

    // MARK: Reads

    private func checkSlab(_ start: [Int], _ count: [Int], _ available: Int, _ op: String) throws -> Int {
        guard start.count == rank, count.count == rank else {
            throw NetCDFError(path: path, variable: name, operation: op,
                              message: "hyperslab of rank \(start.count)/\(count.count) for a variable of rank \(rank)")
        }
        let n = count.reduce(1, *)
        guard n <= available else {
            throw NetCDFError(path: path, variable: name, operation: op, message: "buffer of \(available) values for a hyperslab of \(n)")
        }
        return n
    }

    /// Reads the hyperslab `start`/`count` into `buffer` (row-major, last
    /// dimension fastest), converting to `T`. Returns the number of values.
    @discardableResult
    public func read<T: NetCDFNumeric>(start: [Int], count: [Int], into buffer: UnsafeMutableBufferPointer<T>) throws -> Int {
        try NetCDFLock.run {
            try file.ensureOpen()
            let what = "read \(slabText(start, count))"
            let n = try checkSlab(start, count, buffer.count, what)
            if n == 0 { return 0 }
            try file.dataMode()
            try check(getVara(group.id, id, start, count, buffer.baseAddress!), path, name, what)
            return n
        }
    }

    /// Reads a hyperslab into a new array.
    public func read<T: NetCDFNumeric>(_: T.Type = T.self, start: [Int], count: [Int]) throws -> [T] {
        let n = count.reduce(1, *)
        var out = [T](repeating: T.zero, count: n)
        try out.withUnsafeMutableBufferPointer { _ = try read(start: start, count: count, into: $0) }
        return out
    }

    /// Reads the whole variable.
    public func readAll<T: NetCDFNumeric>(_: T.Type = T.self) throws -> [T] {
        let s = try shape()
        return try read(T.self, start: [Int](repeating: 0, count: s.count), count: s)
    }

    /// Reads a char hyperslab as bytes.
    public func readChars(start: [Int], count: [Int]) throws -> [UInt8] {
        try NetCDFLock.run {
            try file.ensureOpen()
            let what = "read \(slabText(start, count))"
            let n = try checkSlab(start, count, Int.max, what)
            var out = [CChar](repeating: 0, count: n)
            if n > 0 {
                try file.dataMode()
                try check(nc_get_vara_text(group.id, id, start, count, &out), path, name, what)
            }
            return out.map { UInt8(bitPattern: $0) }
        }
    }

    /// A whole char variable as text, trailing NULs and blanks removed.
    public func readText() throws -> String {
        let s = try shape()
        let bytes = try readChars(start: [Int](repeating: 0, count: s.count), count: s)
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self).trimmingCharacters(in: " ")
    }

    // MARK: Writes

    /// Writes `values` (row-major) to the hyperslab `start`/`count`. Writing
    /// past the end of an unlimited dimension extends it.
    public func write<T: NetCDFNumeric>(_ values: UnsafeBufferPointer<T>, start: [Int], count: [Int]) throws {
        try NetCDFLock.run {
            try file.ensureOpen()
            let what = "write \(slabText(start, count))"
            let n = try checkSlab(start, count, values.count, what)
            guard n == values.count else {
                throw NetCDFError(path: path, variable: name, operation: what, message: "\(values.count) values for a hyperslab of \(n)")
            }
            if n == 0 { return }
            try file.dataMode()
            try check(putVara(group.id, id, start, count, values.baseAddress!), path, name, what)
        }
    }

    public func write<T: NetCDFNumeric>(_ values: [T], start: [Int], count: [Int]) throws {
        try values.withUnsafeBufferPointer { try write($0, start: start, count: count) }
    }

    /// Writes the whole (fixed-size) variable.
    public func writeAll<T: NetCDFNumeric>(_ values: [T]) throws {
        let s = try shape()
        try write(values, start: [Int](repeating: 0, count: s.count), count: s)
    }

    /// Writes bytes to a char hyperslab.
    public func writeChars(_ bytes: [UInt8], start: [Int], count: [Int]) throws {
        try NetCDFLock.run {
            try file.ensureOpen()
            let what = "write \(slabText(start, count))"
            let n = try checkSlab(start, count, bytes.count, what)
            guard n == bytes.count else {
                throw NetCDFError(path: path, variable: name, operation: what, message: "\(bytes.count) chars for a hyperslab of \(n)")
            }
            try file.dataMode()
            let chars = bytes.map { CChar(bitPattern: $0) }
            try check(nc_put_vara_text(group.id, id, start, count, chars), path, name, what)
        }
    }

    private func slabText(_ start: [Int], _ count: [Int]) -> String {
        "[" + zip(start, count).map { "\($0):\($0 + $1)" }.joined(separator: ", ") + "]"
    }
}

private extension String {
    func trimmingCharacters(in c: Character) -> String {
        var s = Substring(self)
        while s.first == c { s.removeFirst() }
        while s.last == c { s.removeLast() }
        return String(s)
    }
}

// The typed NetCDF-C entry points; NetCDF-C converts from the external type.
@inline(__always)
private func getVara<T: NetCDFNumeric>(_ ncid: Int32, _ varid: Int32, _ start: [Int], _ count: [Int], _ p: UnsafeMutablePointer<T>) -> Int32 {
    let raw = UnsafeMutableRawPointer(p)
    switch T.netCDFType {
    case .float: return nc_get_vara_float(ncid, varid, start, count, raw.assumingMemoryBound(to: Float.self))
    case .double: return nc_get_vara_double(ncid, varid, start, count, raw.assumingMemoryBound(to: Double.self))
    case .short: return nc_get_vara_short(ncid, varid, start, count, raw.assumingMemoryBound(to: Int16.self))
    case .int: return nc_get_vara_int(ncid, varid, start, count, raw.assumingMemoryBound(to: Int32.self))
    case .byte: return nc_get_vara_schar(ncid, varid, start, count, raw.assumingMemoryBound(to: Int8.self))
    case .ubyte: return nc_get_vara_uchar(ncid, varid, start, count, raw.assumingMemoryBound(to: UInt8.self))
    case .int64: return nc_get_vara_longlong(ncid, varid, start, count, raw.assumingMemoryBound(to: CLongLong.self))
    default: return NC_EBADTYPE
    }
}

@inline(__always)
private func putVara<T: NetCDFNumeric>(_ ncid: Int32, _ varid: Int32, _ start: [Int], _ count: [Int], _ p: UnsafePointer<T>) -> Int32 {
    let raw = UnsafeRawPointer(p)
    switch T.netCDFType {
    case .float: return nc_put_vara_float(ncid, varid, start, count, raw.assumingMemoryBound(to: Float.self))
    case .double: return nc_put_vara_double(ncid, varid, start, count, raw.assumingMemoryBound(to: Double.self))
    case .short: return nc_put_vara_short(ncid, varid, start, count, raw.assumingMemoryBound(to: Int16.self))
    case .int: return nc_put_vara_int(ncid, varid, start, count, raw.assumingMemoryBound(to: Int32.self))
    case .byte: return nc_put_vara_schar(ncid, varid, start, count, raw.assumingMemoryBound(to: Int8.self))
    case .ubyte: return nc_put_vara_uchar(ncid, varid, start, count, raw.assumingMemoryBound(to: UInt8.self))
    case .int64: return nc_put_vara_longlong(ncid, varid, start, count, raw.assumingMemoryBound(to: CLongLong.self))
    default: return NC_EBADTYPE
    }
}
