import CNetCDF

/// The external types of NetCDF variables and attributes.
public enum NetCDFType: Equatable, Sendable, CustomStringConvertible {
    case byte, char, short, int, float, double
    case ubyte, ushort, uint, int64, uint64, string
    /// User-defined types (compound, vlen, ...) we do not read.
    case other(Int32)

    init(_ raw: nc_type) {
        switch raw {
        case NC_BYTE: self = .byte
        case NC_CHAR: self = .char
        case NC_SHORT: self = .short
        case NC_INT: self = .int
        case NC_FLOAT: self = .float
        case NC_DOUBLE: self = .double
        case NC_UBYTE: self = .ubyte
        case NC_USHORT: self = .ushort
        case NC_UINT: self = .uint
        case NC_INT64: self = .int64
        case NC_UINT64: self = .uint64
        case NC_STRING: self = .string
        default: self = .other(raw)
        }
    }

    var raw: nc_type {
        switch self {
        case .byte: NC_BYTE
        case .char: NC_CHAR
        case .short: NC_SHORT
        case .int: NC_INT
        case .float: NC_FLOAT
        case .double: NC_DOUBLE
        case .ubyte: NC_UBYTE
        case .ushort: NC_USHORT
        case .uint: NC_UINT
        case .int64: NC_INT64
        case .uint64: NC_UINT64
        case .string: NC_STRING
        case .other(let t): t
        }
    }

    /// The CDL name (`ncdump -h`).
    public var description: String {
        switch self {
        case .byte: "byte"
        case .char: "char"
        case .short: "short"
        case .int: "int"
        case .float: "float"
        case .double: "double"
        case .ubyte: "ubyte"
        case .ushort: "ushort"
        case .uint: "uint"
        case .int64: "int64"
        case .uint64: "uint64"
        case .string: "string"
        case .other(let t): "user type \(t)"
        }
    }

    /// Bytes of one value in the file (nil for strings and user types).
    public var byteSize: Int? {
        switch self {
        case .byte, .char, .ubyte: 1
        case .short, .ushort: 2
        case .int, .uint, .float: 4
        case .double, .int64, .uint64: 8
        case .string, .other: nil
        }
    }

    /// True for the numeric types (what CF decoding can turn into numbers).
    public var isNumeric: Bool {
        switch self {
        case .char, .string, .other: false
        default: true
        }
    }
}

/// Swift element types that hyperslab reads and writes move. NetCDF-C
/// converts between the variable's external type and this one.
public protocol NetCDFNumeric: Sendable {
    static var netCDFType: NetCDFType { get }
    static var zero: Self { get }
}
extension Float: NetCDFNumeric { public static var netCDFType: NetCDFType { .float } }
extension Double: NetCDFNumeric { public static var netCDFType: NetCDFType { .double } }
extension Int16: NetCDFNumeric { public static var netCDFType: NetCDFType { .short } }
extension Int32: NetCDFNumeric { public static var netCDFType: NetCDFType { .int } }
extension Int8: NetCDFNumeric { public static var netCDFType: NetCDFType { .byte } }
extension UInt8: NetCDFNumeric { public static var netCDFType: NetCDFType { .ubyte } }
extension Int64: NetCDFNumeric { public static var netCDFType: NetCDFType { .int64 } }
