import Foundation

/// The CF calendars (CF conventions 4.4.1). Dates are turned into an absolute
/// day number (a real number of days on a calendar-specific axis), from which
/// the day of year follows. Only differences of day numbers within one
/// calendar mean anything.
public enum CFCalendar: String, CaseIterable, Sendable {
    /// Mixed Julian/Gregorian (Gregorian from 1582-10-15), the CF default.
    case standard
    case prolepticGregorian = "proleptic_gregorian"
    case julian
    case noleap
    case allLeap = "all_leap"
    case day360 = "360_day"

    /// Accepts the CF names and aliases (gregorian, 365_day, 366_day), any case.
    public init?(cfName: String) {
        switch cfName.trimmingCharacters(in: .whitespaces).lowercased() {
        case "standard", "gregorian": self = .standard
        case "proleptic_gregorian": self = .prolepticGregorian
        case "julian": self = .julian
        case "noleap", "365_day": self = .noleap
        case "all_leap", "366_day": self = .allLeap
        case "360_day": self = .day360
        default: return nil
        }
    }

    public static let acceptedNames = "standard, gregorian, proleptic_gregorian, julian, noleap, 365_day, all_leap, 366_day, 360_day"

    /// Mean length of the calendar's year in days: the default seasonal period P (MODEL.md).
    public var yearLength: Double {
        switch self {
        case .standard, .prolepticGregorian: 365.2425
        case .julian: 365.25
        case .noleap: 365
        case .allLeap: 366
        case .day360: 360
        }
    }

    public func isLeap(_ y: Int) -> Bool {
        switch self {
        case .prolepticGregorian: return Self.gregorianLeap(y)
        case .julian: return Self.julianLeap(y)
        case .standard: return y > 1582 ? Self.gregorianLeap(y) : Self.julianLeap(y)
        case .noleap, .day360: return false
        case .allLeap: return true
        }
    }

    static func gregorianLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }
    static func julianLeap(_ y: Int) -> Bool { y % 4 == 0 }

    public func daysInMonth(_ y: Int, _ m: Int) -> Int {
        if self == .day360 { return 30 }
        let days = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return m == 2 && isLeap(y) ? 29 : days[m - 1]
    }

    /// Whether (y, m, d) exists in this calendar (the standard calendar skips 1582-10-05..14).
    public func isValid(_ y: Int, _ m: Int, _ d: Int) -> Bool {
        guard (1 ... 12).contains(m), d >= 1, d <= daysInMonth(y, m) else { return false }
        if self == .standard && y == 1582 && m == 10 && (5 ... 14).contains(d) { return false }
        return true
    }

    /// Integer day number of a date. Julian-day numbers for the real-world
    /// calendars; `year * yearLength + day of year` for the model calendars.
    public func dayNumber(_ y: Int, _ m: Int, _ d: Int) -> Int {
        switch self {
        case .prolepticGregorian: return Self.gregorianJDN(y, m, d)
        case .julian: return Self.julianJDN(y, m, d)
        case .standard:
            // The switch: 1582-10-04 (Julian) is followed by 1582-10-15 (Gregorian).
            return (y, m, d) >= (1582, 10, 15) ? Self.gregorianJDN(y, m, d) : Self.julianJDN(y, m, d)
        case .noleap, .allLeap:
            var n = y * (self == .noleap ? 365 : 366)
            for k in 1 ..< m { n += daysInMonth(y, k) }
            return n + d - 1
        case .day360: return y * 360 + (m - 1) * 30 + d - 1
        }
    }

    /// The date of an integer day number.
    public func date(ofDay n: Int) -> (year: Int, month: Int, day: Int) {
        switch self {
        case .prolepticGregorian: return Self.gregorianFromJDN(n)
        case .julian: return Self.julianFromJDN(n)
        case .standard: return n >= 2_299_161 ? Self.gregorianFromJDN(n) : Self.julianFromJDN(n)
        case .noleap, .allLeap, .day360:
            let len = self == .noleap ? 365 : self == .allLeap ? 366 : 360
            let y = Int((Double(n) / Double(len)).rounded(.down))
            var r = n - y * len
            var m = 1
            while r >= daysInMonth(y, m) { r -= daysInMonth(y, m); m += 1 }
            return (y, m, r + 1)
        }
    }

    /// Day of year of an absolute time (0 at 1 January 00:00, real-valued).
    public func dayOfYear(_ absolute: Double) -> Double {
        let day = Int(absolute.rounded(.down))
        let y = date(ofDay: day).year
        return absolute - Double(dayNumber(y, 1, 1))
    }

    /// "YYYY-MM-DD HH:MM" (seconds when not zero) of an absolute time.
    public func format(_ absolute: Double) -> String {
        let day = Int(absolute.rounded(.down))
        let (y, m, d) = date(ofDay: day)
        var secs = Int(((absolute - Double(day)) * 86400).rounded())
        var dd = (y, m, d)
        if secs >= 86400 { secs -= 86400; dd = date(ofDay: day + 1) }
        let base = String(format: "%04d-%02d-%02d %02d:%02d", dd.0, dd.1, dd.2, secs / 3600, (secs / 60) % 60)
        return secs % 60 == 0 ? base : base + String(format: ":%02d", secs % 60)
    }

    // Fliegel & Van Flandern; integer division floors for the years we accept (> -4800).
    static func gregorianJDN(_ y: Int, _ m: Int, _ d: Int) -> Int {
        let a = (14 - m) / 12, yy = y + 4800 - a, mm = m + 12 * a - 3
        return d + (153 * mm + 2) / 5 + 365 * yy + yy / 4 - yy / 100 + yy / 400 - 32045
    }
    static func julianJDN(_ y: Int, _ m: Int, _ d: Int) -> Int {
        let a = (14 - m) / 12, yy = y + 4800 - a, mm = m + 12 * a - 3
        return d + (153 * mm + 2) / 5 + 365 * yy + yy / 4 - 32083
    }
    static func gregorianFromJDN(_ j: Int) -> (Int, Int, Int) {
        let a = j + 32044, b = (4 * a + 3) / 146_097, c = a - 146_097 * b / 4
        let d = (4 * c + 3) / 1461, e = c - 1461 * d / 4, m = (5 * e + 2) / 153
        return (100 * b + d - 4800 + m / 10, m + 3 - 12 * (m / 10), e - (153 * m + 2) / 5 + 1)
    }
    static func julianFromJDN(_ j: Int) -> (Int, Int, Int) {
        let c = j + 32082, d = (4 * c + 3) / 1461, e = c - 1461 * d / 4, m = (5 * e + 2) / 153
        return (d - 4800 + m / 10, m + 3 - 12 * (m / 10), e - (153 * m + 2) / 5 + 1)
    }
}

/// A CF time unit "<unit> since <date>", turning coordinate values into
/// absolute day numbers of its calendar.
public struct CFTimeUnits: Equatable, Sendable {
    public let text: String
    public let calendar: CFCalendar
    /// Length of one unit in days.
    public let unitDays: Double
    /// Absolute day number of the reference date.
    public let reference: Double

    /// Throws a message (without the file/field, which the caller adds).
    public init(_ text: String, calendar: CFCalendar) throws {
        self.text = text
        self.calendar = calendar
        let lower = text.lowercased()
        guard let sinceRange = lower.range(of: " since ") else {
            throw DataError("time units \"\(text)\" are not \"<unit> since <date>\"")
        }
        let unit = lower[..<sinceRange.lowerBound].trimmingCharacters(in: .whitespaces)
        switch unit {
        case "second", "seconds", "sec", "secs", "s": unitDays = 1.0 / 86400
        case "minute", "minutes", "min", "mins": unitDays = 1.0 / 1440
        case "hour", "hours", "hr", "hrs", "h": unitDays = 1.0 / 24
        case "day", "days", "d": unitDays = 1
        case "week", "weeks": unitDays = 7
        default:
            throw DataError("time units \"\(text)\": unit '\(unit)' is not supported (seconds, minutes, hours, days, weeks)")
        }
        let dateText = String(text[sinceRange.upperBound...])
        guard let r = CFDateText.parse(dateText, calendar: calendar) else {
            throw DataError("time units \"\(text)\": cannot read the reference date '\(dateText.trimmingCharacters(in: .whitespaces))' in the \(calendar.rawValue) calendar")
        }
        reference = r.start
    }

    /// Absolute day number of a coordinate value.
    @inline(__always)
    public func absolute(_ value: Double) -> Double { reference + value * unitDays }
}

/// Dates written as text: "YYYY", "YYYY-MM", "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS[.f]]"
/// (or with 'T'), optionally followed by "Z", "UTC" or an offset "+HH:MM".
public enum CFDateText {
    /// The instant the text names (`start`) and the end of the period it
    /// names (`end`, exclusive): "1996-01" starts at 1996-01-01 00:00 and ends at 1996-02-01 00:00.
    public static func parse(_ raw: String, calendar: CFCalendar) -> (start: Double, end: Double)? {
        var s = raw.trimmingCharacters(in: .whitespaces)
        var tzOffsetDays = 0.0
        if s.hasSuffix("Z") { s.removeLast() }
        if s.uppercased().hasSuffix("UTC") { s = String(s.dropLast(3)).trimmingCharacters(in: .whitespaces) }
        // Split into date and time on the first ' ' or 'T' after the date.
        let parts = s.split(maxSplits: 1, whereSeparator: { $0 == " " || $0 == "T" }).map(String.init)
        guard let datePart = parts.first, !datePart.isEmpty else { return nil }
        var timePart = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        // A trailing zone offset on the time: "+05:30", "-6", " +0:00".
        if let signIdx = timePart.lastIndex(where: { $0 == "+" || $0 == "-" }) {
            let zone = String(timePart[timePart.index(after: signIdx)...]).trimmingCharacters(in: .whitespaces)
            let z = zone.split(separator: ":").compactMap { Int($0) }
            guard !z.isEmpty, z.count <= 2 else { return nil }
            let hours = Double(z[0]) + (z.count > 1 ? Double(z[1]) / 60 : 0)
            tzOffsetDays = (timePart[signIdx] == "-" ? -hours : hours) / 24
            timePart = String(timePart[..<signIdx]).trimmingCharacters(in: .whitespaces)
        }
        // Date: a leading '-' is a negative year.
        var negative = false
        var dp = Substring(datePart)
        if dp.first == "-" { negative = true; dp = dp.dropFirst() }
        let dateFields = dp.split(separator: "-", omittingEmptySubsequences: false)
        guard (1 ... 3).contains(dateFields.count), let y0 = Int(dateFields[0]) else { return nil }
        let y = negative ? -y0 : y0
        guard y > -4700 else { return nil }
        let m = dateFields.count > 1 ? Int(dateFields[1]) : 1
        let d = dateFields.count > 2 ? Int(dateFields[2]) : 1
        guard let m, let d, calendar.isValid(y, m, d) else { return nil }
        var seconds = 0.0
        var timeFields = 0
        if !timePart.isEmpty {
            let f = timePart.split(separator: ":", omittingEmptySubsequences: false)
            guard (1 ... 3).contains(f.count), let h = Int(f[0]), (0 ... 24).contains(h) else { return nil }
            let mi = f.count > 1 ? Int(f[1]) : 0
            let se = f.count > 2 ? Double(f[2]) : 0
            guard let mi, let se, (0 ..< 60).contains(mi), se >= 0, se < 61 else { return nil }
            seconds = Double(h) * 3600 + Double(mi) * 60 + se
            timeFields = f.count
        }
        let day = Double(calendar.dayNumber(y, m, d))
        let start = day + seconds / 86400 - tzOffsetDays
        // End of the named period.
        let end: Double
        if timeFields > 0 {
            let step = timeFields == 1 ? 3600.0 : timeFields == 2 ? 60.0 : 1.0
            end = start + step / 86400
        } else if dateFields.count == 3 {
            end = start + 1
        } else if dateFields.count == 2 {
            end = start + Double(calendar.daysInMonth(y, m))
        } else {
            end = Double(calendar.dayNumber(y + 1, 1, 1)) - tzOffsetDays
        }
        return (start, end)
    }
}
