import Kernels

/// The whole model of MODEL.md: L stacked recurrent layers (FAConvLSTM or
/// ConvLSTM2D cells), the subspace head and the FiLM decoder, with backward
/// through time over the whole window.
///
/// Buffers are allocated once in `init` for at most `maxSamples` samples and
/// reused by every forward/backward (no allocation per step). Backward runs
/// layer by layer (all steps of the top layer, then the next layer down), so
/// the gradients of finished blocks can be all-reduced while backward goes on.
///
/// Shapes: B samples (<= maxSamples), T steps, V variables, H x W tile,
/// N = B*H*W; frames [C, B, H, W].
public final class Network<T: KernelScalar> {
    public let config: ModelConfig
    public let layout: ParameterLayout
    /// All parameters, flat in `layout` order [layout.totalCount].
    public let params: UnsafeMutableBufferPointer<T>
    /// Gradients, same layout; backward accumulates (+=).
    public let grads: UnsafeMutableBufferPointer<T>
    public let maxSamples: Int
    public let steps: Int
    public let height: Int
    public let width: Int

    let geo: Geometry
    let arena = Arena<T>()
    let layers: [AnyLayer<T>]
    let faCells: [FAConvLSTMCell<T>]   // the same objects as `layers` for the FAConvLSTM cell (attention access)
    let head: SubspaceHead<T>
    let decoder: Decoder<T>

    let inputFrames: UnsafeMutablePointer<T>   // [T, V, B, H, W] copy of the batch inputs
    let inputGrads: UnsafeMutablePointer<T>    // [T, V, B, H, W]
    let interGrads: UnsafeMutablePointer<T>    // [T, Ch, Nmax] d loss / d H^l_t between layers (L > 1)
    let dTop: UnsafeMutablePointer<T>          // [2, Ch, Nmax] d loss / d H_t of the top layer, steps t and t-1 by turns

    // The last forward's batch size and window length.
    private(set) var lastSamples = 0
    private(set) var lastSteps = 0

    /// Whether backward computes d loss / d inputs (`inputGradients`). Training
    /// does not need the data's gradient: false skips the first layer's
    /// input-gradient products (and `inputGradients` keeps stale values).
    public var inputGradientsWanted = true

    /// Frees `params` in deinit (false for a replica that reads another network's).
    private let ownsParameters: Bool

    /// `sharedParameters`: read the parameters of another network of the same
    /// config (a `ThreadedNetwork` replica) instead of owning a copy; the
    /// gradients are always this network's own.
    public init(config: ModelConfig, maxSamples: Int, steps: Int, height: Int, width: Int,
                sharedParameters: UnsafeMutableBufferPointer<T>? = nil) {
        precondition(maxSamples >= 1 && steps >= 1 && height >= 1 && width >= 1, "network sizes must be positive")
        precondition((try? config.validate()) != nil, "invalid model config")
        self.config = config
        self.layout = ParameterLayout(config: config)
        self.maxSamples = maxSamples
        self.steps = steps
        self.height = height
        self.width = width
        if let shared = sharedParameters {
            precondition(shared.count == layout.totalCount, "shared parameters of another layout")
            params = shared
            ownsParameters = false
        } else {
            params = .allocate(capacity: layout.totalCount)
            params.initialize(repeating: 0)
            ownsParameters = true
        }
        grads = .allocate(capacity: layout.totalCount)
        grads.initialize(repeating: 0)
        let geo = Geometry(maxSamples: maxSamples, steps: steps, height: height, width: width)
        self.geo = geo
        var layers: [AnyLayer<T>] = []
        var fa: [FAConvLSTMCell<T>] = []
        for l in 0 ..< config.layers {
            let views = ParameterViews(layout: layout, params: params.baseAddress!, grads: grads.baseAddress!, prefix: "layers.\(l).")
            switch config.cell {
            case .faconvlstm:
                let cell = FAConvLSTMCell<T>(layer: l, config: config, geometry: geo, views: views, arena: arena)
                layers.append(.fa(cell))
                fa.append(cell)
            case .convlstm:
                layers.append(.conv(ConvLSTMCell<T>(layer: l, config: config, geometry: geo, views: views, arena: arena)))
            }
        }
        self.layers = layers
        self.faCells = fa
        let views = ParameterViews(layout: layout, params: params.baseAddress!, grads: grads.baseAddress!, prefix: "")
        head = SubspaceHead(config: config, geometry: geo, views: views, arena: arena)
        decoder = Decoder(config: config, geometry: geo, views: views, arena: arena)
        let frame = config.channels * geo.maxColumns
        inputFrames = arena.make(steps * frame, .cache)
        inputGrads = arena.make(steps * frame, .scratch)
        interGrads = arena.make(config.layers > 1 ? steps * config.hidden * geo.maxColumns : 0, .scratch)
        dTop = arena.make(2 * config.hidden * geo.maxColumns, .scratch)
    }

    deinit {
        if ownsParameters { params.deallocate() }
        grads.deallocate()
    }

    /// Spec initialisation, a pure function of (seed, parameter name).
    public func initialize(seed: UInt64) { layout.initialize(params, seed: seed) }

    public func zeroGradients() { grads.initialize(repeating: 0) }

    /// Elements this network holds for backward through time (activation caches),
    /// and its per-frame scratch: what `MemoryEstimate` predicts.
    public var cacheElements: Int { arena.cacheCount }
    public var scratchElements: Int { arena.scratchCount }

    // MARK: forward

    /// Runs the window; keeps what backward needs. Returns this batch's loss
    /// numerator sum(w_y m (Xhat - Y)^2) over its target frames, in Double.
    @discardableResult
    public func forward(_ batch: Batch<T>) -> Double {
        let b = batch.samples, tSteps = batch.steps
        precondition(b >= 1 && b <= maxSamples, "batch of \(b) samples, network built for at most \(maxSamples)")
        precondition(tSteps >= 1 && tSteps <= steps, "batch of \(tSteps) steps, network built for at most \(steps)")
        precondition(batch.channels == config.channels && batch.height == height && batch.width == width,
                     "batch shape [\(batch.channels), \(batch.height), \(batch.width)] does not match the network")
        lastSamples = b
        lastSteps = tSteps
        let n = b * height * width, v = config.channels
        batch.inputs.withUnsafeBufferPointer { inputFrames.update(from: $0.baseAddress!, count: tSteps * v * n) }

        for (l, layer) in layers.enumerated() {
            let below: AnyLayer<T>? = l > 0 ? layers[l - 1] : nil
            for t in 0 ..< tSteps {
                let x: UnsafePointer<T> = below.map { UnsafePointer($0.output(step: t)) } ?? UnsafePointer(inputFrames + t * v * n)
                layer.forward(step: t, input: x, samples: b)
            }
        }
        let top = layers[layers.count - 1]
        batch.dayOfYear.withUnsafeBufferPointer { tau in
            head.forward(top: { top.output(step: $0) }, dayOfYear: tau.baseAddress!, samples: b, steps: tSteps)
        }
        let targets = config.objective.targetSteps(tSteps)
        return batch.mask.withUnsafeBufferPointer { mask in
            batch.latitudeWeights.withUnsafeBufferPointer { lat in
                decoder.forward(z: head.z, top: { top.output(step: $0) }, targets: targets, offset: config.objective.targetOffset,
                                frames: inputFrames, mask: mask.baseAddress!, latWeights: lat.baseAddress!, samples: b)
            }
        }
    }

    // MARK: backward

    /// Backward through time of the last forward: grads += scale * d numerator / d param,
    /// scale = 1 / (global loss denominator) (0 when the denominator is 0).
    /// Order: head + decoder over all steps, then layer L-1 through all steps, ...,
    /// then layer 0. After each block's gradients are final it calls `ready` with
    /// `layout.headRange`, `layout.layerRanges[L-1]`, ..., `layout.layerRanges[0]`;
    /// it calls `progress` after every time step of every layer.
    public func backward(scale: T, ready: (Range<Int>) -> Void = { _ in }, progress: () -> Void = {}) {
        let b = lastSamples, tSteps = lastSteps
        precondition(b > 0, "backward before forward")
        let n = b * height * width, v = config.channels, ch = config.hidden
        let targets = config.objective.targetSteps(tSteps)
        let top = layers[layers.count - 1]

        decoder.backward(scale: scale, dz: head.dz, z: head.z, top: { top.output(step: $0) },
                         targets: targets, steps: tSteps, samples: b)
        head.backward(samples: b, steps: tSteps)
        ready(layout.headRange)

        for l in stride(from: layers.count - 1, through: 0, by: -1) {
            let layer = layers[l]
            let below: AnyLayer<T>? = l > 0 ? layers[l - 1] : nil
            // d loss / d H_t from above: the head and decoder's for the top layer (into
            // dTop, two steps by turns), the layer above's dInput otherwise. Step t-1's
            // is in place before step t runs, which adds its recurrent part into it.
            let isTop = l == layers.count - 1
            func fromAbove(_ t: Int) -> UnsafeMutablePointer<T> {
                guard isTop else { return interGrads + t * ch * geo.maxColumns }
                let dH = dTop + (t & 1) * ch * geo.maxColumns
                decoder.inputGradient(step: t, targets: targets, scale: scale, into: dH, samples: b)
                head.inputGradient(step: t, into: dH, samples: b)
                return dH
            }
            layer.beginBackward(samples: b)
            var dH = fromAbove(tSteps - 1)
            for t in stride(from: tSteps - 1, through: 0, by: -1) {
                let dHPrev = t > 0 ? fromAbove(t - 1) : nil
                let dInput = below != nil ? interGrads + t * ch * geo.maxColumns : inputGradientsWanted ? inputGrads + t * v * n : nil
                let x: UnsafePointer<T> = below.map { UnsafePointer($0.output(step: t)) } ?? UnsafePointer(inputFrames + t * v * n)
                layer.backward(step: t, dH: dH, dHPrev: dHPrev, dInput: dInput, input: x, samples: b)
                if let dHPrev { dH = dHPrev }
                progress()
            }
            ready(layout.layerRanges[l])
        }
    }

    // MARK: outputs of the last forward (views valid until the next forward)

    /// Xhat of every target step [Ttarget, V, B, H, W]
    /// (reconstruct: step t -> frame t; forecast: step t -> frame t+1, T-1 steps).
    public var prediction: UnsafeBufferPointer<T> {
        UnsafeBufferPointer(start: decoder.prediction,
                            count: config.objective.targetSteps(lastSteps) * config.channels * lastSamples * height * width)
    }

    /// z_t [T, B, de] (the embedding `embed` writes out).
    public var embeddings: UnsafeBufferPointer<T> {
        UnsafeBufferPointer(start: head.z, count: lastSteps * lastSamples * config.embedDim)
    }

    /// After backward: d loss / d inputs [T, V, B, H, W] (scaled like the parameter gradients;
    /// only with `inputGradientsWanted`).
    public var inputGradients: UnsafeBufferPointer<T> {
        UnsafeBufferPointer(start: inputGrads, count: lastSteps * config.channels * lastSamples * height * width)
    }

    /// Layer l's output H_t (0-based step t, attended where attention ran) [Ch, B, H, W].
    public func hiddenState(layer l: Int, step t: Int) -> UnsafeBufferPointer<T> {
        UnsafeBufferPointer(start: layers[l].output(step: t), count: config.hidden * lastSamples * height * width)
    }

    /// The axial attention weights of layer l at 0-based step t of the last forward:
    /// row softmax A [B, H, W, W] (A[b,y,x,x']) and column softmax [B, W, H, H]
    /// (B[b,x,y,y']). Nil for the ConvLSTM cell and at steps without attention
    /// ((t+1) mod s != 0).
    public func axialAttentionWeights(layer l: Int, step t: Int) -> (row: UnsafeBufferPointer<T>, column: UnsafeBufferPointer<T>)? {
        guard l < faCells.count, t < lastSteps else { return nil }
        return faCells[l].attentionProbabilities(step: t, samples: lastSamples)
    }
}
