import ArgumentParser
import Foundation
import Kernels
import Model

/// Exchanges one forward + backward with another implementation (a PyTorch or
/// Keras peer), llm.c style. The format is in docs/design.md, "Debug state".
struct DebugState: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "debug-state",
        abstract: "Run one forward + backward on a case directory and write every result (for cross-checks).",
        discussion: """
            D/config.json names the dtype, seed, model and batch size. With --generate the
            inputs (layout.json, params.bin, inputs.bin, mask.bin, lat_weights.bin,
            day_of_year.bin) are first created from it; then the case runs and D/swift/
            receives loss.json, grads.bin, input_grads.bin, prediction.bin,
            embeddings.bin and hidden_l<l>.bin. All arrays are raw little-endian.
            """,
        shouldDisplay: false)

    @Option(help: ArgumentHelp("The case directory.", valueName: "dir")) var dir: String
    @Flag(help: "Create the inputs from config.json first.") var generate = false

    func run() throws {
        let root = URL(fileURLWithPath: dir)
        let caseConfig = try DebugCase(contentsOf: root.appendingPathComponent("config.json"))
        switch caseConfig.dtype {
        case "float64": try runCase(Double.self, caseConfig, root)
        case "float32": try runCase(Float.self, caseConfig, root)
        default: throw ValidationError("\(dir)/config.json: dtype must be \"float32\" or \"float64\", got \"\(caseConfig.dtype)\"")
        }
    }

    func runCase<T: KernelScalar>(_: T.Type, _ cc: DebugCase, _ root: URL) throws {
        let c = cc.model
        let (b, t, h, w) = (cc.samples, cc.steps, cc.height, cc.width)
        let layout = ParameterLayout(config: c)
        let frame = t * c.channels * b * h * w
        func path(_ name: String) -> URL { root.appendingPathComponent(name) }

        if generate {
            let params = UnsafeMutableBufferPointer<T>.allocate(capacity: layout.totalCount)
            defer { params.deallocate() }
            layout.initialize(params, seed: cc.seed)
            layout.randomizeZeroInitialized(params, seed: cc.seed &+ 1)
            try writeRaw(Array(params), to: path("params.bin"))
            let entries = layout.entries.map { ["name": $0.name, "shape": $0.shape, "offset": $0.offset] as [String: Any] }
            try JSONSerialization.data(withJSONObject: entries, options: [.prettyPrinted]).write(to: path("layout.json"))
            let batch = Batch<T>.random(samples: b, steps: t, channels: c.channels, height: h, width: w, seed: cc.seed &+ 2)
            try writeRaw(batch.inputs, to: path("inputs.bin"))
            try writeRaw(batch.mask, to: path("mask.bin"))
            try writeRaw(batch.latitudeWeights, to: path("lat_weights.bin"))
            try writeRaw(batch.dayOfYear, to: path("day_of_year.bin"))
        }

        let net = Network<T>(config: c, maxSamples: b, steps: t, height: h, width: w)
        let params: [T] = try readRaw(path("params.bin"), count: layout.totalCount)
        for i in params.indices { net.params[i] = params[i] }
        var batch = Batch<T>(samples: b, steps: t, channels: c.channels, height: h, width: w)
        batch.inputs = try readRaw(path("inputs.bin"), count: frame)
        batch.mask = try readRaw(path("mask.bin"), count: frame)
        batch.latitudeWeights = try readRaw(path("lat_weights.bin"), count: b * h)
        batch.dayOfYear = try readRaw(path("day_of_year.bin"), count: b * t)

        let denominator = batch.lossDenominator(c.objective)
        net.zeroGradients()
        let numerator = net.forward(batch)
        net.backward(scale: lossScale(denominator: denominator))

        let out = path("swift")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let loss: [String: Any] = ["numerator": numerator, "denominator": denominator,
                                   "loss": lossValue(numerator: numerator, denominator: denominator)]
        try JSONSerialization.data(withJSONObject: loss, options: [.sortedKeys, .prettyPrinted]).write(to: out.appendingPathComponent("loss.json"))
        try writeRaw(Array(net.grads), to: out.appendingPathComponent("grads.bin"))
        try writeRaw(Array(net.inputGradients), to: out.appendingPathComponent("input_grads.bin"))
        try writeRaw(Array(net.prediction), to: out.appendingPathComponent("prediction.bin"))
        try writeRaw(Array(net.embeddings), to: out.appendingPathComponent("embeddings.bin"))
        for l in 0 ..< c.layers {
            var hidden: [T] = []
            hidden.reserveCapacity(t * c.hidden * b * h * w)
            for s in 0 ..< t { hidden.append(contentsOf: net.hiddenState(layer: l, step: s)) }
            try writeRaw(hidden, to: out.appendingPathComponent("hidden_l\(l).bin"))
        }
        print("debug-state: \(root.path): loss \(lossValue(numerator: numerator, denominator: denominator)) (numerator \(numerator), denominator \(denominator))")
    }
}

/// D/config.json.
struct DebugCase {
    var dtype: String
    var seed: UInt64
    var model: ModelConfig
    var samples, steps, height, width: Int

    init(contentsOf url: URL) throws {
        let where_ = url.path
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ValidationError("\(where_): cannot be read")
        }
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ValidationError("\(where_): not a JSON object")
        }
        func int(_ d: [String: Any], _ key: String) throws -> Int {
            guard let v = d[key] as? NSNumber else { throw ValidationError("\(where_): missing integer '\(key)'") }
            return v.intValue
        }
        dtype = obj["dtype"] as? String ?? "float64"
        seed = UInt64((obj["seed"] as? NSNumber)?.int64Value ?? 0)
        guard let m = obj["model"] as? [String: Any], let bt = obj["batch"] as? [String: Any] else {
            throw ValidationError("\(where_): needs \"model\" and \"batch\" objects")
        }
        var c = ModelConfig()
        if let s = m["cell"] as? String {
            guard let v = ModelConfig.Cell(rawValue: s) else { throw ValidationError("\(where_): unknown cell \(s)") }
            c.cell = v
        }
        if let s = m["objective"] as? String {
            guard let v = ModelConfig.Objective(rawValue: s) else { throw ValidationError("\(where_): unknown objective \(s)") }
            c.objective = v
        }
        if m["channels"] != nil { c.channels = try int(m, "channels") }
        if m["layers"] != nil { c.layers = try int(m, "layers") }
        if m["hidden"] != nil { c.hidden = try int(m, "hidden") }
        if m["kernel"] != nil { c.kernel = try int(m, "kernel") }
        if let v = m["bottleneck"] as? NSNumber { c.bottleneck = v.intValue }
        if let v = m["dilations"] as? [NSNumber] { c.dilations = v.map(\.intValue) }
        if m["se_reduction"] != nil { c.seReduction = try int(m, "se_reduction") }
        if m["attn_stride"] != nil { c.attnStride = try int(m, "attn_stride") }
        if m["attn_dk"] != nil { c.attnDk = try int(m, "attn_dk") }
        if m["embed_dim"] != nil { c.embedDim = try int(m, "embed_dim") }
        if let v = m["season_period_days"] as? NSNumber { c.seasonPeriodDays = v.doubleValue }
        // how this side computes the ConvLSTM's convolutions: outside "model", which peers read
        if let s = obj["conv_algorithm"] as? String {
            guard let v = ModelConfig.ConvAlgorithm(rawValue: s) else { throw ValidationError("\(where_): unknown conv_algorithm \(s)") }
            c.convAlgorithm = v
        }
        do { try c.validate() } catch { throw ValidationError("\(where_): \(error)") }
        model = c
        samples = try int(bt, "samples"); steps = try int(bt, "steps")
        height = try int(bt, "height"); width = try int(bt, "width")
    }
}

/// Writes the values as raw little-endian bytes (every supported host is little-endian).
func writeRaw<E>(_ values: [E], to url: URL) throws {
    let data = values.withUnsafeBytes { Data($0) }
    try data.write(to: url)
}

/// Reads exactly `count` raw values.
func readRaw<E>(_ url: URL, count: Int) throws -> [E] {
    guard let data = FileManager.default.contents(atPath: url.path) else {
        throw ValidationError("\(url.path): cannot be read")
    }
    guard data.count == count * MemoryLayout<E>.stride else {
        throw ValidationError("\(url.path): \(data.count) bytes, expected \(count) values of \(MemoryLayout<E>.stride) bytes")
    }
    return [E](unsafeUninitializedCapacity: count) { buf, n in
        UnsafeMutableRawBufferPointer(buf).copyBytes(from: data)
        n = count
    }
}
