/// The `[data]` section of a run config: which files and variables, which
/// time ranges, and how samples are cut (tiles, halo, windows). See
/// docs/data.md for the keys; `Training/DataSection.swift` reads it from TOML.
public struct DataConfig: Equatable, Sendable {
    /// A time range: dates in the data's calendar (both ends included, a date
    /// naming a whole period such as "1996-01" or "2010" covers all of it, like
    /// xarray's `.sel(time=slice(a, b))`), or 0-based frame indices (both included).
    public enum TimeSelection: Equatable, Sendable {
        case dates(String, String)
        case indices(Int, Int)
    }

    /// `files`: paths or glob patterns (relative to the working directory).
    public var files: [String] = []
    /// `variables`: the channel order; a level-selected variable gives one channel per level.
    public var variables: [String] = []
    /// `levels`: for 4-D `(time, lev, lat, lon)` variables, the level coordinate values to keep.
    public var levels: [String: [Double]] = [:]
    /// `time_range`: frames used for training and statistics (default all, minus validation).
    public var timeRange: TimeSelection? = nil
    /// `validation_range`: held-out frames (excluded from training and statistics).
    public var validationRange: TimeSelection? = nil
    /// `time_units`: "<unit> since <date>", used instead of the files' time units.
    public var timeUnits: String? = nil
    /// `calendar`: used instead of the files' calendar attribute.
    public var calendar: String? = nil
    /// `tile_height`, `tile_width`: the tile fed to the network (nil: the whole grid).
    public var tileHeight: Int? = nil
    public var tileWidth: Int? = nil
    /// `halo`: context cells on each side inside the tile, loss masked out.
    public var halo: Int = 0
    /// `tile_stride`: [rows, columns] between tile interiors (nil: the interior size).
    public var tileStride: [Int]? = nil
    /// `window`: frames per sample (T).
    public var window: Int = 8
    /// `window_stride`: frames between consecutive window starts.
    public var windowStride: Int = 1
    /// `prefetch`: read the next batch on a background thread.
    public var prefetch: Bool = true

    public init() {}

    /// Checks what can be checked without opening files; throws a `ConfigError`-style
    /// `DataError` naming the `data.` field.
    public func validate() throws {
        func bad(_ key: String, _ why: String) -> DataError { DataError("data.\(key): \(why)") }
        if files.isEmpty { throw bad("files", "give at least one file or glob pattern") }
        if variables.isEmpty { throw bad("variables", "give at least one variable name") }
        if let d = Dictionary(grouping: variables, by: { $0 }).first(where: { $0.value.count > 1 }) {
            throw bad("variables", "'\(d.key)' is listed twice")
        }
        for (v, lv) in levels {
            if !variables.contains(v) { throw bad("levels", "'\(v)' is not one of data.variables") }
            if lv.isEmpty { throw bad("levels", "'\(v)' needs at least one level value") }
        }
        if let h = tileHeight, h < 1 { throw bad("tile_height", "must be at least 1, got \(h)") }
        if let w = tileWidth, w < 1 { throw bad("tile_width", "must be at least 1, got \(w)") }
        if halo < 0 { throw bad("halo", "must be 0 or more, got \(halo)") }
        if let h = tileHeight, h - 2 * halo < 1 {
            throw bad("halo", "\(halo) leaves no interior in a tile of height \(h) (need tile_height > 2 * halo)")
        }
        if let w = tileWidth, w - 2 * halo < 1 {
            throw bad("halo", "\(halo) leaves no interior in a tile of width \(w) (need tile_width > 2 * halo)")
        }
        if let s = tileStride {
            if s.count != 2 { throw bad("tile_stride", "must be [rows, columns], got \(s.count) values") }
            if s.contains(where: { $0 < 1 }) { throw bad("tile_stride", "must be at least 1, got \(s)") }
        }
        if window < 1 { throw bad("window", "must be at least 1, got \(window)") }
        if windowStride < 1 { throw bad("window_stride", "must be at least 1, got \(windowStride)") }
        if let c = calendar, CFCalendar(cfName: c) == nil {
            throw bad("calendar", "unknown calendar \"\(c)\" (one of \(CFCalendar.acceptedNames))")
        }
        if let u = timeUnits {
            do { _ = try CFTimeUnits(u, calendar: calendar.flatMap(CFCalendar.init(cfName:)) ?? .standard) } catch let e as DataError {
                throw bad("time_units", e.message)
            }
        }
        for (key, sel) in [("time_range", timeRange), ("validation_range", validationRange)] {
            switch sel {
            case .indices(let a, let b)?:
                if a < 0 || b < a { throw bad(key, "frame indices [\(a), \(b)] must satisfy 0 <= first <= last") }
            case .dates(let a, let b)?:
                let cal = calendar.flatMap(CFCalendar.init(cfName:)) ?? .prolepticGregorian
                for d in [a, b] where CFDateText.parse(d, calendar: cal) == nil {
                    throw bad(key, "cannot read the date \"\(d)\" (write YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DD HH:MM)")
                }
                if let s = CFDateText.parse(a, calendar: cal), let e = CFDateText.parse(b, calendar: cal), e.end <= s.start {
                    throw bad(key, "ends (\"\(b)\") before it starts (\"\(a)\")")
                }
            case nil: break
            }
        }
    }
}
