/// Every option of MODEL.md, with the spec's defaults. Field names in TOML
/// configs and checkpoint attributes are the snake_case `key`s below.
public struct ModelConfig: Equatable, Sendable {
    public enum Cell: String, CaseIterable, Sendable { case faconvlstm, convlstm }
    public enum Objective: String, CaseIterable, Sendable { case reconstruct, forecast }
    public enum ConvAlgorithm: String, CaseIterable, Sendable { case im2col, winograd }

    /// `cell`: which recurrent cell every layer uses.
    public var cell: Cell = .faconvlstm
    /// `objective`: reconstruct X_t, or forecast X_{t+1}.
    public var objective: Objective = .reconstruct
    /// `channels` (V): input variables; set from the dataset.
    public var channels: Int = 4
    /// `layers` (L): stacked recurrent layers.
    public var layers: Int = 2
    /// `hidden` (Ch): hidden channels per layer.
    public var hidden: Int = 32
    /// `kernel` (k): spatial kernel size, odd.
    public var kernel: Int = 3
    /// `bottleneck` (r): nil means the spec default max(1, floor(Ch/2)).
    public var bottleneck: Int? = nil
    /// `dilations` (D): one depthwise branch per dilation.
    public var dilations: [Int] = [1, 2, 4]
    /// `se_reduction` (rho): q = max(1, floor(r / rho)) squeeze channels.
    public var seReduction: Int = 4
    /// `attn_stride` (s): axial attention at steps t with t mod s == 0; 0 disables.
    public var attnStride: Int = 4
    /// `attn_dk` (dk): query/key width of the axial attention.
    public var attnDk: Int = 8
    /// `embed_dim` (de): embedding width, even.
    public var embedDim: Int = 16
    /// `season_period_days` (P): nil means the length of the data calendar's year.
    public var seasonPeriodDays: Double? = nil
    /// `conv_algorithm`: how the ConvLSTM cell computes its k x k convolutions, im2col + GEMM
    /// (the direct sum, default) or Winograd F(2x2, 3x3) (k = 3 only: 16 multiplies per 2x2
    /// outputs instead of 36, results equal up to rounding). Not part of the model:
    /// checkpoints do not record it, and it does not touch the FAConvLSTM cell.
    public var convAlgorithm: ConvAlgorithm = .im2col
    /// `recompute_gates`: the FAConvLSTM backward recomputes the four gate activations
    /// from Mt, chunk by chunk, instead of holding them from the forward: 4 Ch floats
    /// per grid point and step less activation memory (40% at the default config), for
    /// a second gate product and gate math per step (docs/performance.md section 14).
    /// The same numbers bit for bit. Not part of the model: checkpoints do not record it.
    public var recomputeGates: Bool = false

    public init() {}

    /// r, with the spec default applied.
    public var resolvedBottleneck: Int { bottleneck ?? max(1, hidden / 2) }
    /// q = max(1, floor(r / rho)).
    public var squeezeChannels: Int { max(1, resolvedBottleneck / seReduction) }
    /// P, with 365.2425 where neither config nor data says otherwise.
    public var resolvedSeasonPeriod: Double { seasonPeriodDays ?? 365.2425 }

    /// Throws a `ConfigError` naming the first invalid field.
    public func validate() throws {
        func bad(_ key: String, _ why: String) -> ConfigError { ConfigError("model.\(key): \(why)") }
        if channels < 1 { throw bad("channels", "must be at least 1, got \(channels)") }
        if layers < 1 { throw bad("layers", "must be at least 1, got \(layers)") }
        if hidden < 1 { throw bad("hidden", "must be at least 1, got \(hidden)") }
        if kernel < 1 || kernel % 2 == 0 { throw bad("kernel", "must be a positive odd number, got \(kernel)") }
        if let r = bottleneck, r < 1 { throw bad("bottleneck", "must be at least 1, got \(r)") }
        if dilations.isEmpty { throw bad("dilations", "needs at least one dilation") }
        if let d = dilations.first(where: { $0 < 1 }) { throw bad("dilations", "each dilation must be at least 1, got \(d)") }
        if seReduction < 1 { throw bad("se_reduction", "must be at least 1, got \(seReduction)") }
        if attnStride < 0 { throw bad("attn_stride", "must be 0 (off) or positive, got \(attnStride)") }
        if attnDk < 1 { throw bad("attn_dk", "must be at least 1, got \(attnDk)") }
        if embedDim < 2 || embedDim % 2 != 0 { throw bad("embed_dim", "must be a positive even number, got \(embedDim)") }
        if let p = seasonPeriodDays, !(p > 0 && p.isFinite) { throw bad("season_period_days", "must be a positive number, got \(p)") }
        if convAlgorithm == .winograd && kernel != 3 {
            throw bad("conv_algorithm", "winograd computes 3 x 3 convolutions only, but kernel is \(kernel) (use im2col)")
        }
    }
}

/// A bad configuration value: one line naming the field and what is wrong.
public struct ConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
