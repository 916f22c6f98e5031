import XCTest
import Model

final class OptimizerTests: XCTestCase {
    /// Two AdamW steps against the formula written out by hand (PyTorch AdamW).
    func testAdamWMatchesFormula() {
        var c = ModelConfig()
        c.layers = 1; c.hidden = 2; c.channels = 1; c.embedDim = 2
        let layout = ParameterLayout(config: c)
        let n = layout.totalCount
        let p = UnsafeMutableBufferPointer<Float>.allocate(capacity: n), g = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        defer { p.deallocate(); g.deallocate() }
        for i in 0 ..< n { p[i] = Float(i % 7) * 0.1 - 0.3; g[i] = Float(i % 5) * 0.2 - 0.4 }
        let p0 = Array(p)
        let adam = AdamW(layout: layout, weightDecay: 0.1)
        let lr = 0.01
        adam.step(params: p, grads: g, lr: lr)
        adam.step(params: p, grads: g, lr: lr)
        XCTAssertEqual(adam.updates, 2)
        let decays = layout.entries.flatMap { e in e.range.map { _ in e.decays } }
        for i in 0 ..< n {
            var x = Double(p0[i]), m = 0.0, v = 0.0
            let gi = Double(g[i])
            for t in 1 ... 2 {
                m = 0.9 * m + 0.1 * gi
                v = 0.999 * v + 0.001 * gi * gi
                let mh = m / (1 - pow(0.9, Double(t))), vh = v / (1 - pow(0.999, Double(t)))
                x -= lr * (mh / (vh.squareRoot() + 1e-8) + (decays[i] ? 0.1 * x : 0))
            }
            XCTAssertEqual(Double(p[i]), x, accuracy: 1e-6, "element \(i)")
        }
        // decay only on rank >= 2
        XCTAssertTrue(layout.entry(named: "layers.0.gates.w")!.decays)
        XCTAssertFalse(layout.entry(named: "layers.0.attn.gamma")!.decays)
        XCTAssertFalse(layout.entry(named: "layers.0.peephole.i")!.decays)
    }

    func testSGDAndClipping() {
        let p = UnsafeMutableBufferPointer<Double>.allocate(capacity: 2), g = UnsafeMutableBufferPointer<Double>.allocate(capacity: 2)
        defer { p.deallocate(); g.deallocate() }
        p[0] = 1; p[1] = 2; g[0] = 3; g[1] = 4
        XCTAssertEqual(clipGradients(g, maxNorm: 1), 5, accuracy: 1e-12)
        XCTAssertEqual(g[0], 0.6, accuracy: 1e-12)
        XCTAssertEqual(g[1], 0.8, accuracy: 1e-12)
        XCTAssertEqual(clipGradients(g, maxNorm: 10), 1, accuracy: 1e-12)  // below: unchanged
        XCTAssertEqual(g[0], 0.6, accuracy: 1e-12)
        SGD().step(params: p, grads: g, lr: 0.5)
        XCTAssertEqual(p[0], 0.7, accuracy: 1e-12)
        XCTAssertEqual(p[1], 1.6, accuracy: 1e-12)
    }

    func testLearningRateSchedule() {
        let s = LearningRateSchedule(peak: 1e-3, warmupSteps: 10, totalSteps: 110, floor: 1e-5)
        XCTAssertEqual(s.rate(step: 0), 1e-4, accuracy: 1e-15)
        XCTAssertEqual(s.rate(step: 9), 1e-3, accuracy: 1e-15)
        XCTAssertEqual(s.rate(step: 10), 1e-3, accuracy: 1e-15)
        XCTAssertEqual(s.rate(step: 60), 1e-5 + (1e-3 - 1e-5) * 0.5, accuracy: 1e-15)
        XCTAssertEqual(s.rate(step: 110), 1e-5, accuracy: 1e-15)
        XCTAssertEqual(s.rate(step: 500), 1e-5, accuracy: 1e-15)
        XCTAssertGreaterThan(s.rate(step: 30), s.rate(step: 31))
    }

    /// 200 AdamW steps on a moving-pattern sequence cut the loss at least 10x, for each cell.
    func testTrainingReducesLossTenfold() {
        for cell in ModelConfig.Cell.allCases {
            var c = ModelConfig()
            c.cell = cell
            c.channels = 2
            c.layers = 2
            c.hidden = 8
            c.attnStride = 3
            c.attnDk = 4
            c.embedDim = 4
            let (b, t, h, w) = (2, 6, 8, 8)
            let net = Network<Float>(config: c, maxSamples: b, steps: t, height: h, width: w)
            net.initialize(seed: 3)
            let adam = AdamW(layout: net.layout)
            let batch = Batch<Float>.movingPattern(samples: b, steps: t, channels: 2, height: h, width: w, seed: 4)
            let denominator = batch.lossDenominator(c.objective)
            let scale: Float = lossScale(denominator: denominator)
            var first = 0.0, last = 0.0
            for step in 0 ..< 200 {
                net.zeroGradients()
                let loss = net.forward(batch) / denominator
                if step == 0 { first = loss }
                last = loss
                net.backward(scale: scale)
                adam.step(params: net.params, grads: net.grads, lr: 1e-2)
            }
            print("train \(cell): loss \(first) -> \(last), ratio \(first / last)")
            XCTAssertGreaterThanOrEqual(first / last, 10, "\(cell): loss \(first) -> \(last)")
        }
    }
}
