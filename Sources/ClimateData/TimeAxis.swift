/// The dataset's frames in time: absolute times in one calendar when the
/// data has a time coordinate with units, else only frame indices.
public struct TimeAxis: Equatable, Sendable {
    public let frameCount: Int
    /// Absolute day number of each frame (see `CFCalendar`), nil without usable units.
    public let times: [Double]?
    public let calendar: CFCalendar?
    /// The units text the times were decoded with.
    public let units: String?

    /// Day of year tau of a frame: from its date in its calendar, or, without
    /// times, the frame's 0-based index in the dataset (MODEL.md head, step 2).
    @inline(__always)
    public func dayOfYear(_ frame: Int) -> Double {
        guard let t = times, let c = calendar else { return Double(frame) }
        return c.dayOfYear(t[frame])
    }

    /// The calendar's year length, 365.2425 without times (MODEL.md).
    public var seasonPeriod: Double { times == nil ? 365.2425 : (calendar?.yearLength ?? 365.2425) }

    public func label(_ frame: Int) -> String {
        guard let t = times, let c = calendar else { return "frame \(frame)" }
        return c.format(t[frame])
    }

    /// Frames selected by a config range; `field` names it in errors (`data.<field>`).
    public func frames(_ sel: DataConfig.TimeSelection, field: String) throws -> Range<Int> {
        switch sel {
        case .indices(let a, let b):
            guard a < frameCount else {
                throw DataError("data.\(field): first frame \(a) is past the data's last frame \(frameCount - 1)")
            }
            return a ..< min(b, frameCount - 1) + 1
        case .dates(let a, let b):
            guard let t = times, let cal = calendar else {
                throw DataError("data.\(field): dates need a time coordinate with units; the data has none (set data.time_units, or give 0-based frame indices such as [0, 47])")
            }
            guard let s = CFDateText.parse(a, calendar: cal), let e = CFDateText.parse(b, calendar: cal) else {
                throw DataError("data.\(field): cannot read [\"\(a)\", \"\(b)\"] as dates of the \(cal.rawValue) calendar")
            }
            // Small tolerance: stored times carry rounding (1e-6 days is under 0.1 s).
            let lo = t.firstIndex { $0 >= s.start - 1e-6 } ?? frameCount
            let hi = (t.lastIndex { $0 < e.end - 1e-6 } ?? -1) + 1
            guard lo < hi else {
                throw DataError("data.\(field): [\"\(a)\", \"\(b)\"] selects no frame (the data runs from \(label(0)) to \(label(frameCount - 1)))")
            }
            return lo ..< hi
        }
    }
}
