import ClimateData
import Foundation
import NetCDF
import Training

/// An output path of an analysis command: checked before any work, written
/// as `<path>.tmp`, renamed onto `<path>` only when complete, so a failure
/// never leaves a half-written file behind (and an existing file is
/// replaced, with `--overwrite`, only by a complete one).
public struct OutputTarget: Sendable {
    public let path: String
    public let overwrite: Bool
    /// The option that names it, for messages ("--output").
    public let option: String

    public init(path: String, overwrite: Bool, option: String = "--output") {
        self.path = path
        self.overwrite = overwrite
        self.option = option
    }

    public var temporaryPath: String { path + ".tmp" }

    /// Refuses an existing file (unless `overwrite`) and a directory that
    /// does not exist or cannot be written (by creating and removing the
    /// temporary file: the file system's own answer, right for root too).
    public func check() throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
            if isDir.boolValue { throw RunError("\(option) \(path): is a directory", exitCode: .badInput) }
            if !overwrite { throw RunError("\(option) \(path): exists (give --overwrite to replace it)", exitCode: .badInput) }
        }
        let dir = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw RunError("\(option) \(path): directory \(dir) does not exist", exitCode: .badInput)
        }
        let fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            throw RunError("\(option) \(path): cannot write in directory \(dir): \(String(cString: strerror(errno)))", exitCode: .badInput)
        }
        close(fd)
        unlink(temporaryPath)
    }

    /// Moves the finished temporary file onto the path.
    public func commit() throws {
        guard rename(temporaryPath, path) == 0 else {
            let why = String(cString: strerror(errno))
            discard()
            throw RunError("\(option) \(path): cannot rename \(temporaryPath) onto it: \(why)")
        }
    }

    /// Removes the temporary file (after a failure).
    public func discard() { unlink(temporaryPath) }

    /// Creates the temporary file, lets `body` fill it, closes it and renames
    /// it onto the path; on any failure removes it and rethrows.
    public func write(_ body: (NetCDFFile) throws -> Void) throws {
        do {
            let file = try NetCDFFile.create(temporaryPath, format: .netcdf4)
            do {
                try body(file)
                try file.close()
            } catch {
                try? file.close()
                throw error
            }
            try commit()
        } catch {
            discard()
            if let e = error as? RunError { throw e }
            throw RunError("\(option) \(path): cannot write: \(error)")
        }
    }

    /// Writes text (JSON) the same way.
    public func write(text: String) throws {
        guard FileManager.default.createFile(atPath: temporaryPath, contents: Data(text.utf8)) else {
            discard()
            throw RunError("\(option) \(path): cannot write \(temporaryPath)")
        }
        try commit()
    }
}

/// The time coordinate of output frames: the dataset's own values, units and
/// calendar; the stored values of a time coordinate without units; or, for
/// data without a time coordinate, the 0-based frame index.
public struct TimeCoordinate: Sendable {
    public let values: [Double]
    public let isIndex: Bool
    public let attributes: [(String, NetCDFAttribute)]

    public init(_ data: ClimateDataset, frames: Range<Int>) {
        if let all = data.timeValues, data.time.times != nil, let units = data.time.units, let cal = data.time.calendar {
            values = Array(all[frames])
            isIndex = false
            attributes = [("standard_name", .text("time")), ("long_name", .text("time")), ("units", .text(units)),
                          ("calendar", .text(cal.rawValue)), ("axis", .text("T"))]
        } else if let all = data.timeValues {
            values = Array(all[frames])
            isIndex = false
            attributes = [("long_name", .text("time coordinate as stored in the data (without units: set data.time_units to decode it)")),
                          ("axis", .text("T"))]
        } else {
            values = frames.map(Double.init)
            isIndex = true
            attributes = [("long_name", .text("0-based frame index in the dataset (the data has no time units)")), ("axis", .text("T"))]
        }
    }

    public init(values: [Double], isIndex: Bool, attributes: [(String, NetCDFAttribute)]) {
        self.values = values
        self.isIndex = isIndex
        self.attributes = attributes
    }

    /// Defines dimension and coordinate variable `name` in `group` (define mode).
    @discardableResult
    public func define(in group: NetCDFGroup, name: String) throws -> NetCDFVariable {
        try group.defineDimension(name, length: values.count)
        let v = try group.defineVariable(name, type: isIndex ? .int : .double, dimensions: [name])
        for (k, a) in attributes { try v.setAttribute(k, a) }
        return v
    }

    public func write(_ v: NetCDFVariable) throws {
        if isIndex { try v.writeAll(values.map { Int32($0) }) } else { try v.writeAll(values) }
    }

    /// Reads a time coordinate variable back (for `cluster`).
    public static func read(_ v: NetCDFVariable) throws -> TimeCoordinate {
        let values = try v.readAll(Double.self)
        let attrs = try v.attributes().sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return TimeCoordinate(values: values, isIndex: v.type != .double && v.type != .float, attributes: attrs)
    }
}

enum OutputAttributes {
    /// CF global attributes plus where the numbers come from.
    static func write(_ group: NetCDFGroup, title: String, command: String, session: AnalysisSession?, extra: [(String, String)]) throws {
        try group.setAttribute("Conventions", .text("CF-1.8"))
        try group.setAttribute("title", .text(title))
        try group.setAttribute("source", .text("faconvlstm \(faconvlstmVersion)"))
        try group.setAttribute("history", .text("\(TrainingState.utcNow()) \(command)"))
        try group.setAttribute("created", .text(TrainingState.utcNow()))
        for (k, v) in (session?.provenance ?? []) + extra {
            // Counts (checkpoint_step, window, k, ...) as numbers, everything else as text.
            try group.setAttribute(k, Int64(v).map { .int64s([$0]) } ?? .text(v))
        }
    }

    /// The command line, for `history`.
    static var commandLine: String {
        CommandLine.arguments.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
    }
}
