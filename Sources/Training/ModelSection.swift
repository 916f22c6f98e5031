import Model

/// `[model]` of the run config: every field of `ModelConfig`, snake_case.
extension ModelConfig {
    public init(section s: ConfigSection) throws {
        self.init()
        if let v = try s.choice("cell", as: Cell.self) { cell = v }
        if let v = try s.choice("objective", as: Objective.self) { objective = v }
        if let v = try s.int("channels") { channels = v }
        if let v = try s.int("layers") { layers = v }
        if let v = try s.int("hidden") { hidden = v }
        if let v = try s.int("kernel") { kernel = v }
        if let v = try s.int("bottleneck") { bottleneck = v }
        if let v = try s.intArray("dilations") { dilations = v }
        if let v = try s.int("se_reduction") { seReduction = v }
        if let v = try s.int("attn_stride") { attnStride = v }
        if let v = try s.int("attn_dk") { attnDk = v }
        if let v = try s.int("embed_dim") { embedDim = v }
        if let v = try s.double("season_period_days") { seasonPeriodDays = v }
        if let v = try s.choice("conv_algorithm", as: ConvAlgorithm.self) { convAlgorithm = v }
        if let v = try s.bool("recompute_gates") { recomputeGates = v }
        try s.finish()
        do { try validate() } catch let e as ConfigError {
            throw ConfigFileError("\(s.source): \(e.message)")
        }
    }

    /// Writes every field, defaults resolved, so the file alone rebuilds the model.
    public func write(to w: inout TOMLWriter) {
        w.section("model")
        w.set("cell", cell.rawValue)
        w.set("objective", objective.rawValue)
        w.set("channels", channels)
        w.set("layers", layers)
        w.set("hidden", hidden)
        w.set("kernel", kernel)
        w.set("bottleneck", resolvedBottleneck)
        w.set("dilations", dilations)
        w.set("se_reduction", seReduction)
        w.set("attn_stride", attnStride)
        w.set("attn_dk", attnDk)
        w.set("embed_dim", embedDim)
        w.set("season_period_days", resolvedSeasonPeriod)
        w.set("conv_algorithm", convAlgorithm.rawValue)
        w.set("recompute_gates", recomputeGates)
    }
}
