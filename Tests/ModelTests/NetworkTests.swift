import XCTest
import Model
import Kernels

final class NetworkTests: XCTestCase {
    static func small(_ cell: ModelConfig.Cell, objective: ModelConfig.Objective = .reconstruct) -> ModelConfig {
        var c = ModelConfig()
        c.cell = cell
        c.objective = objective
        c.channels = 3
        c.layers = 2
        c.hidden = 8
        c.attnStride = 2
        c.attnDk = 4
        c.embedDim = 6
        return c
    }

    /// One forward and backward of a fresh network (seeds 8, 9, 10) on a random
    /// batch of 3 samples x 5 steps: the loss, and the network with its gradients.
    static func forwardBackward<T: KernelScalar>(_ type: T.Type, _ config: ModelConfig, height: Int, width: Int)
        -> (loss: Double, net: Network<T>) {
        let net = Network<T>(config: config, maxSamples: 3, steps: 5, height: height, width: width)
        net.initialize(seed: 8)
        net.layout.randomizeZeroInitialized(net.params, seed: 9)
        let batch = Batch<T>.random(samples: 3, steps: 5, channels: config.channels, height: height, width: width, seed: 10)
        net.zeroGradients()
        let loss = net.forward(batch)
        net.backward(scale: 1 / T(batch.lossDenominator(config.objective)))
        return (Double(loss), net)
    }

    /// conv_algorithm = winograd computes the same ConvLSTM as im2col: same loss and
    /// gradients in Float64 to rounding (1e-12 relative), on an odd-sided tile (7 x 5)
    /// and with a second sample block; in Float32 the loss within 1e-5 relative.
    func testWinogradAndIm2colAgree() {
        var c = Self.small(.convlstm, objective: .forecast)
        c.hidden = 6
        var w = c
        w.convAlgorithm = .winograd
        func run<T: KernelScalar>(_ type: T.Type, _ config: ModelConfig) -> (Double, [Double], scratch: Int) {
            let (loss, net) = Self.forwardBackward(type, config, height: 7, width: 5)
            return (loss, net.grads.map { Double($0) }, net.scratchElements)
        }
        let (li, gi, si) = run(Double.self, c), (lw, gw, sw) = run(Double.self, w)
        XCTAssertNotEqual(si, sw, "the two networks must hold different buffers: one cell ran im2col, the other Winograd")
        XCTAssertGreaterThan(li, 0)
        XCTAssertEqual(lw, li, accuracy: 1e-12 * li)
        var diff = 0.0, norm = 0.0
        for i in gi.indices { diff += (gw[i] - gi[i]) * (gw[i] - gi[i]); norm += gi[i] * gi[i] }
        XCTAssertGreaterThan(norm, 0)
        XCTAssertLessThan((diff / norm).squareRoot(), 1e-12)
        let (fi, _, _) = run(Float.self, c), (fw, _, _) = run(Float.self, w)
        XCTAssertEqual(fw, fi, accuracy: 1e-5 * fi)
    }

    /// recompute_gates changes where the FAConvLSTM's gates come from in the
    /// backward, not the numbers: in Float the same loss and gradients bit for bit
    /// (the recompute is the forward's arithmetic over the same column blocks),
    /// with 4 Ch floats per column and step less cache. 23 x 29 positions x 3
    /// samples: several 512-column chunks and a column tail; attention at s = 2.
    func testRecomputedGatesGiveTheSameGradients() {
        var c = Self.small(.faconvlstm, objective: .forecast)
        c.attnStride = 2
        var r = c
        r.recomputeGates = true
        func run(_ config: ModelConfig) -> (Double, [UInt32], cache: Int) {
            let (loss, net) = Self.forwardBackward(Float.self, config, height: 23, width: 29)
            return (loss, net.grads.map(\.bitPattern) + net.inputGradients.map(\.bitPattern), net.cacheElements)
        }
        let (ls, gs, cs) = run(c), (lr, gr, cr) = run(r)
        XCTAssertGreaterThan(ls, 0)
        XCTAssertEqual(lr.bitPattern, ls.bitPattern)
        XCTAssertEqual(gr.count, gs.count)
        XCTAssertEqual(gr.filter { $0 != 0 }.count, gs.filter { $0 != 0 }.count)
        XCTAssertTrue(gr == gs, "gradients differ in \(zip(gr, gs).filter { $0 != $1 }.count) of \(gs.count) values")
        XCTAssertEqual(cs - cr, c.layers * 5 * 4 * c.hidden * 3 * 23 * 29, "the gate caches are gone")
    }

    /// Same seed, Float vs Double: the loss agrees to Float precision.
    /// Reference: the Double network. Tolerance 1e-4 relative (Float rounding
    /// through 2 layers x 6 steps, polynomial exp ~2 ulp).
    func testFloatAndDoubleAgree() {
        for cell in ModelConfig.Cell.allCases {
            let c = Self.small(cell)
            let nf = Network<Float>(config: c, maxSamples: 2, steps: 6, height: 7, width: 6)
            let nd = Network<Double>(config: c, maxSamples: 2, steps: 6, height: 7, width: 6)
            nf.initialize(seed: 5); nd.initialize(seed: 5)
            nf.layout.randomizeZeroInitialized(nf.params, seed: 6)
            nd.layout.randomizeZeroInitialized(nd.params, seed: 6)
            let bf = Batch<Float>.random(samples: 2, steps: 6, channels: 3, height: 7, width: 6, seed: 7)
            let bd = Batch<Double>.random(samples: 2, steps: 6, channels: 3, height: 7, width: 6, seed: 7)
            let lf = nf.forward(bf), ld = nd.forward(bd)
            XCTAssertGreaterThan(ld, 0)
            XCTAssertEqual(lf, ld, accuracy: 1e-4 * ld, "\(cell)")
            nf.backward(scale: 1 / Float(bf.lossDenominator(c.objective)))
            nd.backward(scale: 1 / bd.lossDenominator(c.objective))
            var diff = 0.0, norm = 0.0
            for i in 0 ..< nd.layout.totalCount {
                diff += (Double(nf.grads[i]) - nd.grads[i]) * (Double(nf.grads[i]) - nd.grads[i])
                norm += nd.grads[i] * nd.grads[i]
            }
            XCTAssertLessThan(diff.squareRoot() / norm.squareRoot(), 1e-3, "\(cell) gradients")
        }
    }

    /// A batch smaller than maxSamples: samples are independent, so the
    /// numerator of a 2-sample batch is the sum of the 1-sample numerators, and
    /// a network built for 4 samples gives what a network built for 2 gives.
    func testSmallerBatchThanMaxSamples() {
        for cell in ModelConfig.Cell.allCases {
            for objective in ModelConfig.Objective.allCases {
                let c = Self.small(cell, objective: objective)
                let big = Network<Double>(config: c, maxSamples: 4, steps: 5, height: 6, width: 5)
                let exact = Network<Double>(config: c, maxSamples: 2, steps: 5, height: 6, width: 5)
                let single = Network<Double>(config: c, maxSamples: 1, steps: 5, height: 6, width: 5)
                for n in [big, exact, single] { n.initialize(seed: 1); n.layout.randomizeZeroInitialized(n.params, seed: 2) }
                let batch = Batch<Double>.random(samples: 2, steps: 5, channels: 3, height: 6, width: 5, seed: 3)
                let lBig = big.forward(batch), lExact = exact.forward(batch)
                XCTAssertEqual(lBig, lExact, accuracy: 1e-12 * lExact)
                big.backward(scale: 1)
                exact.backward(scale: 1)
                for i in 0 ..< big.layout.totalCount { XCTAssertEqual(big.grads[i], exact.grads[i], accuracy: 1e-10) }
                XCTAssertEqual(Array(big.prediction), Array(exact.prediction))
                XCTAssertEqual(big.prediction.count, objective.targetSteps(5) * 3 * 2 * 6 * 5)
                var sum = 0.0
                for s in 0 ..< 2 {
                    var one = Batch<Double>(samples: 1, steps: 5, channels: 3, height: 6, width: 5)
                    for t in 0 ..< 5 { for v in 0 ..< 3 { for y in 0 ..< 6 { for x in 0 ..< 5 {
                        one.inputs[one.index(t: t, v: v, b: 0, y: y, x: x)] = batch.inputs[batch.index(t: t, v: v, b: s, y: y, x: x)]
                        one.mask[one.index(t: t, v: v, b: 0, y: y, x: x)] = batch.mask[batch.index(t: t, v: v, b: s, y: y, x: x)]
                    } } } }
                    for y in 0 ..< 6 { one.latitudeWeights[y] = batch.latitudeWeights[s * 6 + y] }
                    for t in 0 ..< 5 { one.dayOfYear[t] = batch.dayOfYear[s * 5 + t] }
                    sum += single.forward(one)
                    // and the big network also takes a 1-sample batch after a 2-sample one
                    XCTAssertEqual(big.forward(one), single.forward(one), accuracy: 1e-12)
                }
                XCTAssertEqual(lBig, sum, accuracy: 1e-10 * sum, "\(cell) \(objective)")
                // a network built for a longer window takes a shorter one
                let longer = Network<Double>(config: c, maxSamples: 2, steps: 7, height: 6, width: 5)
                longer.initialize(seed: 1); longer.layout.randomizeZeroInitialized(longer.params, seed: 2)
                XCTAssertEqual(longer.forward(batch), lExact, accuracy: 1e-12 * lExact)
                XCTAssertEqual(longer.embeddings.count, 5 * 2 * c.embedDim)
            }
        }
    }

    /// ready() comes as head, layer L-1, ..., layer 0, each block's flat range,
    /// together covering every parameter exactly once; progress() once per step and layer.
    func testReadyOrderAndCoverage() {
        for cell in ModelConfig.Cell.allCases {
            var c = Self.small(cell)
            c.layers = 3
            let net = Network<Float>(config: c, maxSamples: 2, steps: 4, height: 5, width: 5)
            net.initialize(seed: 1)
            net.forward(Batch<Float>.random(samples: 2, steps: 4, channels: 3, height: 5, width: 5, seed: 2))
            var ranges: [Range<Int>] = []
            var progress = 0
            net.backward(scale: 1, ready: { ranges.append($0) }, progress: { progress += 1 })
            XCTAssertEqual(ranges, [net.layout.headRange, net.layout.layerRanges[2], net.layout.layerRanges[1], net.layout.layerRanges[0]])
            var covered = [Int](repeating: 0, count: net.layout.totalCount)
            for r in ranges { for i in r { covered[i] += 1 } }
            XCTAssertTrue(covered.allSatisfy { $0 == 1 })
            XCTAssertEqual(progress, 3 * 4)
        }
    }

    /// The memory estimate counts exactly what the network allocates.
    func testMemoryEstimateMatchesAllocation() {
        for cell in ModelConfig.Cell.allCases {
            for (layers, algorithm, recompute) in [(1, ModelConfig.ConvAlgorithm.im2col, false), (2, .im2col, false), (2, .winograd, false),
                                                   (2, .im2col, true), (3, .im2col, false), (3, .winograd, false)] {
                var c = Self.small(cell)
                c.layers = layers
                c.convAlgorithm = algorithm
                c.recomputeGates = recompute
                let net = Network<Float>(config: c, maxSamples: 3, steps: 8, height: 9, width: 7)
                let e = MemoryEstimate.elements(config: c, samples: 3, steps: 8, height: 9, width: 7)
                XCTAssertEqual(net.cacheElements, e.cache, "\(cell) L\(layers) \(algorithm) recompute \(recompute) cache")
                XCTAssertEqual(net.scratchElements, e.scratch, "\(cell) L\(layers) \(algorithm) recompute \(recompute) scratch")
                let m = MemoryEstimate(config: c, samples: 3, steps: 8, height: 9, width: 7)
                XCTAssertEqual(m.activations, e.cache * 4)
                // the per-sample, per-layer, per-step formula of docs/model.md is what
                // the layer caches hold: (2r + 7Ch) P + 2r + q (FAConvLSTM; 3Ch with
                // recompute_gates), 6 Ch P (ConvLSTM)
                let perStep = MemoryEstimate.layerStepFloatsPerSample(config: c, height: 9, width: 7)
                let faChannels = recompute ? 3 : 7
                XCTAssertEqual(perStep, cell == .faconvlstm ? (2 * 4 + faChannels * 8) * 63 + 2 * 4 + 1 : 6 * 8 * 63)
            }
        }
    }

    /// Attention weights are exposed at attended steps only and are softmaxes.
    func testAxialAttentionWeightsAccess() {
        let c = Self.small(.faconvlstm)
        let net = Network<Float>(config: c, maxSamples: 2, steps: 4, height: 5, width: 3)
        net.initialize(seed: 1)
        net.forward(Batch<Float>.random(samples: 2, steps: 4, channels: 3, height: 5, width: 3, seed: 2))
        XCTAssertNil(net.axialAttentionWeights(layer: 0, step: 0))
        XCTAssertNil(net.axialAttentionWeights(layer: 0, step: 2))
        let w = net.axialAttentionWeights(layer: 1, step: 3)!
        XCTAssertEqual(w.row.count, 2 * 5 * 3 * 3)
        XCTAssertEqual(w.column.count, 2 * 3 * 5 * 5)
        XCTAssertEqual(w.row[0 ..< 3].reduce(0, +), 1, accuracy: 1e-5)
        XCTAssertEqual(w.column[0 ..< 5].reduce(0, +), 1, accuracy: 1e-5)
    }

    /// Default config: FAConvLSTM has at least 5x fewer parameters and
    /// training FLOPs than ConvLSTM (the paper's point).
    func testFAConvLSTMIsSmallerAndCheaper() {
        var conv = ModelConfig()
        conv.cell = .convlstm
        let fa = ModelConfig()
        XCTAssertEqual(ParameterLayout(config: fa).totalCount, 14_942)  // ParameterLayoutTests counts it by hand
        let paramRatio = Double(ParameterLayout(config: conv).totalCount) / Double(ParameterLayout(config: fa).totalCount)
        let flopRatio = FLOPCount(config: conv, steps: 8, height: 32, width: 32).training
            / FLOPCount(config: fa, steps: 8, height: 32, width: 32).training
        XCTAssertGreaterThanOrEqual(paramRatio, 5)
        XCTAssertGreaterThanOrEqual(flopRatio, 5)
        // ConvLSTM forward by hand: 2 FLOPs x 4Ch x (Cin + Ch) x k^2 x P per layer-step,
        // plus the head and decoder, counted the same way for both cells.
        let layer0: Double = 2 * 128 * 36 * 9 * 1024
        let layer1: Double = 2 * 128 * 64 * 9 * 1024
        let convLayers = layer0 + layer1
        let head: Double = 1024 + 1536 + 512
        let decoder: Double = 2048 + 262_144
        XCTAssertEqual(FLOPCount(config: conv, steps: 8, height: 32, width: 32).forward, 8 * (convLayers + head + decoder), accuracy: 1)
    }

    /// A zero denominator: scale 0 gives zero gradients, nothing NaN.
    func testZeroDenominatorGivesZeroGradients() {
        let c = Self.small(.faconvlstm)
        let net = Network<Float>(config: c, maxSamples: 2, steps: 4, height: 5, width: 5)
        net.initialize(seed: 1)
        var b = Batch<Float>.random(samples: 2, steps: 4, channels: 3, height: 5, width: 5, seed: 2)
        for i in b.mask.indices { b.mask[i] = 0 }
        let d = b.lossDenominator(c.objective)
        XCTAssertEqual(d, 0)
        XCTAssertEqual(net.forward(b), 0)
        net.zeroGradients()
        net.backward(scale: lossScale(denominator: d))
        XCTAssertTrue(net.grads.allSatisfy { $0 == 0 })
        XCTAssertEqual(lossValue(numerator: 0, denominator: 0), 0)
    }
}
