import NetCDF

/// How a variable's stored values become physical values (CF conventions 2.5,
/// 8.1): `_FillValue`, `missing_value`, `valid_min`/`valid_max`/`valid_range`
/// and NaN mark missing values, compared against the stored (packed) values;
/// `scale_factor`/`add_offset` unpack; `_Unsigned = "true"` reinterprets
/// byte/short/int as unsigned. Decoded missing values are NaN.
public struct CFPacking: Equatable, Sendable {
    /// Stored values that mean "missing" (_FillValue, missing_value, or the type's default fill).
    public var missingValues: [Double] = []
    public var validMin: Double? = nil
    public var validMax: Double? = nil
    public var scale: Double = 1
    public var offset: Double = 0
    /// 2^bits when `_Unsigned = "true"` on a signed integer type, else 0.
    public var unsignedWrap: Double = 0

    public init() {}

    /// Reads the CF attributes of a variable of `type`.
    public init(attributes a: [String: NetCDFAttribute], type: NetCDFType) {
        var wrap = 0.0
        if let u = a["_Unsigned"]?.text, u.lowercased() == "true" {
            switch type {
            case .byte: wrap = 256
            case .short: wrap = 65536
            case .int: wrap = 4_294_967_296
            default: break
            }
        }
        unsignedWrap = wrap
        let asStored: (Double) -> Double = { v in
            // Compare in the variable's own precision: a double _FillValue on a float variable.
            let w = v < 0 && wrap > 0 ? v + wrap : v
            return type == .float ? Double(Float(w)) : w
        }
        if let f = a["_FillValue"]?.numbers {
            missingValues += f.map(asStored)
        } else if let d = Self.defaultFill(type) {
            // Never-written values hold the type's default fill (netCDF4-python masks them too).
            missingValues.append(d)
        }
        if let m = a["missing_value"]?.numbers { missingValues += m.map(asStored) }
        if let r = a["valid_range"]?.numbers, r.count == 2 {
            validMin = asStored(r[0])
            validMax = asStored(r[1])
        }
        if let v = a["valid_min"]?.number { validMin = asStored(v) }
        if let v = a["valid_max"]?.number { validMax = asStored(v) }
        if let s = a["scale_factor"]?.number { scale = s }
        if let o = a["add_offset"]?.number { offset = o }
        missingValues = Array(Set(missingValues)).sorted()
    }

    /// NetCDF's default fill values (netcdf.h), none for bytes (ambiguous sign).
    static func defaultFill(_ t: NetCDFType) -> Double? {
        switch t {
        case .float: Double(Float(9.9692099683868690e+36))
        case .double: 9.9692099683868690e+36
        case .short: -32767
        case .int: -2_147_483_647
        case .ushort: 65535
        case .uint: 4_294_967_295
        default: nil
        }
    }

    public var isPacked: Bool { scale != 1 || offset != 0 }

    /// Decodes `values` in place, each as `decode(_:)` does (the same
    /// operations, so the same results), with the attribute tests hoisted out of
    /// the loop: per value it was an array walk and two optional checks, a fifth
    /// of the time a micro-batch read took.
    public func decode(_ values: UnsafeMutablePointer<Double>, count: Int) {
        // An unset bound never excludes a value (v < -inf and v > +inf are false).
        let lo = validMin ?? -.infinity, hi = validMax ?? .infinity
        let wrap = unsignedWrap, scale = self.scale, offset = self.offset
        if missingValues.count <= 1 {
            let missing = missingValues.first ?? .nan   // v == NaN is never true
            for i in 0 ..< count {
                var v = values[i]
                if wrap > 0 && v < 0 { v += wrap }
                values[i] = v.isNaN || v == missing || v < lo || v > hi ? .nan : v * scale + offset
            }
            return
        }
        for i in 0 ..< count { values[i] = decode(values[i]) }
    }

    /// The physical value of a stored value, or NaN when it is missing.
    @inline(__always)
    public func decode(_ stored: Double) -> Double {
        var v = stored
        if unsignedWrap > 0 && v < 0 { v += unsignedWrap }
        if v.isNaN { return .nan }
        for m in missingValues where v == m { return .nan }
        if let lo = validMin, v < lo { return .nan }
        if let hi = validMax, v > hi { return .nan }
        return v * scale + offset
    }
}
