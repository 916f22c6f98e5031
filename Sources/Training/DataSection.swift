import ClimateData

/// `[data]` of the run config: every field of `DataConfig`, snake_case.
extension DataConfig {
    public init(section s: ConfigSection) throws {
        self.init()
        if let v = try s.stringArray("files") { files = v }
        if let v = try s.stringArray("variables") { variables = v }
        if let t = try s.table("levels") {
            for (name, value) in t {
                switch value {
                case .array(let a):
                    levels[name] = try a.map { e in
                        switch e {
                        case .int(let i): return Double(i)
                        case .double(let d): return d
                        default: throw s.invalid("levels", "'\(name)' must be an array of level values, e.g. { \(name) = [500, 850] }")
                        }
                    }
                case .int(let i): levels[name] = [Double(i)]
                case .double(let d): levels[name] = [d]
                default: throw s.invalid("levels", "'\(name)' must be an array of level values, e.g. { \(name) = [500, 850] }")
                }
            }
        }
        timeRange = try DataConfig.timeSelection(s, "time_range")
        validationRange = try DataConfig.timeSelection(s, "validation_range")
        if let v = try s.string("time_units") { timeUnits = v }
        if let v = try s.string("calendar") { calendar = v }
        if let v = try s.int("tile_height") { tileHeight = v }
        if let v = try s.int("tile_width") { tileWidth = v }
        if let v = try s.int("halo") { halo = v }
        if s.has("tile_stride") {
            if let one = try? s.int("tile_stride") { tileStride = [one, one] } else { tileStride = try s.intArray("tile_stride") }
        }
        if let v = try s.int("window") { window = v }
        if let v = try s.int("window_stride") { windowStride = v }
        if let v = try s.bool("prefetch") { prefetch = v }
        try s.finish()
        do { try validate() } catch let e as DataError {
            throw ConfigFileError("\(s.source): \(e.message)")
        }
    }

    /// `["1979-01-01", "2010-12-31"]` (dates) or `[0, 47]` (frame indices).
    static func timeSelection(_ s: ConfigSection, _ key: String) throws -> TimeSelection? {
        guard s.has(key) else { return nil }
        let want = "a pair of dates [\"1979-01-01\", \"2010-12-31\"] or of 0-based frame indices [0, 47]"
        if let i = try? s.intArray(key) {
            guard i.count == 2 else { throw s.invalid(key, "must be \(want), got \(i.count) values") }
            return .indices(i[0], i[1])
        }
        if let d = try? s.stringArray(key) {
            guard d.count == 2 else { throw s.invalid(key, "must be \(want), got \(d.count) values") }
            return .dates(d[0], d[1])
        }
        throw s.invalid(key, "must be \(want)")
    }

    /// Writes every field, defaults resolved.
    public func write(to w: inout TOMLWriter) {
        w.section("data")
        w.set("files", files)
        w.set("variables", variables)
        if !levels.isEmpty { w.set("levels", levels) }
        for (key, sel) in [("time_range", timeRange), ("validation_range", validationRange)] {
            switch sel {
            case .dates(let a, let b)?: w.set(key, [a, b])
            case .indices(let a, let b)?: w.set(key, [a, b])
            case nil: break
            }
        }
        if let u = timeUnits { w.set("time_units", u) }
        if let c = calendar { w.set("calendar", c) }
        if let h = tileHeight { w.set("tile_height", h) }
        if let v = tileWidth { w.set("tile_width", v) }
        w.set("halo", halo)
        if let st = tileStride { w.set("tile_stride", st) }
        w.set("window", window)
        w.set("window_stride", windowStride)
        w.set("prefetch", prefetch)
    }
}
