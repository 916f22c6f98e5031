import Foundation
import Kernels
import NetCDF

/// What `faconvlstm synth` writes: a CF-compliant multivariate dataset with a
/// seasonal cycle, a travelling wave and noise (or K spatial "regimes" that the
/// series switches between, with the true label per step), every number a pure
/// function of the seed.
public struct SynthOptions: Sendable {
    public enum Split: String, CaseIterable, Sendable { case none, variable, year }

    public var directory: String = "."
    public var prefix: String = "synth"
    public var variables: Int = 4
    public var times: Int = 64
    public var height: Int = 32
    public var width: Int = 64
    public var calendar: CFCalendar = .standard
    public var start: String = "2000-01-01"
    public var stepHours: Double = 6
    public var format: NetCDFFormat = .netcdf4
    public var split: Split = .none
    /// Fraction of points written as _FillValue.
    public var missingFraction: Double = 0
    /// Longitudes 0..360-dx (tiles wrap); else a regional 100-degree box.
    public var global: Bool = false
    /// Store as packed shorts with scale_factor/add_offset.
    public var packed: Bool = false
    /// Latitudes north to south.
    public var descendingLatitude: Bool = false
    /// K > 0: the field switches between K spatial patterns; `regime(time)` holds the label.
    public var regimes: Int = 0
    public var seed: UInt64 = 0
    public var deflate: Int? = nil

    public init() {}

    public static let names = ["tas", "psl", "uas", "vas", "huss", "pr", "ts", "clt"]
    public func variableName(_ v: Int) -> String { v < Self.names.count ? Self.names[v] : "var\(v)" }

    public func validate() throws {
        func bad(_ k: String, _ why: String) -> DataError { DataError("synth: --\(k) \(why)") }
        if variables < 1 { throw bad("variables", "must be at least 1") }
        if times < 1 { throw bad("times", "must be at least 1") }
        if height < 2 || width < 2 { throw bad("height/--width", "must be at least 2") }
        if !(stepHours > 0) { throw bad("step-hours", "must be positive") }
        if !(0 ... 1).contains(missingFraction) { throw bad("missing-fraction", "must be in [0, 1]") }
        if regimes < 0 { throw bad("regimes", "must be 0 or more") }
        if CFDateText.parse(start, calendar: calendar) == nil { throw bad("start", "'\(start)' is not a date of the \(calendar.rawValue) calendar") }
        if split == .year && format == .classic && times * height * width * 4 > 1 << 31 {
            throw bad("format", "classic cannot hold this size; use netcdf4 or classic64")
        }
    }
}

public enum Synth {
    /// Physical value of variable v at frame t and point (y, x), before missing/packing.
    public static func value(_ o: SynthOptions, v: Int, t: Int, y: Int, x: Int, lat: Double, lon: Double, dayOfYear: Double, regime: Int) -> Double {
        Field(o).value(v: v, t: t, y: y, x: x, lat: lat, lon: lon, dayOfYear: dayOfYear, regime: regime)
    }

    /// The per-run constants (hashed streams, regime patterns), computed once.
    struct Field {
        let o: SynthOptions
        let noiseStreams: [UInt64]
        let missingStreams: [UInt64]
        let patterns: [(Double, Double, Double)]

        init(_ o: SynthOptions) {
            self.o = o
            noiseStreams = (0 ..< o.variables).map { CounterRNG.hash("synth-noise-\($0)") }
            missingStreams = (0 ..< o.variables).map { CounterRNG.hash("synth-missing-\($0)") }
            patterns = (0 ..< max(1, o.regimes)).map { k in
                var p = CounterRNG(seed: o.seed, stream: CounterRNG.hash("synth-pattern-\(k)"))
                return (p.uniform(1, 4), p.uniform(1, 4), p.uniform(0, 2 * Double.pi))
            }
        }

        @inline(__always)
        func unit(_ stream: UInt64, _ index: Int) -> Double {
            Double(CounterRNG.value(seed: o.seed, stream: stream, index: UInt64(index)) >> 11) * 0x1.0p-53
        }

        func isMissing(v: Int, t: Int, y: Int, x: Int) -> Bool {
            o.missingFraction > 0 && unit(missingStreams[v], (t * o.height + y) * o.width + x) < o.missingFraction
        }

        func value(v: Int, t: Int, y: Int, x: Int, lat: Double, lon: Double, dayOfYear: Double, regime: Int) -> Double {
            let mean = 10.0 * Double(v + 1)
            // Box-Muller from two counter draws.
            let i = ((t * o.height) + y) * o.width + x
            let u1 = max(unit(noiseStreams[v], 2 * i), 0x1.0p-60), u2 = unit(noiseStreams[v], 2 * i + 1)
            let noise = (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
            let phi = lat * Double.pi / 180, lam = lon * Double.pi / 180
            if o.regimes > 0 {
                let (a, b, c) = patterns[regime]
                let pattern = sin(a * Double(y) / Double(o.height) * Double.pi + c + Double(v)) * cos(b * Double(x) / Double(o.width) * 2 * Double.pi + c)
                return mean + 5 * pattern + 0.3 * noise
            }
            let seasonal = 4 * cos(2 * Double.pi * dayOfYear / o.calendar.yearLength) * sin(phi + 0.3)
            let hours = Double(t) * o.stepHours
            let wave = 3 * sin(3 * lam - 2 * Double.pi * hours / 120 + Double(v)) * cos(phi)
            return mean + seasonal + wave + 0.5 * noise
        }
    }

    /// Regime label of each frame: a persistent Markov chain (stay with
    /// probability 0.9), a pure function of the seed.
    public static func regimeLabels(_ o: SynthOptions) -> [Int] {
        guard o.regimes > 0 else { return [Int](repeating: 0, count: o.times) }
        var rng = CounterRNG(seed: o.seed, streamName: "synth-regimes")
        var r = rng.nextInt(below: o.regimes)
        return (0 ..< o.times).map { _ in
            if rng.nextUnitDouble() >= 0.9 { r = rng.nextInt(below: o.regimes) }
            return r
        }
    }

    /// Writes the dataset; returns the files written.
    @discardableResult
    public static func write(_ o: SynthOptions) throws -> [String] {
        try o.validate()
        try FileManager.default.createDirectory(atPath: o.directory, withIntermediateDirectories: true)
        let cal = o.calendar
        let start = CFDateText.parse(o.start, calendar: cal)!.start
        let times = (0 ..< o.times).map { Double($0) * o.stepHours }
        let absolute = times.map { start + $0 / 24 }
        let years = absolute.map { cal.date(ofDay: Int($0.rounded(.down))).year }
        let lats = (0 ..< o.height).map { i -> Double in
            let l = -80 + 160 * Double(i) / Double(o.height - 1)
            return o.descendingLatitude ? -l : l
        }
        let lons = (0 ..< o.width).map { i -> Double in
            o.global ? 360 * Double(i) / Double(o.width) : -140 + 100 * Double(i) / Double(o.width - 1)
        }
        let labels = regimeLabels(o)
        let field = Field(o)
        let startText = cal.format(start)

        // (file name, variables, frames) groups.
        var groups: [(String, [Int], Range<Int>)] = []
        let allVars = Array(0 ..< o.variables)
        func yearRuns() -> [(Int, Range<Int>)] {
            var runs: [(Int, Range<Int>)] = []
            var s = 0
            for i in 1 ... o.times where i == o.times || years[i] != years[s] {
                runs.append((years[s], s ..< i))
                s = i
            }
            return runs
        }
        switch o.split {
        case .none: groups = [("\(o.prefix).nc", allVars, 0 ..< o.times)]
        case .variable: groups = allVars.map { ("\(o.prefix)_\(o.variableName($0)).nc", [$0], 0 ..< o.times) }
        case .year:
            for v in allVars { for (y, r) in yearRuns() { groups.append(("\(o.prefix)_\(o.variableName(v))_\(y).nc", [v], r)) } }
        }

        var written: [String] = []
        var frame = [Float](repeating: 0, count: o.height * o.width)
        var packed = [Int16](repeating: 0, count: o.height * o.width)
        for (name, vars, frames) in groups {
            let path = "\(o.directory)/\(name)"
            let f = try NetCDFFile.create(path, format: o.format)
            let root = f.root
            try root.setAttribute("Conventions", .text("CF-1.8"))
            try root.setAttribute("title", .text("faconvlstm synthetic data"))
            try root.setAttribute("source", .text("faconvlstm synth, seed \(o.seed)"))
            try root.defineDimension("time", length: nil)
            try root.defineDimension("lat", length: o.height)
            try root.defineDimension("lon", length: o.width)
            let tv = try root.defineVariable("time", type: .double, dimensions: ["time"])
            try tv.setAttribute("units", .text("hours since \(startText)"))
            try tv.setAttribute("calendar", .text(cal.rawValue))
            try tv.setAttribute("standard_name", .text("time"))
            try tv.setAttribute("axis", .text("T"))
            let latv = try root.defineVariable("lat", type: .float, dimensions: ["lat"])
            try latv.setAttribute("units", .text("degrees_north"))
            try latv.setAttribute("standard_name", .text("latitude"))
            let lonv = try root.defineVariable("lon", type: .float, dimensions: ["lon"])
            try lonv.setAttribute("units", .text("degrees_east"))
            try lonv.setAttribute("standard_name", .text("longitude"))
            var dataVars: [(Int, NetCDFVariable)] = []
            for v in vars {
                let chunks: [Int]? = o.format.isNetCDF4 ? [1, o.height, o.width] : nil
                let dv = try root.defineVariable(o.variableName(v), type: o.packed ? .short : .float, dimensions: ["time", "lat", "lon"],
                                                 chunks: chunks, deflate: o.format.isNetCDF4 ? o.deflate : nil)
                try dv.setAttribute("long_name", .text("synthetic field \(v)"))
                try dv.setAttribute("units", .text("1"))
                if o.packed {
                    try dv.setAttribute("scale_factor", .doubles([packScale]))
                    try dv.setAttribute("add_offset", .doubles([10.0 * Double(v + 1)]))
                    try dv.setAttribute("_FillValue", .shorts([-32767]))
                } else {
                    try dv.setAttribute("_FillValue", .floats([-9999]))
                }
                dataVars.append((v, dv))
            }
            var rv: NetCDFVariable? = nil
            if o.regimes > 0 {
                rv = try root.defineVariable("regime", type: .int, dimensions: ["time"])
                try rv!.setAttribute("long_name", .text("true regime label (0..\(o.regimes - 1))"))
            }
            try latv.writeAll(lats.map(Float.init))
            try lonv.writeAll(lons.map(Float.init))
            try tv.write(Array(times[frames]), start: [0], count: [frames.count])
            try rv?.write(labels[frames].map(Int32.init), start: [0], count: [frames.count])
            for (v, dv) in dataVars {
                for t in frames {
                    let doy = cal.dayOfYear(absolute[t])
                    for y in 0 ..< o.height {
                        for x in 0 ..< o.width {
                            let i = y * o.width + x
                            let miss = field.isMissing(v: v, t: t, y: y, x: x)
                            let val = field.value(v: v, t: t, y: y, x: x, lat: lats[y], lon: lons[x], dayOfYear: doy, regime: labels[t])
                            if o.packed {
                                packed[i] = miss ? -32767 : Int16(max(-32000, min(32000, ((val - 10.0 * Double(v + 1)) / packScale).rounded())))
                            } else {
                                frame[i] = miss ? -9999 : Float(val)
                            }
                        }
                    }
                    let start = [t - frames.lowerBound, 0, 0], count = [1, o.height, o.width]
                    if o.packed { try dv.write(packed, start: start, count: count) } else { try dv.write(frame, start: start, count: count) }
                }
            }
            try f.close()
            written.append(path)
        }
        return written
    }

    /// Packing step: 0.001 covers +-32 around the offset.
    public static let packScale = 0.001
}
