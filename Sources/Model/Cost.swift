// What a network costs: memory (the activations backward through time holds,
// plus parameters, gradients, optimizer state and scratch) and FLOPs, both
// analytic from the config and the window. docs/model.md explains the formulas.
//
// Notation: T steps, B samples, P = H*W positions, N = B*P, V variables,
// Ch hidden, Cin layer input channels, r bottleneck, q squeeze, k kernel,
// |D| dilations, dk attention key width, s attention stride, A = floor(T/s)
// attended steps (0 when s = 0), de embedding width.

import Kernels

/// Memory of a `Network` (and optimizer) in bytes, by purpose.
public struct MemoryEstimate: Equatable, Sendable {
    public var parameters: Int
    public var gradients: Int
    /// AdamW's two Float32 moments.
    public var optimizer: Int
    /// Held for backward through time (what grows with T and B).
    public var activations: Int
    /// Per-frame scratch, reused every step.
    public var scratch: Int
    public var total: Int { parameters + gradients + optimizer + activations + scratch }

    /// The estimate for `samples` samples of `steps` frames of `height x width`,
    /// scalar size `scalarBytes` (4 Float, 8 Double). It counts exactly the
    /// elements `Network.init` allocates (a test checks this), so measured RSS
    /// minus this is the runtime's and BLAS's own memory.
    /// `threads`: a `ThreadedNetwork` with that many threads (K replicas of
    /// ceil(B/K) samples, each with its own gradients and scratch, plus the
    /// sub-batches and the gathered prediction).
    public init(config c: ModelConfig, samples: Int, steps: Int, height: Int, width: Int, threads: Int = 1, scalarBytes: Int = 4) {
        let k = ThreadedNetwork<Float>.split(threads: threads, maxSamples: samples).replicas
        let e = MemoryEstimate.elements(config: c, samples: (samples + k - 1) / k, steps: steps, height: height, width: width)
        let count = ParameterLayout(config: c).totalCount
        parameters = count * scalarBytes
        gradients = count * scalarBytes * k
        optimizer = count * 2 * 4
        activations = e.cache * scalarBytes * k
        let frame = c.channels * samples * height * width
        let replicaBuffers = k > 1 ? (2 * steps * frame + c.objective.targetSteps(steps) * frame) * scalarBytes : 0
        scratch = e.scratch * scalarBytes * k + replicaBuffers
    }

    /// Activation floats backward through time holds per sample, for one layer
    /// and one step, without the attention term (docs/model.md).
    public static func layerStepFloatsPerSample(config c: ModelConfig, height: Int, width: Int) -> Int {
        let p = height * width, ch = c.hidden, r = c.resolvedBottleneck, q = c.squeezeChannels
        switch c.cell {
        case .faconvlstm: return (2 * r + (c.recomputeGates ? 3 : 7) * ch) * p + 2 * r + q
        case .convlstm: return 6 * ch * p
        }
    }

    /// Extra floats per sample of one FAConvLSTM layer at each attended step.
    public static func attendedStepFloatsPerSample(config c: ModelConfig, height: Int, width: Int) -> Int {
        guard c.cell == .faconvlstm else { return 0 }
        let p = height * width
        return (2 * c.attnDk + 3 * c.hidden) * p + p * (width + height)
    }

    /// Elements (cache, scratch) a network allocates; mirrors the `init`s of
    /// the cells, head, decoder and Network.
    public static func elements(config c: ModelConfig, samples b: Int, steps t: Int, height h: Int, width w: Int) -> (cache: Int, scratch: Int) {
        let p = h * w, n = b * p, ch = c.hidden, v = c.channels, de = c.embedDim
        var cache = 0, scratch = 0
        for l in 0 ..< c.layers {
            let cin = l == 0 ? v : ch
            switch c.cell {
            case .faconvlstm:
                let r = c.resolvedBottleneck, q = c.squeezeChannels, dk = c.attnDk
                let a = c.attnStride > 0 ? t / c.attnStride : 0
                cache += t * ((2 * r + (c.recomputeGates ? 3 : 7) * ch) * n + (2 * r + q) * b)
                cache += a * ((2 * dk + 3 * ch) * n + b * p * (w + h))
                scratch += ch * n + r * mtStride(columns: n) + q * b + ch * n + 4 * ch * min(gateChunk, n) + 2 * r * n + (2 * r + q) * b
                let pad = (c.dilations.max() ?? 1) * (c.kernel - 1) / 2
                scratch += 2 * r * b * (h + 2 * pad) * (w + 2 * pad)   // zero-padded U and dM
                if a > 0 {
                    scratch += max((2 * dk + 2 * ch) * n + max(h, w) * max(h, w), (4 * dk + 3 * ch) * n + 2 * max(h, w) * max(h, w))
                    scratch += (2 * ch + 2 * dk) * n
                }
            case .convlstm:
                let k = c.kernel
                cache += t * 6 * ch * n
                scratch += ch * n + 5 * ch * n   // zeros | dC, dG
                scratch += convLSTMCopiesDH(layer: l, of: c.layers) ? ch * n : 0
                if convLSTMUsesWinograd(c) {
                    // V, M of a block of tiles; U, dU
                    let tiles = convLSTMTileRows(height: h, width: w) * winogradTiles(height: h, width: w).cols
                    scratch += 16 * winogradPlaneStride(rows: cin + ch, tiles: tiles) + 16 * winogradPlaneStride(rows: 4 * ch, tiles: tiles)
                    scratch += 2 * 16 * 4 * ch * (cin + ch)
                } else {
                    let block = convLSTMBlockRows(height: h, width: w) * w   // im2col columns per block
                    scratch += (cin + ch) * k * k * block + 2 * 4 * ch * (cin + ch) * k * k
                }
            }
        }
        // head: hbar, Z, q, k, v, z, probs | dz, dZ, dhbar, attention scratch
        cache += t * ch * b + 5 * t * b * de + b * t * t
        scratch += 2 * t * b * de + t * ch * b + 3 * t * b * de + t * t
        // decoder: s, sh, prediction, dPred | F, dF, ds, dsh
        cache += 2 * t * ch * b + 2 * t * v * n
        scratch += 2 * ch * n + 2 * t * ch * b
        // network: input frames | input gradients, gradients between layers, dTop (two steps)
        cache += t * v * n
        scratch += t * v * n + (c.layers > 1 ? t * ch * n : 0) + 2 * ch * n
        return (cache, scratch)
    }
}

/// Analytic FLOPs of one training step per sample.
///
/// Counting rule: 2 FLOPs per multiply-add of every matrix product and
/// convolution (1x1 convs, depthwise and full convs, attention scores and
/// context products, small head products), from the spec's shapes, every step
/// counted alike (the zero H_0 product included); elementwise work
/// (activations, gate math, softmax, means, FiLM, loss) is not counted.
/// Backward = 2 x forward (one product for the input gradient, one for the
/// weight gradient), so a training step is 3 x forward.
public struct FLOPCount: Equatable, Sendable {
    public var forward: Double
    public var backward: Double { 2 * forward }
    public var training: Double { 3 * forward }

    public init(config c: ModelConfig, steps t: Int, height h: Int, width w: Int) {
        let p = Double(h * w), ch = Double(c.hidden), v = Double(c.channels), de = Double(c.embedDim)
        let k = Double(c.kernel), tt = Double(t)
        var f = 0.0
        for l in 0 ..< c.layers {
            let cin = l == 0 ? v : ch
            switch c.cell {
            case .faconvlstm:
                let r = Double(c.resolvedBottleneck), q = Double(c.squeezeChannels), dk = Double(c.attnDk)
                let d = Double(c.dilations.count)
                var step = 2 * r * (cin + ch) * p        // bottleneck
                step += 2 * r * k * k * d * p            // depthwise mixing
                step += 2 * 2 * q * r                    // squeeze-and-excitation
                step += 2 * 4 * ch * r * p               // gate expansion
                f += tt * step
                let a = Double(c.attnStride > 0 ? t / c.attnStride : 0)
                var attn = 2 * (2 * dk * ch + ch * ch) * p     // Q, K, Vv
                attn += 2 * dk * (Double(w) + Double(h)) * p   // row + column scores
                attn += 2 * ch * (Double(w) + Double(h)) * p   // row + column context
                attn += 2 * ch * ch * p                        // Wo
                f += a * attn
            case .convlstm:
                f += tt * 2 * 4 * ch * (cin + ch) * k * k * p
            }
        }
        // head: embedding, temporal attention (projections, scores, context)
        f += tt * (2 * de * ch + 3 * 2 * de * de + 2 * 2 * tt * de)
        // decoder on target steps: FiLM vectors and the 1x1 output conv
        let targets = Double(c.objective.targetSteps(t))
        f += targets * (2 * 2 * ch * de + 2 * v * ch * p)
        forward = f
    }
}
