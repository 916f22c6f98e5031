import CNetCDF

/// An attribute value. Text is NC_CHAR (what CF tools expect); numeric
/// attributes are arrays (a scalar is an array of one).
public enum NetCDFAttribute: Equatable, Sendable {
    case text(String)
    case bytes([Int8])
    case ubytes([UInt8])
    case shorts([Int16])
    case ints([Int32])
    case int64s([Int64])
    case floats([Float])
    case doubles([Double])
    /// A type we do not decode (strings, unsigned 16/32/64, user types).
    case unsupported(NetCDFType)

    /// Numeric values as Double (nil for text).
    public var numbers: [Double]? {
        switch self {
        case .bytes(let a): a.map(Double.init)
        case .ubytes(let a): a.map(Double.init)
        case .shorts(let a): a.map(Double.init)
        case .ints(let a): a.map(Double.init)
        case .int64s(let a): a.map(Double.init)
        case .floats(let a): a.map(Double.init)
        case .doubles(let a): a
        case .text, .unsupported: nil
        }
    }

    /// The first numeric value.
    public var number: Double? { numbers?.first }

    public var text: String? {
        if case .text(let s) = self { return s }
        return nil
    }

    public var type: NetCDFType {
        switch self {
        case .text: .char
        case .bytes: .byte
        case .ubytes: .ubyte
        case .shorts: .short
        case .ints: .int
        case .int64s: .int64
        case .floats: .float
        case .doubles: .double
        case .unsupported(let t): t
        }
    }
}

// Shared by groups (global attributes) and variables; callers hold the lock.

func readAttributes(file: NetCDFFile, ncid: Int32, varid: Int32, where path: String, variable: String?) throws -> [String: NetCDFAttribute] {
    try file.ensureOpen()
    var n: Int32 = 0
    try check(nc_inq_varnatts(ncid, varid, &n), path, variable, "count attributes")
    var out: [String: NetCDFAttribute] = [:]
    for i in 0 ..< n {
        var buf = [CChar](repeating: 0, count: Int(NC_MAX_NAME) + 1)
        try check(nc_inq_attname(ncid, varid, i, &buf), path, variable, "read attribute name")
        let name = cName(buf)
        if let v = try readAttribute(file: file, ncid: ncid, varid: varid, name: name, where: path, variable: variable) {
            out[name] = v
        }
    }
    return out
}

func readAttribute(file: NetCDFFile, ncid: Int32, varid: Int32, name: String, where path: String, variable: String?) throws -> NetCDFAttribute? {
    try file.ensureOpen()
    var xtype: nc_type = 0
    var len = 0
    let status = nc_inq_att(ncid, varid, name, &xtype, &len)
    if status == NC_ENOTATT { return nil }
    let what = "read attribute '\(name)'"
    try check(status, path, variable, what)
    switch NetCDFType(xtype) {
    case .char:
        var buf = [CChar](repeating: 0, count: len + 1)
        if len > 0 { try check(nc_get_att_text(ncid, varid, name, &buf), path, variable, what) }
        // Some writers include trailing NULs in the length.
        let bytes = buf.prefix(len).map { UInt8(bitPattern: $0) }
        let trimmed = bytes.prefix { $0 != 0 }
        return .text(String(decoding: trimmed, as: UTF8.self))
    case .byte:
        var a = [Int8](repeating: 0, count: len)
        try check(nc_get_att_schar(ncid, varid, name, &a), path, variable, what)
        return .bytes(a)
    case .ubyte:
        var a = [UInt8](repeating: 0, count: len)
        try check(nc_get_att_uchar(ncid, varid, name, &a), path, variable, what)
        return .ubytes(a)
    case .short:
        var a = [Int16](repeating: 0, count: len)
        try check(nc_get_att_short(ncid, varid, name, &a), path, variable, what)
        return .shorts(a)
    case .int:
        var a = [Int32](repeating: 0, count: len)
        try check(nc_get_att_int(ncid, varid, name, &a), path, variable, what)
        return .ints(a)
    case .int64:
        var a = [Int64](repeating: 0, count: len)
        try a.withUnsafeMutableBufferPointer { p in
            try p.baseAddress!.withMemoryRebound(to: CLongLong.self, capacity: len) {
                try check(nc_get_att_longlong(ncid, varid, name, $0), path, variable, what)
            }
        }
        return .int64s(a)
    case .float:
        var a = [Float](repeating: 0, count: len)
        try check(nc_get_att_float(ncid, varid, name, &a), path, variable, what)
        return .floats(a)
    case .double:
        var a = [Double](repeating: 0, count: len)
        try check(nc_get_att_double(ncid, varid, name, &a), path, variable, what)
        return .doubles(a)
    case let t:
        return .unsupported(t)
    }
}

func writeAttribute(file: NetCDFFile, ncid: Int32, varid: Int32, name: String, value: NetCDFAttribute,
                    where path: String, variable: String?) throws {
    try file.defineMode()
    let what = "write attribute '\(name)'"
    let status: Int32
    switch value {
    case .text(let s):
        let bytes = Array(s.utf8)
        status = bytes.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { nc_put_att_text(ncid, varid, name, bytes.count, $0.baseAddress) }
        }
    case .bytes(let a): status = nc_put_att_schar(ncid, varid, name, NC_BYTE, a.count, a)
    case .ubytes(let a): status = nc_put_att_uchar(ncid, varid, name, NC_UBYTE, a.count, a)
    case .shorts(let a): status = nc_put_att_short(ncid, varid, name, NC_SHORT, a.count, a)
    case .ints(let a): status = nc_put_att_int(ncid, varid, name, NC_INT, a.count, a)
    case .int64s(let a):
        status = a.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CLongLong.self) { nc_put_att_longlong(ncid, varid, name, NC_INT64, a.count, $0.baseAddress) }
        }
    case .floats(let a): status = nc_put_att_float(ncid, varid, name, NC_FLOAT, a.count, a)
    case .doubles(let a): status = nc_put_att_double(ncid, varid, name, NC_DOUBLE, a.count, a)
    case .unsupported(let t):
        throw NetCDFError(path: path, variable: variable, operation: what, message: "cannot write an attribute of type \(t)")
    }
    try check(status, path, variable, what)
}
