import Foundation
import NetCDF

/// One channel fed to the network: a variable, or one level of a 4-D variable.
public struct Channel: Equatable, Sendable {
    /// "T" or "T@500".
    public let name: String
    public let variable: String
    /// Index into the level dimension, for 4-D variables.
    public let levelIndex: Int?
    public let level: Double?
    public let units: String
    /// Name of the level dimension of a 4-D variable (nil for 3-D variables).
    public var levelDimension: String? = nil
}

/// A run of frames of one variable stored in one file.
struct FileSegment: Sendable {
    let path: String
    let variable: NetCDFVariable
    /// First dataset frame held by this file, and how many.
    var firstFrame: Int
    let count: Int
    let packing: CFPacking
    let times: [Double]?
    let grid: Grid
    let isFourD: Bool
    var calendar: CFCalendar? = nil
    var unitsText: String? = nil
    /// The time coordinate's stored values (before decoding), when there is one.
    var rawTimes: [Double]? = nil
}

/// A multivariate dataset described by a `DataConfig`: files of each variable
/// concatenated along time in time order (like xarray's `open_mfdataset`), one
/// grid, one time axis, CF-decoded on read.
public final class ClimateDataset: @unchecked Sendable {
    public let config: DataConfig
    public let files: [String]
    public let channels: [Channel]
    public let grid: Grid
    public let time: TimeAxis
    /// Frames for training and statistics, as contiguous runs.
    public let trainingFrames: [Range<Int>]
    /// Held-out frames, as contiguous runs (empty without `validation_range`).
    public let validationFrames: [Range<Int>]
    /// Per variable (in `config.variables` order), its files in time order.
    let segments: [[FileSegment]]
    /// Channel -> variable index.
    let channelVariable: [Int]

    /// Name of the time dimension (the first dimension of the first variable).
    public var timeDimension: String { segments[0][0].variable.dimensionNames[0] }

    /// Each frame's time coordinate value as stored in the files: in
    /// `time.units` when the data has time units (a file whose units text
    /// differs has its values converted), the raw values of a coordinate
    /// without units otherwise, nil without a time coordinate variable.
    /// Tools that decode the files see the same instants.
    public var timeValues: [Double]? {
        guard let t = time.times else {
            guard segments[0].allSatisfy({ $0.rawTimes != nil }) else { return nil }
            return segments[0].flatMap { $0.rawTimes! }
        }
        guard let unitsText = time.units, let cal = time.calendar, let units = try? CFTimeUnits(unitsText, calendar: cal) else { return nil }
        var out: [Double] = []
        for s in segments[0] {
            if let raw = s.rawTimes, s.unitsText == unitsText {
                out += raw
            } else {
                out += t[s.firstFrame ..< s.firstFrame + s.count].map { ($0 - units.reference) / units.unitDays }
            }
        }
        return out
    }

    public var frameCount: Int { time.frameCount }
    public var channelNames: [String] { channels.map(\.name) }

    private init(config: DataConfig, files: [String], channels: [Channel], channelVariable: [Int], grid: Grid, time: TimeAxis,
                 training: [Range<Int>], validation: [Range<Int>], segments: [[FileSegment]]) {
        self.config = config
        self.files = files
        self.channels = channels
        self.channelVariable = channelVariable
        self.grid = grid
        self.time = time
        trainingFrames = training
        validationFrames = validation
        self.segments = segments
    }

    /// Opens every file, checks that variables, grids and time axes agree, and
    /// resolves the time ranges. Every problem is a `DataError` naming the file
    /// and variable or the `data.` field.
    public static func open(_ config: DataConfig) throws -> ClimateDataset {
        try config.validate()
        let paths = try expandFiles(config.files)
        var opened: [(String, NetCDFFile)] = []
        for p in paths {
            do { opened.append((p, try NetCDFFile.open(p))) } catch let e as NetCDFError {
                throw DataError("\(p): cannot open as NetCDF: \(e.message)")
            }
        }
        let overrideCalendar = try config.calendar.map { name -> CFCalendar in
            guard let c = CFCalendar(cfName: name) else { throw DataError("data.calendar: unknown calendar \"\(name)\"") }
            return c
        }

        var segments: [[FileSegment]] = []
        var channels: [Channel] = []
        var channelVariable: [Int] = []
        for (vi, name) in config.variables.enumerated() {
            var segs: [FileSegment] = []
            for (path, file) in opened {
                guard let v = try wrap(path, name, { try file.root.findVariable(name) }) else { continue }
                segs.append(try segment(path: path, file: file, variable: v, config: config, overrideCalendar: overrideCalendar))
            }
            if segs.isEmpty {
                let list = paths.count == 1 ? paths[0] : "any of the \(paths.count) files (\(paths.prefix(3).joined(separator: ", "))\(paths.count > 3 ? ", ..." : ""))"
                throw DataError("data.variables: variable '\(name)' not found in \(list)")
            }
            segs = try orderInTime(segs, name)
            // Every file of the variable: same dimensionality, grid, calendar.
            for s in segs.dropFirst() {
                if s.isFourD != segs[0].isFourD {
                    throw DataError("\(s.path): variable '\(name)' has \(s.variable.rank) dimensions but \(segs[0].variable.rank) in \(segs[0].path)")
                }
                if let why = s.grid.matches(segs[0].grid) {
                    throw DataError("\(s.path): variable '\(name)': grid differs from \(segs[0].path) (\(why))")
                }
            }
            segments.append(segs)
            let units = (try? segs[0].variable.attribute("units")?.text) ?? nil
            if segs[0].isFourD {
                let s0 = segs[0]
                guard let wanted = config.levels[name] else {
                    throw DataError("\(s0.path): variable '\(name)' has a level dimension '\(s0.variable.dimensionNames[1])': choose levels with data.levels = { \(name) = [...] }")
                }
                let levDim = s0.variable.dimensionNames[1]
                guard let levVar = try wrap(s0.path, levDim, { try file(of: s0).root.findVariable(levDim) }), levVar.rank == 1 else {
                    throw DataError("\(s0.path): variable '\(name)': no coordinate variable '\(levDim)' to pick levels by value")
                }
                let levels = try wrap(s0.path, levDim, { try levVar.readAll(Double.self) })
                for want in wanted {
                    guard let li = levels.firstIndex(where: { abs($0 - want) <= 1e-6 * max(1, abs(want)) }) else {
                        throw DataError("\(s0.path): variable '\(name)': no level \(fmt(want)) in '\(levDim)' (levels: \(levels.map(fmt).joined(separator: ", ")))")
                    }
                    var c = Channel(name: "\(name)@\(fmt(want))", variable: name, levelIndex: li, level: levels[li], units: units ?? "")
                    c.levelDimension = levDim
                    channels.append(c)
                    channelVariable.append(vi)
                }
            } else {
                if config.levels[name] != nil {
                    throw DataError("data.levels: variable '\(name)' in \(segs[0].path) has no level dimension (its dimensions are \(segs[0].variable.dimensionNames.joined(separator: ", ")))")
                }
                channels.append(Channel(name: name, variable: name, levelIndex: nil, level: nil, units: units ?? ""))
                channelVariable.append(vi)
            }
        }

        // One grid and one time axis for all variables.
        let grid = segments[0][0].grid
        for (vi, segs) in segments.enumerated().dropFirst() {
            if let why = segs[0].grid.matches(grid) {
                throw DataError("\(segs[0].path): variable '\(config.variables[vi])': grid differs from variable '\(config.variables[0])' in \(segments[0][0].path) (\(why))")
            }
        }
        let frameCount = segments[0].reduce(0) { $0 + $1.count }
        let times: [Double]? = segments[0][0].times == nil ? nil : segments[0].flatMap { $0.times! }
        for (vi, segs) in segments.enumerated().dropFirst() {
            let n = segs.reduce(0) { $0 + $1.count }
            let name = config.variables[vi]
            if n != frameCount {
                throw DataError("data.variables: variable '\(name)' has \(n) time steps but '\(config.variables[0])' has \(frameCount)")
            }
            if let t0 = times, let ti = segs.first?.times != nil ? segs.flatMap({ $0.times! }) : nil,
               let k = zip(t0, ti).map({ abs($0 - $1) > 1e-6 }).firstIndex(of: true) {
                throw DataError("data.variables: variable '\(name)' has different times than '\(config.variables[0])' (step \(k))")
            }
        }
        let calendar = times == nil ? nil : (overrideCalendar ?? segments[0][0].calendar)
        let units = config.timeUnits ?? (times == nil ? nil : segments[0][0].unitsText)
        let axis = TimeAxis(frameCount: frameCount, times: times, calendar: calendar, units: units)

        let all = 0 ..< frameCount
        let chosen = try config.timeRange.map { try axis.frames($0, field: "time_range") } ?? all
        let validation = try config.validationRange.map { try axis.frames($0, field: "validation_range") }
        var training: [Range<Int>] = []
        if let v = validation {
            if chosen.lowerBound < v.lowerBound { training.append(chosen.lowerBound ..< min(chosen.upperBound, v.lowerBound)) }
            if chosen.upperBound > v.upperBound { training.append(max(chosen.lowerBound, v.upperBound) ..< chosen.upperBound) }
        } else {
            training = [chosen]
        }
        if training.isEmpty {
            throw DataError("data.validation_range: covers the whole training range; no frame is left for training")
        }
        return ClimateDataset(config: config, files: paths, channels: channels, channelVariable: channelVariable, grid: grid, time: axis,
                              training: training, validation: validation.map { [$0] } ?? [], segments: segments)
    }

    private static func file(of s: FileSegment) -> NetCDFFile { s.variable.file }

    static func fmt(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : "\(v)"
    }

    /// Turns a NetCDF failure into a one-line DataError naming file and variable.
    static func wrap<R>(_ path: String, _ variable: String, _ body: () throws -> R) throws -> R {
        do { return try body() } catch let e as NetCDFError {
            throw DataError("\(path): variable '\(variable)': \(e.operation): \(e.message)")
        }
    }

    /// Paths and glob patterns -> existing files, each listed once, sorted within a pattern.
    static func expandFiles(_ patterns: [String]) throws -> [String] {
        var out: [String] = []
        for p in patterns {
            if p.contains(where: { "*?[".contains($0) }) {
                var g = glob_t()
                defer { globfree(&g) }
                let rc = glob(p, 0, nil, &g)
                var matches: [String] = []
                if rc == 0 {
                    for i in 0 ..< Int(g.gl_pathc) {
                        if let c = g.gl_pathv[i] { matches.append(String(cString: c)) }
                    }
                }
                if matches.isEmpty { throw DataError("data.files: pattern '\(p)' matches no file") }
                out += matches.sorted()
            } else {
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir), !isDir.boolValue else {
                    throw DataError("data.files: '\(p)': no such file")
                }
                out.append(p)
            }
        }
        var seen = Set<String>()
        return out.filter { seen.insert($0).inserted }
    }

    /// One variable in one file: dimensions, time coordinate, grid, CF packing.
    static func segment(path: String, file: NetCDFFile, variable v: NetCDFVariable, config: DataConfig,
                        overrideCalendar: CFCalendar?) throws -> FileSegment {
        let name = v.name
        guard v.type.isNumeric else { throw DataError("\(path): variable '\(name)' has type \(v.type), not numbers") }
        guard v.rank == 3 || v.rank == 4 else {
            throw DataError("\(path): variable '\(name)' has dimensions (\(v.dimensionNames.joined(separator: ", "))); need (time, lat, lon) or (time, level, lat, lon)")
        }
        let shape = try wrap(path, name) { try v.shape() }
        let dims = v.dimensionNames
        // Time coordinate.
        var times: [Double]? = nil
        var calendar: CFCalendar? = nil
        var unitsText: String? = nil
        var rawTimes: [Double]? = nil
        if let tv = try wrap(path, dims[0], { try file.root.findVariable(dims[0]) }), tv.rank == 1, tv.type.isNumeric {
            let attrs = try wrap(path, dims[0]) { try tv.attributes() }
            let fileUnits = attrs["units"]?.text.flatMap { $0.lowercased().contains(" since ") ? $0 : nil }
            if let units = config.timeUnits ?? fileUnits {
                let calName = config.calendar ?? attrs["calendar"]?.text ?? "standard"
                guard let cal = overrideCalendar ?? CFCalendar(cfName: calName) else {
                    throw DataError("\(path): variable '\(dims[0])': unknown calendar \"\(calName)\" (one of \(CFCalendar.acceptedNames); or set data.calendar)")
                }
                let u: CFTimeUnits
                do { u = try CFTimeUnits(units, calendar: cal) } catch let e as DataError {
                    throw DataError("\(config.timeUnits != nil ? "data.time_units" : "\(path): variable '\(dims[0])'"): \(e.message)")
                }
                let raw = try wrap(path, dims[0]) { try tv.readAll(Double.self) }
                let t = raw.map(u.absolute)
                if let k = (1 ..< max(1, t.count)).first(where: { !(t[$0] > t[$0 - 1]) }) {
                    throw DataError("\(path): variable '\(dims[0])': time is not increasing (step \(k): \(raw[k - 1]) then \(raw[k]))")
                }
                times = t
                calendar = cal
                unitsText = units
                rawTimes = raw
            } else {
                rawTimes = try wrap(path, dims[0]) { try tv.readAll(Double.self) }
            }
        } else if config.timeUnits != nil {
            throw DataError("\(path): variable '\(name)': data.time_units is set but there is no time coordinate variable '\(dims[0])'")
        }
        // Grid.
        let rowDim = dims[dims.count - 2], colDim = dims[dims.count - 1]
        func coordinate(_ d: String) throws -> (CoordinateKind, [Double])? {
            guard let c = try wrap(path, d, { try file.root.findVariable(d) }), c.rank == 1, c.type.isNumeric else { return nil }
            return (try wrap(path, d) { try CoordinateKind.of(c) }, try wrap(path, d) { try c.readAll(Double.self) })
        }
        let row = try coordinate(rowDim), col = try coordinate(colDim)
        if row?.0 == .longitude || col?.0 == .latitude {
            throw DataError("\(path): variable '\(name)' has dimensions (\(dims.joined(separator: ", "))); need latitude before longitude (transpose the file, e.g. ncpdq)")
        }
        let grid = Grid(height: shape[shape.count - 2], width: shape[shape.count - 1], rowDimension: rowDim, columnDimension: colDim,
                        latitudes: row?.0 == .latitude ? row?.1 : nil, longitudes: col?.0 == .longitude ? col?.1 : nil)
        if grid.height < 1 || grid.width < 1 { throw DataError("\(path): variable '\(name)' has an empty grid (\(grid.height) x \(grid.width))") }
        let packing = CFPacking(attributes: try wrap(path, name) { try v.attributes() }, type: v.type)
        var seg = FileSegment(path: path, variable: v, firstFrame: 0, count: shape[0], packing: packing, times: times, grid: grid, isFourD: v.rank == 4)
        seg.calendar = calendar
        seg.unitsText = unitsText
        seg.rawTimes = rawTimes
        return seg
    }

    /// Orders one variable's files by first time (path order without times) and
    /// checks that time increases across them.
    static func orderInTime(_ segs: [FileSegment], _ name: String) throws -> [FileSegment] {
        let withTimes = segs.filter { $0.times != nil }
        if !withTimes.isEmpty && withTimes.count != segs.count {
            let a = withTimes[0], b = segs.first { $0.times == nil }!
            throw DataError("\(b.path): variable '\(name)': no time units, but \(a.path) has them; files of a variable must agree")
        }
        if let c0 = segs[0].calendar, let other = segs.first(where: { $0.calendar != c0 }) {
            throw DataError("\(other.path): variable '\(name)': calendar \(other.calendar?.rawValue ?? "?") differs from \(c0.rawValue) in \(segs[0].path)")
        }
        var ordered = segs
        if !withTimes.isEmpty {
            ordered = segs.filter { $0.count > 0 }.sorted { $0.times![0] < $1.times![0] } + segs.filter { $0.count == 0 }
            for (a, b) in zip(ordered, ordered.dropFirst()) where b.count > 0 && a.count > 0 {
                if !(b.times![0] > a.times!.last!) {
                    throw DataError("\(b.path): variable '\(name)': time is not increasing across files (overlaps \(a.path))")
                }
            }
        }
        var first = 0
        for i in ordered.indices {
            ordered[i].firstFrame = first
            first += ordered[i].count
        }
        return ordered
    }

    /// Closes every file now (instead of at deinit), so no NetCDF call can run
    /// after the HDF5 library is shut down at process exit.
    public func close() {
        for segs in segments { for s in segs { try? s.variable.file.close() } }
    }

    // MARK: Reading

    /// Reads decoded values (NaN where missing) of one channel into `out`,
    /// shape `[frames, rows, columns]`, row-major. Spans files as needed.
    public func read(channel c: Int, frames: Range<Int>, rows: Range<Int>, columns: Range<Int>,
                     into out: UnsafeMutablePointer<Double>) throws {
        let ch = channels[c]
        let plane = rows.count * columns.count
        var written = 0
        for seg in segments[channelVariable[c]] {
            let lo = max(frames.lowerBound, seg.firstFrame), hi = min(frames.upperBound, seg.firstFrame + seg.count)
            if lo >= hi { continue }
            var start = [lo - seg.firstFrame, rows.lowerBound, columns.lowerBound]
            var count = [hi - lo, rows.count, columns.count]
            if let li = ch.levelIndex {
                start.insert(li, at: 1)
                count.insert(1, at: 1)
            }
            let n = (hi - lo) * plane
            let dst = out + (lo - frames.lowerBound) * plane
            do {
                try seg.variable.read(start: start, count: count, into: UnsafeMutableBufferPointer(start: dst, count: n))
            } catch let e as NetCDFError {
                throw DataError("\(seg.path): variable '\(ch.variable)': \(e.operation): \(e.message)", atRunTime: true)
            }
            seg.packing.decode(dst, count: n)
            written += hi - lo
        }
        precondition(written == frames.count, "frames \(frames) outside the dataset")
    }

    /// Identifies the data a statistic was computed on: files (path, size,
    /// modification time), channels, time ranges. Used as the normalization cache key.
    public var fingerprint: String {
        var lines: [String] = ["faconvlstm-data-v1"]
        for p in files {
            let a = try? FileManager.default.attributesOfItem(atPath: p)
            let size = (a?[.size] as? NSNumber)?.int64Value ?? -1
            let mtime = (a?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? -1
            lines.append("file \(p) \(size) \(mtime)")
        }
        lines.append("channels \(channelNames.joined(separator: ","))")
        lines.append("training \(trainingFrames.map { "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ","))")
        lines.append("units \(time.units ?? "-") \(time.calendar?.rawValue ?? "-")")
        let h = CounterRNG_hash(lines.joined(separator: "\n"))
        return String(format: "%016llx", h)
    }
}

/// FNV-1a 64 (the same hash as Kernels' CounterRNG.hash).
func CounterRNG_hash(_ s: String) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
    return h
}
