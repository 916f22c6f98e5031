import Foundation
import TOMLKit

/// A parsed TOML run config as plain Swift values, with the keys each reader
/// consumed, so a field nobody reads is reported as unknown instead of being
/// silently ignored.
public indirect enum ConfigValue: Equatable, Sendable {
    case int(Int)
    case double(Double)
    case string(String)
    case bool(Bool)
    case array([ConfigValue])
    case table([String: ConfigValue])

    var typeName: String {
        switch self {
        case .int: "an integer"
        case .double: "a number"
        case .string: "a string"
        case .bool: "true or false"
        case .array: "an array"
        case .table: "a table"
        }
    }
}

/// The whole run config: parsed from a TOML file, then `--set key=value`
/// overrides applied, then read section by section.
public struct ConfigDocument: Sendable {
    public private(set) var root: [String: ConfigValue]
    /// Where it came from, for error messages.
    public let source: String

    public init(root: [String: ConfigValue] = [:], source: String = "<config>") {
        self.root = root
        self.source = source
    }

    public init(tomlText: String, source: String) throws {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: tomlText)
        } catch let e as TOMLParseError {
            throw ConfigFileError("\(source): TOML syntax error at line \(e.source.begin.line): \(e.description)")
        }
        self.init(root: ConfigDocument.convert(table), source: source)
    }

    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigFileError("config file \(path): cannot be read (missing or no permission)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigFileError("config file \(path): not UTF-8 text")
        }
        try self.init(tomlText: text, source: path)
    }

    /// Applies one `dotted.key=value` override. The value is read as TOML
    /// (`8`, `1e-3`, `true`, `"x"`, `[1, 2]`); a bare word is taken as a string.
    public mutating func applyOverride(_ assignment: String) throws {
        guard let eq = assignment.firstIndex(of: "=") else {
            throw ConfigFileError("override '\(assignment)': expected key=value, e.g. train.global_batch=16")
        }
        let key = assignment[..<eq].trimmingCharacters(in: .whitespaces)
        let raw = String(assignment[assignment.index(after: eq)...]).trimmingCharacters(in: .whitespaces)
        let path = key.split(separator: ".").map(String.init)
        guard !path.isEmpty, !path.contains(where: \.isEmpty) else {
            throw ConfigFileError("override '\(assignment)': bad key '\(key)'")
        }
        let value: ConfigValue
        if let t = try? TOMLTable(string: "v = \(raw)"), let v = ConfigDocument.convert(t)["v"] {
            value = v
        } else {
            value = .string(raw)
        }
        ConfigDocument.set(&root, path[...], value)
    }

    private static func set(_ table: inout [String: ConfigValue], _ path: ArraySlice<String>, _ value: ConfigValue) {
        let head = path.first!
        if path.count == 1 {
            table[head] = value
            return
        }
        var sub: [String: ConfigValue] = [:]
        if case .table(let existing)? = table[head] { sub = existing }
        set(&sub, path.dropFirst(), value)
        table[head] = .table(sub)
    }

    private static func convert(_ t: TOMLTable) -> [String: ConfigValue] {
        var out: [String: ConfigValue] = [:]
        for key in t.keys {
            if let v = t[key], let c = convert(v) { out[key] = c }
        }
        return out
    }

    private static func convert(_ v: TOMLValueConvertible) -> ConfigValue? {
        switch v.type {
        case .int: return v.int.map(ConfigValue.int)
        case .double: return v.double.map(ConfigValue.double)
        case .string: return v.string.map(ConfigValue.string)
        case .bool: return v.bool.map(ConfigValue.bool)
        case .array: return v.array.map { .array($0.compactMap { convert($0) }) }
        case .table: return v.table.map { .table(convert($0)) }
        // Dates are written as strings in our configs; a TOML date literal is
        // kept as its text so the data section can parse it with its calendar.
        case .date, .time, .dateTime: return .string(v.debugDescription)
        }
    }

    /// A reader for the table at `name` (`""` for the root's own scalar keys).
    public func section(_ name: String) throws -> ConfigSection {
        if name.isEmpty { return ConfigSection(name: "", values: root.filter { if case .table = $0.value { return false }; return true }, source: source) }
        switch root[name] {
        case nil: return ConfigSection(name: name, values: [:], source: source, present: false)
        case .table(let t)?: return ConfigSection(name: name, values: t, source: source)
        case let other?: throw ConfigFileError("\(source): '\(name)' must be a table ([\(name)]), got \(other.typeName)")
        }
    }

    /// The top-level tables present, to report unknown sections.
    public var sectionNames: [String] {
        root.compactMap { if case .table = $0.value { return $0.key }; return nil }.sorted()
    }
}

/// An error in the config file itself (syntax, unknown field, wrong type).
public struct ConfigFileError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Typed access to one `[section]` of the config. Every getter records the
/// key; `finish()` rejects keys nobody asked for (typos must not pass).
public final class ConfigSection {
    public let name: String
    public let values: [String: ConfigValue]
    public let source: String
    /// False when the section is absent from the file.
    public let present: Bool
    private var used: Set<String> = []

    init(name: String, values: [String: ConfigValue], source: String, present: Bool = true) {
        self.name = name
        self.values = values
        self.source = source
        self.present = present
    }

    private func qualified(_ key: String) -> String { name.isEmpty ? key : "\(name).\(key)" }

    private func typeError(_ key: String, _ want: String, _ got: ConfigValue) -> ConfigFileError {
        ConfigFileError("\(source): \(qualified(key)) must be \(want), got \(got.typeName)")
    }

    public func has(_ key: String) -> Bool { values[key] != nil }

    public func int(_ key: String) throws -> Int? {
        used.insert(key)
        guard let v = values[key] else { return nil }
        guard case .int(let i) = v else { throw typeError(key, "an integer", v) }
        return i
    }

    public func double(_ key: String) throws -> Double? {
        used.insert(key)
        guard let v = values[key] else { return nil }
        switch v {
        case .double(let d): return d
        case .int(let i): return Double(i)
        default: throw typeError(key, "a number", v)
        }
    }

    public func string(_ key: String) throws -> String? {
        used.insert(key)
        guard let v = values[key] else { return nil }
        guard case .string(let s) = v else { throw typeError(key, "a string", v) }
        return s
    }

    public func bool(_ key: String) throws -> Bool? {
        used.insert(key)
        guard let v = values[key] else { return nil }
        guard case .bool(let b) = v else { throw typeError(key, "true or false", v) }
        return b
    }

    public func intArray(_ key: String) throws -> [Int]? {
        used.insert(key)
        guard let v = values[key] else { return nil }
        guard case .array(let a) = v else { throw typeError(key, "an array of integers", v) }
        return try a.map { e in
            guard case .int(let i) = e else { throw typeError(key, "an array of integers", e) }
            return i
        }
    }

    public func doubleArray(_ key: String) throws -> [Double]? {
        used.insert(key)
        guard let v = values[key] else { return nil }
        guard case .array(let a) = v else { throw typeError(key, "an array of numbers", v) }
        return try a.map { e in
            switch e {
            case .double(let d): return d
            case .int(let i): return Double(i)
            default: throw typeError(key, "an array of numbers", e)
            }
        }
    }

    /// A string or an array of strings (one file may be given without brackets).
    public func stringArray(_ key: String) throws -> [String]? {
        used.insert(key)
        guard let v = values[key] else { return nil }
        if case .string(let s) = v { return [s] }
        guard case .array(let a) = v else { throw typeError(key, "an array of strings", v) }
        return try a.map { e in
            guard case .string(let s) = e else { throw typeError(key, "an array of strings", e) }
            return s
        }
    }

    /// A nested table, e.g. `levels = { T = [500, 850] }`.
    public func table(_ key: String) throws -> [String: ConfigValue]? {
        used.insert(key)
        guard let v = values[key] else { return nil }
        guard case .table(let t) = v else { throw typeError(key, "a table", v) }
        return t
    }

    /// An enum from its raw string, naming the allowed values on error.
    public func choice<E: RawRepresentable & CaseIterable>(_ key: String, as: E.Type) throws -> E? where E.RawValue == String {
        guard let s = try string(key) else { return nil }
        guard let e = E(rawValue: s) else {
            let allowed = E.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            throw ConfigFileError("\(source): \(qualified(key)) = \"\(s)\" is not one of \(allowed)")
        }
        return e
    }

    /// Throws for the first key that no getter read.
    public func finish() throws {
        let unknown = Set(values.keys).subtracting(used).sorted()
        if let k = unknown.first {
            throw ConfigFileError("\(source): unknown field '\(qualified(k))'")
        }
    }

    /// A value-range error for a field of this section.
    public func invalid(_ key: String, _ why: String) -> ConfigFileError {
        ConfigFileError("\(source): \(qualified(key)) \(why)")
    }
}

/// Writes the resolved config back as TOML text (run directory, checkpoints).
public struct TOMLWriter {
    private var lines: [String] = []
    public init() {}

    public mutating func section(_ name: String) {
        if !lines.isEmpty { lines.append("") }
        lines.append("[\(name)]")
    }
    public mutating func comment(_ text: String) { lines.append("# \(text)") }
    public mutating func set(_ key: String, _ v: Int) { lines.append("\(key) = \(v)") }
    public mutating func set(_ key: String, _ v: Double) { lines.append("\(key) = \(TOMLWriter.double(v))") }
    public mutating func set(_ key: String, _ v: Bool) { lines.append("\(key) = \(v)") }
    public mutating func set(_ key: String, _ v: String) { lines.append("\(key) = \(TOMLWriter.quote(v))") }
    public mutating func set(_ key: String, _ v: [Int]) { lines.append("\(key) = [\(v.map(String.init).joined(separator: ", "))]") }
    public mutating func set(_ key: String, _ v: [Double]) { lines.append("\(key) = [\(v.map(TOMLWriter.double).joined(separator: ", "))]") }
    public mutating func set(_ key: String, _ v: [String]) { lines.append("\(key) = [\(v.map(TOMLWriter.quote).joined(separator: ", "))]") }
    /// Inline table of string -> int arrays, e.g. level selections.
    public mutating func set(_ key: String, _ v: [String: [Double]]) {
        let items = v.keys.sorted().map { "\(TOMLWriter.quote($0)) = [\(v[$0]!.map(TOMLWriter.double).joined(separator: ", "))]" }
        lines.append("\(key) = { \(items.joined(separator: ", ")) }")
    }
    public var text: String { lines.joined(separator: "\n") + "\n" }

    /// Shortest text that reads back as the same Double, always with a '.' or exponent.
    public static func double(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        let s = "\(v)"
        return s.contains(".") || s.contains("e") ? s : s + ".0"
    }

    public static func quote(_ s: String) -> String {
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out + "\""
    }
}
