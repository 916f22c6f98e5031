import Kernels

/// How a parameter starts (MODEL.md tables).
public enum ParameterInit: Equatable, Sendable {
    /// Uniform in (-bound, bound), bound = sqrt(6 / (fan_in + fan_out)).
    case glorot(bound: Double)
    case zeros
    /// Zeros except the forget-gate slice `[hidden, 2 hidden)`, which is 1.
    case forgetBiasOne(hidden: Int)
}

/// One named parameter: a view `[offset, offset + count)` of the flat buffer.
public struct ParameterEntry: Equatable, Sendable {
    /// The spec name, e.g. `layers.0.bottleneck.wx`.
    public let name: String
    /// Row-major shape as in MODEL.md.
    public let shape: [Int]
    public let offset: Int
    public let initRule: ParameterInit
    public var count: Int { shape.reduce(1, *) }
    public var range: Range<Int> { offset ..< offset + count }
    /// AdamW weight decay applies to parameters of rank 2 or more only.
    public var decays: Bool { shape.count >= 2 }
}

/// All parameters of a model in one flat buffer, in layer order:
/// `layers.0.*`, `layers.1.*`, ..., then `head.*`, then `decoder.*`.
/// Gradients and both AdamW moments use the same layout, so zeroing,
/// all-reducing, stepping and checkpointing are each one loop over one buffer.
public struct ParameterLayout: Equatable, Sendable {
    public let entries: [ParameterEntry]
    /// Flat range of each layer's parameters (index = layer, from 0).
    public let layerRanges: [Range<Int>]
    /// Flat range of `head.*` and `decoder.*`.
    public let headRange: Range<Int>
    public var totalCount: Int { headRange.upperBound }

    public init(config c: ModelConfig) {
        var entries: [ParameterEntry] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int], _ rule: ParameterInit) {
            entries.append(ParameterEntry(name: name, shape: shape, offset: offset, initRule: rule))
            offset += shape.reduce(1, *)
        }
        func glorot(_ fanIn: Int, _ fanOut: Int) -> ParameterInit {
            .glorot(bound: (6.0 / Double(fanIn + fanOut)).squareRoot())
        }
        let ch = c.hidden, k = c.kernel
        var layerRanges: [Range<Int>] = []
        for l in 0 ..< c.layers {
            let start = offset
            let cin = l == 0 ? c.channels : ch
            let p = "layers.\(l)."
            switch c.cell {
            case .faconvlstm:
                let r = c.resolvedBottleneck, q = c.squeezeChannels, dk = c.attnDk
                let bottleneckInit = glorot(cin + ch, r)
                add(p + "bottleneck.wx", [r, cin], bottleneckInit)
                add(p + "bottleneck.wh", [r, ch], bottleneckInit)
                add(p + "bottleneck.b", [r], .zeros)
                for j in c.dilations.indices { add(p + "mix.dw\(j)", [r, k, k], glorot(k * k, k * k)) }
                add(p + "mix.b", [r], .zeros)
                add(p + "se.w1", [q, r], glorot(r, q))
                add(p + "se.b1", [q], .zeros)
                add(p + "se.w2", [r, q], glorot(q, r))
                add(p + "se.b2", [r], .zeros)
                add(p + "gates.w", [4 * ch, r], glorot(r, 4 * ch))
                add(p + "gates.b", [4 * ch], .forgetBiasOne(hidden: ch))
                add(p + "peephole.i", [ch], .zeros)
                add(p + "peephole.f", [ch], .zeros)
                add(p + "peephole.o", [ch], .zeros)
                add(p + "attn.wq", [dk, ch], glorot(ch, dk))
                add(p + "attn.wk", [dk, ch], glorot(ch, dk))
                add(p + "attn.wv", [ch, ch], glorot(ch, ch))
                add(p + "attn.wo", [ch, ch], glorot(ch, ch))
                add(p + "attn.gamma", [1], .zeros)
            case .convlstm:
                add(p + "conv.wx", [4 * ch, cin, k, k], glorot(cin * k * k, 4 * ch * k * k))
                add(p + "conv.wh", [4 * ch, ch, k, k], glorot(ch * k * k, 4 * ch * k * k))
                add(p + "conv.b", [4 * ch], .forgetBiasOne(hidden: ch))
            }
            layerRanges.append(start ..< offset)
        }
        let headStart = offset
        let de = c.embedDim
        add("head.embed.w", [de, ch], glorot(ch, de))
        add("head.embed.b", [de], .zeros)
        add("head.tattn.wq", [de, de], glorot(de, de))
        add("head.tattn.wk", [de, de], glorot(de, de))
        add("head.tattn.wv", [de, de], glorot(de, de))
        add("head.film.scale", [ch, de], .zeros)
        add("head.film.shift", [ch, de], .zeros)
        add("decoder.w", [c.channels, ch], glorot(ch, c.channels))
        add("decoder.b", [c.channels], .zeros)
        self.entries = entries
        self.layerRanges = layerRanges
        self.headRange = headStart ..< offset
    }

    public func entry(named name: String) -> ParameterEntry? {
        entries.first { $0.name == name }
    }

    /// Fills `params` with the spec's initialisation. Each parameter's values
    /// are a pure function of (seed, name): drawn in Double, then rounded, so a
    /// Float and a Double model from one seed agree to Float rounding.
    public func initialize<T: KernelScalar>(_ params: UnsafeMutableBufferPointer<T>, seed: UInt64) {
        precondition(params.count == totalCount)
        for e in entries {
            switch e.initRule {
            case .zeros:
                for i in e.range { params[i] = 0 }
            case .forgetBiasOne(let ch):
                for i in e.range { params[i] = 0 }
                for i in ch ..< 2 * ch { params[e.offset + i] = 1 }
            case .glorot(let a):
                var rng = CounterRNG(seed: seed, streamName: e.name)
                for i in e.range { params[i] = T(rng.uniform(-a, a)) }
            }
        }
    }
}
