import ArgumentParser
import Model
import Training

extension ModelConfig.Cell: ExpressibleByArgument {}
extension ModelConfig.Objective: ExpressibleByArgument {}

/// Options that pick a model: a run config's [model] section, overrides, the cell.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("A TOML run config; only its [model] section is read.", valueName: "file"))
    var config: String?

    @Option(name: .customLong("set"), help: ArgumentHelp(
        "Override one config value, e.g. --set model.hidden=64 or --set 'model.dilations=[1,2]' (repeatable).",
        valueName: "key=value"))
    var overrides: [String] = []

    @Option(help: "The recurrent cell of every layer: faconvlstm or convlstm (wins over the config).")
    var cell: ModelConfig.Cell?

    @Option(help: "Objective: reconstruct (target X_t) or forecast (target X_{t+1}); wins over the config.")
    var objective: ModelConfig.Objective?

    /// The model config: defaults, then the file, then --set, then --cell / --objective.
    func resolve() throws -> ModelConfig {
        var doc = try config.map { try ConfigDocument(contentsOf: $0) } ?? ConfigDocument()
        for o in overrides { try doc.applyOverride(o) }
        var c = try ModelConfig(section: try doc.section("model"))
        if let cell { c.cell = cell }
        if let objective { c.objective = objective }
        try c.validate()
        return c
    }
}

/// Options that size one window of the model's input.
struct WindowOptions: ParsableArguments {
    @Option(help: "Samples per micro-batch (B).") var samples = 4
    @Option(help: "Frames per window (T).") var steps = 8
    @Option(help: "Tile height in grid points.") var height = 32
    @Option(help: "Tile width in grid points.") var width = 32

    func validate() throws {
        for (name, v) in [("samples", samples), ("steps", steps), ("height", height), ("width", width)] where v < 1 {
            throw ValidationError("--\(name) must be at least 1, got \(v)")
        }
    }
}

/// Thousands separators for counts in human-readable output.
func grouped(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (i, ch) in s.reversed().enumerated() {
        if i > 0 && i % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return String(out.reversed())
}

func formatFLOPs(_ f: Double) -> String {
    if f >= 1e9 { return String(format: "%.3f GFLOP", f / 1e9) }
    return String(format: "%.2f MFLOP", f / 1e6)
}
