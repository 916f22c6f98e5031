import ClimateData
import Foundation
import Model
import NetCDF

/// One checkpoint file in the layout of CHECKPOINT.md (v1): a self-describing
/// NetCDF-4 file with the counters as root attributes, one float32 variable
/// per parameter in `/params` (moments in `/adam_m`, `/adam_v`), the
/// normalization in `/normalization`, and Fletcher32 on every variable.
///
/// `write` writes exactly the given path (the commit protocol is
/// `CheckpointStore`'s); `read` validates everything and reads every value, so
/// a file it returns has passed its checksums.
public enum CheckpointFile {
    public static let format = "faconvlstm-checkpoint"
    public static let formatVersion = 1

    /// The groups the parameters and moments live in.
    static let parameterGroup = "params"
    static let momentGroups = ("adam_m", "adam_v")

    // MARK: Writing

    /// Writes `state` to `path` (replacing it) and fsyncs it. On failure the
    /// partial file is removed and a `CheckpointError` names the file and the
    /// cause. The commit protocol (tmp, rename) is `CheckpointStore`'s.
    public static func write(_ state: TrainingState, to path: String) throws {
        let bytes = try encode(state, name: path)
        do {
            try FileSystem.writeDurably(path, bytes)
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw CheckpointError(path, .writeFailed, "cannot write the checkpoint: \(error)")
        }
    }

    /// The bytes of the checkpoint file of `state`, built in memory by
    /// NetCDF-C/HDF5 (`nc_create_mem`). Writing them to disk is then plain
    /// POSIX I/O: a full disk or an I/O error can never leave HDF5 holding a
    /// half-closed file (which leaks the descriptor and crashes at exit).
    public static func encode(_ state: TrainingState, name: String = "checkpoint") throws -> Data {
        if let why = state.problem() {
            throw CheckpointError(name, .invalidState, "refusing to write an invalid state: \(why)")
        }
        do {
            let file = try NetCDFFile.createInMemory(name)
            do {
                try writeContents(state, file)
            } catch {
                _ = try? file.closeToBytes()
                throw error
            }
            return try file.closeToBytes()
        } catch {
            throw CheckpointError(name, .writeFailed, "cannot encode the checkpoint: \(netCDFReason(error))")
        }
    }

    private static func writeContents(_ state: TrainingState, _ file: NetCDFFile) throws {
        let root = file.root
        let m = state.model
        try root.setAttribute("format", .text(format))
        try root.setAttribute("format_version", .ints([Int32(formatVersion)]))
        try root.setAttribute("step", .int64s([Int64(state.step)]))
        try root.setAttribute("epoch", .int64s([Int64(state.epoch)]))
        try root.setAttribute("samples_seen", .int64s([Int64(state.samplesSeen)]))
        try root.setAttribute("seed", .int64s([Int64(state.seed)]))
        try root.setAttribute("world_size", .ints([Int32(state.worldSize)]))
        try root.setAttribute("config", .text(state.config))
        try root.setAttribute("created", .text(state.created))
        try root.setAttribute("software_version", .text(state.softwareVersion))

        // Dimension names are free (readers use shapes). One dimension per
        // (axis, length), so no variable repeats a dimension (xarray dislikes that).
        let layout = state.layout
        var defined = Set<String>()
        func dims(_ shape: [Int]) throws -> [String] {
            try shape.enumerated().map { axis, n in
                let name = "d\(axis)_\(n)"
                if defined.insert(name).inserted { try root.defineDimension(name, length: n) }
                return name
            }
        }
        var groups: [(NetCDFGroup, [Float])] = []
        let params = try root.defineGroup(parameterGroup)
        for (key, value) in modelAttributes(m) { try params.setAttribute(key, value) }
        groups.append((params, state.parameters))
        if let mo = state.moments {
            groups.append((try root.defineGroup(momentGroups.0), mo.first))
            groups.append((try root.defineGroup(momentGroups.1), mo.second))
        }
        var variables: [[NetCDFVariable]] = []
        for (g, _) in groups {
            variables.append(try layout.entries.map { e in
                try g.defineVariable(e.name, type: .float, dimensions: try dims(e.shape), chunks: chunkShape(e.shape), fletcher32: true)
            })
        }
        let normGroup = try root.defineGroup("normalization")
        try normGroup.setAttribute("channels", .text(state.normalization.channels.joined(separator: ",")))
        try normGroup.defineDimension("channel", length: m.channels)
        let mean = try normGroup.defineVariable("mean", type: .double, dimensions: ["channel"], fletcher32: true)
        let std = try normGroup.defineVariable("std", type: .double, dimensions: ["channel"], fletcher32: true)

        for ((_, values), vars) in zip(groups, variables) {
            try values.withUnsafeBufferPointer { all in
                for (e, v) in zip(layout.entries, vars) {
                    try v.write(UnsafeBufferPointer(rebasing: all[e.range]), start: [Int](repeating: 0, count: e.shape.count), count: e.shape)
                }
            }
        }
        try mean.writeAll(state.normalization.mean)
        try std.writeAll(state.normalization.std)
    }

    /// Chunks of at most ~4 MiB that tile the variable exactly along every
    /// dimension but the first (NetCDF's default chunking of a [4Ch, Ch, 3, 3]
    /// weight is [4Ch, Ch, 2, 2]: 16 chunk cells for 9, +78% file size).
    /// Fletcher32 is per chunk, so a flipped bit fails the chunk that holds it.
    public static func chunkShape(_ shape: [Int]) -> [Int] {
        let target = 1 << 20  // float32 values per chunk (4 MiB)
        let row = shape.dropFirst().reduce(1, *)
        let total = row * (shape.first ?? 1)
        guard total > target, let first = shape.first else { return shape }
        let chunks = (total + target - 1) / target
        return [max(1, (first + chunks - 1) / chunks)] + shape.dropFirst()
    }

    /// The `/params` group attributes: the model hyperparameters, resolved.
    static func modelAttributes(_ m: ModelConfig) -> [(String, NetCDFAttribute)] {
        [
            ("cell", .text(m.cell.rawValue)),
            ("objective", .text(m.objective.rawValue)),
            ("layers", .ints([Int32(m.layers)])),
            ("hidden", .ints([Int32(m.hidden)])),
            ("kernel", .ints([Int32(m.kernel)])),
            ("bottleneck", .ints([Int32(m.resolvedBottleneck)])),
            ("dilations", .ints(m.dilations.map { Int32($0) })),
            ("se_reduction", .ints([Int32(m.seReduction)])),
            ("attn_stride", .ints([Int32(m.attnStride)])),
            ("attn_dk", .ints([Int32(m.attnDk)])),
            ("embed_dim", .ints([Int32(m.embedDim)])),
            ("season_period_days", .doubles([m.resolvedSeasonPeriod])),
            ("channels", .ints([Int32(m.channels)])),
        ]
    }

    /// A generous estimate of the file's size in bytes: the data plus HDF5
    /// metadata (object headers, chunk indexes) per variable.
    public static func estimatedSize(of state: TrainingState) -> Int {
        let layout = state.layout
        let groups = state.moments == nil ? 1 : 3
        let data = 4 * layout.totalCount * groups + 16 * state.model.channels
        let variables = layout.entries.count * groups + 2
        // Measured with NetCDF 4.9 / HDF5 1.10: about 3.5 KiB of metadata per variable.
        return data + variables * 8192 + state.config.utf8.count + 64 * 1024
    }

    // MARK: Reading

    /// Reads and validates the checkpoint at `path`: format and version, every
    /// attribute with its type, every variable present with the model's shape,
    /// all data read (so Fletcher32 is verified), no NaN/Inf. With `expecting`,
    /// the stored model hyperparameters must equal it (resolved), else the error
    /// names each differing field.
    public static func read(_ path: String, expecting expected: ModelConfig? = nil) throws -> TrainingState {
        let file: NetCDFFile
        do {
            file = try NetCDFFile.open(path)
        } catch {
            var why = netCDFReason(error)
            if why.contains("HDF error") { why += " (truncated or damaged file)" }
            throw CheckpointError(path, .cannotOpen, "cannot open: \(why)")
        }
        defer { try? file.close() }
        do {
            return try readContents(file, path, expected)
        } catch let e as CheckpointError {
            throw e
        } catch {
            // A NetCDF failure outside a data read (listing, metadata): the file is damaged.
            throw CheckpointError(path, .corruptData, "unreadable structure: \(netCDFReason(error))")
        }
    }

    private static func readContents(_ file: NetCDFFile, _ path: String, _ expected: ModelConfig?) throws -> TrainingState {
        guard file.format == .netcdf4 else {
            throw CheckpointError(path, .notACheckpoint, "not a faconvlstm checkpoint: \(file.format.rawValue) format, checkpoints are NetCDF-4")
        }
        let root = AttributeReader(group: file.root, path: path)
        guard let fmt = try file.root.attribute("format") else {
            throw CheckpointError(path, .notACheckpoint, "not a faconvlstm checkpoint: no global attribute 'format'")
        }
        guard fmt.text == format else {
            throw CheckpointError(path, .notACheckpoint, "not a faconvlstm checkpoint: format is \(describe(fmt)), expected \"\(format)\"")
        }
        let version = try root.int("format_version")
        guard version == formatVersion else {
            throw CheckpointError(path, .unsupportedVersion, "format_version \(version) is not supported (this program reads version \(formatVersion))")
        }
        let step = try root.int("step", min: 0)
        let epoch = try root.int("epoch", min: 0)
        let samplesSeen = try root.int("samples_seen", min: 0)
        let seed = try root.int("seed", min: 0)
        let worldSize = try root.int("world_size", min: 1)
        let config = try root.text("config")
        let created = try root.text("created")
        let software = try root.text("software_version")

        let paramsGroup = try group(file, parameterGroup, path)
        let model = try readModel(AttributeReader(group: paramsGroup, path: path))
        if let want = expected {
            let diff = model.differences(from: want)
            if !diff.isEmpty {
                throw CheckpointError(path, .incompatible, "model does not match the configuration: \(diff.joined(separator: "; "))")
            }
        }
        let layout = ParameterLayout(config: model)
        let parameters = try readFloats(paramsGroup, layout, path)
        if let bad = TrainingState.firstNonFinite(parameters, layout) {
            throw CheckpointError(path, .nonFinite, "parameter \(bad) is not finite")
        }
        let m = try file.root.group(named: momentGroups.0), v = try file.root.group(named: momentGroups.1)
        var moments: AdamMoments? = nil
        switch (m, v) {
        case let (m?, v?):
            moments = AdamMoments(first: try readFloats(m, layout, path), second: try readFloats(v, layout, path))
            if let bad = TrainingState.firstNonFinite(moments!.first, layout) {
                throw CheckpointError(path, .nonFinite, "AdamW first moment \(bad) is not finite")
            }
            if let bad = TrainingState.firstNonFinite(moments!.second, layout) {
                throw CheckpointError(path, .nonFinite, "AdamW second moment \(bad) is not finite")
            }
        case (nil, nil): break
        case (nil, _?): throw CheckpointError(path, .missingGroup, "has /adam_v but no /adam_m (AdamW moments come in pairs)")
        case (_?, nil): throw CheckpointError(path, .missingGroup, "has /adam_m but no /adam_v (AdamW moments come in pairs)")
        }
        let normalization = try readNormalization(try group(file, "normalization", path), channels: model.channels, path)
        return TrainingState(step: step, epoch: epoch, samplesSeen: samplesSeen, seed: UInt64(seed), worldSize: worldSize,
                             config: config, model: model, parameters: parameters, moments: moments,
                             normalization: normalization, softwareVersion: software, created: created)
    }

    private static func group(_ file: NetCDFFile, _ name: String, _ path: String) throws -> NetCDFGroup {
        guard let g = try file.root.group(named: name) else {
            throw CheckpointError(path, .missingGroup, "missing group /\(name)")
        }
        return g
    }

    private static func readModel(_ a: AttributeReader) throws -> ModelConfig {
        var m = ModelConfig()
        let cell = try a.text("cell")
        guard let c = ModelConfig.Cell(rawValue: cell) else {
            throw a.bad("cell", "is \"\(cell)\", expected one of \(ModelConfig.Cell.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))")
        }
        m.cell = c
        let objective = try a.text("objective")
        guard let o = ModelConfig.Objective(rawValue: objective) else {
            throw a.bad("objective", "is \"\(objective)\", expected one of \(ModelConfig.Objective.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))")
        }
        m.objective = o
        m.layers = try a.int("layers")
        m.hidden = try a.int("hidden")
        m.kernel = try a.int("kernel")
        m.bottleneck = try a.int("bottleneck")
        m.dilations = try a.ints("dilations")
        m.seReduction = try a.int("se_reduction")
        m.attnStride = try a.int("attn_stride")
        m.attnDk = try a.int("attn_dk")
        m.embedDim = try a.int("embed_dim")
        m.seasonPeriodDays = try a.double("season_period_days")
        m.channels = try a.int("channels")
        do { try m.validate() } catch {
            throw CheckpointError(a.path, .badAttribute, "/params attributes describe no valid model: \(error)")
        }
        return m
    }

    /// One float32 variable per layout entry, exactly those, into a flat buffer.
    private static func readFloats(_ g: NetCDFGroup, _ layout: ParameterLayout, _ path: String) throws -> [Float] {
        var out = [Float](repeating: 0, count: layout.totalCount)
        let present = try g.variables()
        let byName = Dictionary(present.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        // Missing names first (a renamed variable is reported as the spec name missing).
        let variables = try layout.entries.map { e in
            guard let v = byName[e.name] else {
                throw CheckpointError(path, .missingVariable, "missing variable \(g.path)/\(e.name)")
            }
            return v
        }
        let names = Set(layout.entries.map(\.name))
        if let extra = present.first(where: { !names.contains($0.name) }) {
            throw CheckpointError(path, .unexpectedVariable, "\(g.path)/\(extra.name) is not a parameter of the model the attributes describe")
        }
        for (e, v) in zip(layout.entries, variables) {
            try checkVariable(v, type: .float, shape: e.shape, path)
            try out.withUnsafeMutableBufferPointer { all in
                try readData(v, path) {
                    _ = try v.read(start: [Int](repeating: 0, count: e.shape.count), count: e.shape,
                                   into: UnsafeMutableBufferPointer(rebasing: all[e.range]))
                }
            }
        }
        return out
    }

    private static func readNormalization(_ g: NetCDFGroup, channels: Int, _ path: String) throws -> Normalization {
        let names = try AttributeReader(group: g, path: path).text("channels").split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard names.count == channels else {
            throw CheckpointError(path, .badAttribute, "/normalization attribute 'channels' names \(names.count) channels, the model has \(channels)")
        }
        var stats: [[Double]] = []
        for name in ["mean", "std"] {
            guard let v = try g.findVariable(name) else {
                throw CheckpointError(path, .missingVariable, "missing variable /normalization/\(name)")
            }
            try checkVariable(v, type: .double, shape: [channels], path)
            var values: [Double] = []
            try readData(v, path) { values = try v.readAll(Double.self) }
            stats.append(values)
        }
        for c in 0 ..< channels where !stats[0][c].isFinite || !stats[1][c].isFinite || !(stats[1][c] > 0) {
            throw CheckpointError(path, .nonFinite, "normalization of channel '\(names[c])' is not usable (mean \(stats[0][c]), std \(stats[1][c]))")
        }
        return Normalization(channels: names, mean: stats[0], std: stats[1])
    }

    private static func checkVariable(_ v: NetCDFVariable, type: NetCDFType, shape: [Int], _ path: String) throws {
        let name = "\(v.group.path)/\(v.name)"
        guard v.type == type else {
            throw CheckpointError(path, .wrongType, "\(name) is \(v.type), expected \(type)")
        }
        let s = try v.shape()
        guard s == shape else {
            throw CheckpointError(path, .wrongShape, "\(name) has shape \(s), the model needs \(shape)")
        }
        guard try v.hasFletcher32() else {
            throw CheckpointError(path, .noChecksum, "\(name) has no Fletcher32 checksum (CHECKPOINT.md requires it on every variable)")
        }
    }

    /// A failed data read of a Fletcher32-protected variable is a checksum
    /// mismatch or other damage that HDF5 detected.
    private static func readData(_ v: NetCDFVariable, _ path: String, _ body: () throws -> Void) throws {
        do { try body() } catch {
            throw CheckpointError(path, .corruptData, "\(v.group.path)/\(v.name): data fails to read (\(netCDFReason(error))): Fletcher32 checksum mismatch or damaged file")
        }
    }

    static func describe(_ a: NetCDFAttribute) -> String {
        if let t = a.text { return "\"\(t)\"" }
        if let n = a.numbers { return n.count == 1 ? "\(n[0])" : "\(n)" }
        return "of type \(a.type)"
    }

    static func netCDFReason(_ error: Error) -> String {
        if let e = error as? NetCDFError { return e.operation == "cannot open" ? e.message : "\(e.operation): \(e.message)" }
        if let e = error as? CheckpointError { return e.detail }
        return "\(error)"
    }
}

/// Typed, required attributes of one group, failing with a `CheckpointError`
/// that names the group and the attribute.
struct AttributeReader {
    let group: NetCDFGroup
    let path: String

    private var place: String { group.path == "/" ? "global attribute" : "\(group.path) attribute" }

    func bad(_ name: String, _ why: String) -> CheckpointError {
        CheckpointError(path, .badAttribute, "\(place) '\(name)' \(why)")
    }

    private func value(_ name: String) throws -> NetCDFAttribute {
        guard let a = try group.attribute(name) else {
            throw CheckpointError(path, .missingAttribute, "missing \(place) '\(name)'")
        }
        return a
    }

    func text(_ name: String) throws -> String {
        let a = try value(name)
        guard let t = a.text else { throw bad(name, "must be text, got \(a.type)") }
        return t
    }

    /// Integer attributes of any integer type, as Int.
    func ints(_ name: String) throws -> [Int] {
        let a = try value(name)
        switch a {
        case .ints(let v): return v.map(Int.init)
        case .int64s(let v): return v.map(Int.init)
        case .shorts(let v): return v.map(Int.init)
        case .bytes(let v): return v.map(Int.init)
        case .ubytes(let v): return v.map(Int.init)
        default: throw bad(name, "must be an integer, got \(a.type)")
        }
    }

    func int(_ name: String, min: Int? = nil) throws -> Int {
        let v = try ints(name)
        guard v.count == 1 else { throw bad(name, "must be one integer, got \(v.count) values") }
        if let lo = min, v[0] < lo { throw bad(name, "is \(v[0]), must be at least \(lo)") }
        return v[0]
    }

    func double(_ name: String) throws -> Double {
        let a = try value(name)
        guard let n = a.numbers, n.count == 1 else { throw bad(name, "must be one number, got \(CheckpointFile.describe(a))") }
        return n[0]
    }
}

extension ModelConfig {
    /// This config with the defaults that depend on other fields written out
    /// (bottleneck, season period), as a checkpoint stores and reads it back.
    public var resolved: ModelConfig {
        var m = self
        m.bottleneck = resolvedBottleneck
        m.seasonPeriodDays = resolvedSeasonPeriod
        return m
    }

    /// The fields (TOML / attribute names) whose resolved values differ, as
    /// "hidden: 8 in the checkpoint, 16 expected". Bottleneck and season period
    /// compare resolved, so pass a config whose season period is resolved from
    /// the data calendar.
    public func differences(from expected: ModelConfig) -> [String] {
        var out: [String] = []
        func cmp<T: Equatable>(_ key: String, _ mine: T, _ theirs: T) {
            if mine != theirs { out.append("\(key): \(mine) in the checkpoint, \(theirs) expected") }
        }
        cmp("cell", cell.rawValue, expected.cell.rawValue)
        cmp("objective", objective.rawValue, expected.objective.rawValue)
        cmp("channels", channels, expected.channels)
        cmp("layers", layers, expected.layers)
        cmp("hidden", hidden, expected.hidden)
        cmp("kernel", kernel, expected.kernel)
        cmp("bottleneck", resolvedBottleneck, expected.resolvedBottleneck)
        cmp("dilations", dilations, expected.dilations)
        cmp("se_reduction", seReduction, expected.seReduction)
        cmp("attn_stride", attnStride, expected.attnStride)
        cmp("attn_dk", attnDk, expected.attnDk)
        cmp("embed_dim", embedDim, expected.embedDim)
        cmp("season_period_days", resolvedSeasonPeriod, expected.resolvedSeasonPeriod)
        return out
    }
}
