import ClimateData
import Foundation
import NetCDF

/// Writes small NetCDF files with known raw values for the tests.
struct TestVar {
    var name: String
    var type: NetCDFType = .float
    /// Raw stored values, row-major over (time, [level,] lat, lon).
    var values: [Double]
    var attributes: [String: NetCDFAttribute] = [:]
    var levels: [Double]? = nil
}

func writeTestFile(_ path: String, format: NetCDFFormat = .netcdf4, times: [Double]?, timeUnits: String? = "days since 2000-01-01",
                   calendar: String? = nil, lat: [Double]?, lon: [Double]?, height: Int? = nil, width: Int? = nil,
                   variables: [TestVar]) throws {
    let f = try NetCDFFile.create(path, format: format)
    let nt = times?.count ?? (variables[0].values.count / ((lat?.count ?? height!) * (lon?.count ?? width!) * (variables[0].levels?.count ?? 1)))
    let ny = lat?.count ?? height!, nx = lon?.count ?? width!
    try f.root.defineDimension("time", length: nil)
    try f.root.defineDimension("lat", length: ny)
    try f.root.defineDimension("lon", length: nx)
    if let t = times {
        let tv = try f.root.defineVariable("time", type: .double, dimensions: ["time"])
        if let u = timeUnits { try tv.setAttribute("units", .text(u)) }
        if let c = calendar { try tv.setAttribute("calendar", .text(c)) }
        try tv.write(t, start: [0], count: [t.count])
    }
    if let la = lat {
        let v = try f.root.defineVariable("lat", type: .double, dimensions: ["lat"])
        try v.setAttribute("units", .text("degrees_north"))
        try v.writeAll(la)
    }
    if let lo = lon {
        let v = try f.root.defineVariable("lon", type: .double, dimensions: ["lon"])
        try v.setAttribute("units", .text("degrees_east"))
        try v.writeAll(lo)
    }
    for tv in variables {
        var dims = ["time", "lat", "lon"]
        var count = [nt, ny, nx]
        if let lev = tv.levels {
            if try f.root.dimension(named: "lev") == nil {
                try f.root.defineDimension("lev", length: lev.count)
                let lv = try f.root.defineVariable("lev", type: .double, dimensions: ["lev"])
                try lv.setAttribute("units", .text("hPa"))
                try lv.setAttribute("positive", .text("down"))
                try lv.writeAll(lev)
            }
            dims.insert("lev", at: 1)
            count.insert(lev.count, at: 1)
        }
        let v = try f.root.defineVariable(tv.name, type: tv.type, dimensions: dims)
        for (k, a) in tv.attributes { try v.setAttribute(k, a) }
        let start = [Int](repeating: 0, count: dims.count)
        switch tv.type {
        case .float: try v.write(tv.values.map { Float($0) }, start: start, count: count)
        case .double: try v.write(tv.values, start: start, count: count)
        case .short: try v.write(tv.values.map { Int16($0) }, start: start, count: count)
        case .int: try v.write(tv.values.map { Int32($0) }, start: start, count: count)
        case .byte: try v.write(tv.values.map { Int8($0) }, start: start, count: count)
        default: fatalError("test helper: type \(tv.type)")
        }
    }
    try f.close()
}

func config(_ files: [String], _ variables: [String], _ edit: (inout DataConfig) -> Void = { _ in }) -> DataConfig {
    var c = DataConfig()
    c.files = files
    c.variables = variables
    c.window = 1
    edit(&c)
    return c
}

/// All decoded values of a channel, [frames, rows, cols], NaN where missing.
func readAll(_ d: ClimateDataset, channel: Int) throws -> [Double] {
    var out = [Double](repeating: 0, count: d.frameCount * d.grid.height * d.grid.width)
    try out.withUnsafeMutableBufferPointer {
        try d.read(channel: channel, frames: 0 ..< d.frameCount, rows: 0 ..< d.grid.height, columns: 0 ..< d.grid.width, into: $0.baseAddress!)
    }
    return out
}

func sameMissing(_ a: [Double], _ b: [Double], tolerance: Double = 0) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { x, y in (x.isNaN && y.isNaN) || (!x.isNaN && !y.isNaN && abs(x - y) <= tolerance * max(1, abs(y))) }
}
