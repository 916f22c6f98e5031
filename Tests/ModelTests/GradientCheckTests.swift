import XCTest
import Model

/// Float64 central finite differences of the whole model's loss against
/// backward, for every parameter and every input.
/// Reference: the fourth-order central difference
///   (8 (L(p+h) - L(p-h)) - (L(p+2h) - L(p-2h))) / 12h,  h = 1e-3
/// (truncation O(h^4), so h can be large enough that rounding noise, ~eps L / h,
/// stays near 1e-13 for a loss of order 1).
/// Tolerance: per parameter tensor, ||analytic - numeric|| / (||analytic|| + ||numeric||) < 1e-6,
/// and the largest elementwise difference < 1e-6 * (largest |numeric| of the tensor) + 1e-11
/// (the absolute term is the finite-difference noise floor).
final class GradientCheckTests: XCTestCase {
    struct Result { var worstNorm = 0.0; var worstElement = 0.0; var worstName = "" }

    static func smallConfig(_ cell: ModelConfig.Cell, _ objective: ModelConfig.Objective) -> ModelConfig {
        var c = ModelConfig()
        c.cell = cell
        c.objective = objective
        c.channels = 2
        c.layers = 2
        c.hidden = 6          // r = 3
        c.kernel = 3
        c.dilations = [1, 2]
        c.seReduction = 1     // q = 3: several squeeze channels, some relu active
        c.attnStride = 2
        c.attnDk = 3
        c.embedDim = 4
        return c
    }

    func check(_ cell: ModelConfig.Cell, _ objective: ModelConfig.Objective, adjust: (inout ModelConfig) -> Void = { _ in },
               file: StaticString = #filePath, line: UInt = #line) -> Result {
        var c = Self.smallConfig(cell, objective)
        adjust(&c)
        let (samples, steps, height, width) = (2, 4, 5, 4)
        let net = Network<Double>(config: c, maxSamples: 3, steps: steps, height: height, width: width)
        net.initialize(seed: 11)
        net.layout.randomizeZeroInitialized(net.params, seed: 12)
        // Sharper attention (scores of order 1), so d loss / d attn.wq, wk is well above
        // the finite-difference noise.
        for l in 0 ..< c.layers where cell == .faconvlstm {
            for name in ["attn.wq", "attn.wk"] {
                for i in net.layout.entry(named: "layers.\(l).\(name)")!.range { net.params[i] *= 3 }
            }
        }
        var batch = Batch<Double>.random(samples: samples, steps: steps, channels: c.channels, height: height, width: width, seed: 13)
        let denominator = batch.lossDenominator(c.objective)
        let scale = 1 / denominator
        XCTAssertGreaterThan(denominator, 0)
        XCTAssertTrue(batch.mask.contains(0), "some targets must be masked out")

        net.zeroGradients()
        let loss0 = net.forward(batch) * scale
        XCTAssertGreaterThan(loss0, 0)
        var readyCount = 0
        net.backward(scale: scale, ready: { _ in readyCount += 1 }, progress: {})
        XCTAssertEqual(readyCount, c.layers + 1)
        XCTAssertEqual(net.inputGradients.count, batch.inputs.count)
        let analytic = Array(net.grads)
        let analyticInputs = Array(net.inputGradients)

        // Without the data's gradient (what training runs): the same parameter gradients.
        net.inputGradientsWanted = false
        net.zeroGradients()
        _ = net.forward(batch)
        net.backward(scale: scale)
        let largest = analytic.map(abs).max() ?? 0
        let worstSkip = zip(analytic, Array(net.grads)).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worstSkip, 1e-13 * largest, "\(cell) \(objective): gradients change without input gradients",
                                 file: file, line: line)
        net.inputGradientsWanted = true

        let h = 1e-3
        func derivative(_ f: (Double) -> Double) -> Double {
            (8 * (f(h) - f(-h)) - (f(2 * h) - f(-2 * h))) / (12 * h)
        }
        var result = Result()
        func record(_ name: String, _ a: [Double], _ num: [Double]) {
            var diff2 = 0.0, a2 = 0.0, n2 = 0.0, maxDiff = 0.0, maxNum = 0.0
            for i in a.indices {
                diff2 += (a[i] - num[i]) * (a[i] - num[i]); a2 += a[i] * a[i]; n2 += num[i] * num[i]
                maxDiff = max(maxDiff, abs(a[i] - num[i])); maxNum = max(maxNum, abs(num[i]))
            }
            let rel = diff2.squareRoot() / max(a2.squareRoot() + n2.squareRoot(), 1e-300)
            let relMax = maxDiff / max(maxNum, 1e-300)
            // A tensor whose gradient is exactly 0 both ways (e.g. nothing to check) counts as 0.
            let relNorm = (a2 == 0 && n2 == 0) ? 0 : rel
            let relElem = relMax
            if ProcessInfo.processInfo.environment["GRADCHECK_VERBOSE"] != nil { print("  \(name): |a| \(a2.squareRoot()) |n| \(n2.squareRoot()) rel \(rel)") }
            if relNorm > result.worstNorm { result.worstNorm = relNorm; result.worstName = name }
            result.worstElement = max(result.worstElement, relElem)
            XCTAssertLessThan(relNorm, 1e-6, "\(cell) \(objective) \(name): norm relative error", file: file, line: line)
            XCTAssertLessThan(maxDiff, 1e-6 * maxNum + 1e-11, "\(cell) \(objective) \(name): max elementwise", file: file, line: line)
        }
        for e in net.layout.entries {
            var num = [Double](repeating: 0, count: e.count)
            for (j, i) in e.range.enumerated() {
                let p = net.params[i]
                num[j] = derivative { d in
                    net.params[i] = p + d
                    return net.forward(batch) * scale
                }
                net.params[i] = p
            }
            record(e.name, Array(analytic[e.range]), num)
        }
        var numIn = [Double](repeating: 0, count: batch.inputs.count)
        let original = batch.inputs
        for i in batch.inputs.indices {
            // Inputs are also the targets; inputGradients is d loss / d X through the
            // network with the targets held fixed (docs/model.md), so the numeric
            // loss recomputes the error against the unperturbed targets.
            numIn[i] = derivative { d in
                batch.inputs[i] = original[i] + d
                return Self.lossWithFixedTargets(net, batch, original, c.objective) * scale
            }
            batch.inputs[i] = original[i]
        }
        record("inputs", analyticInputs, numIn)
        return result
    }

    /// The loss with the inputs of `batch` fed to the network but the targets of
    /// `targets`: numerator(inputs) + sum w m [(Xhat - Y)^2] with Y from the original
    /// data, computed from the network's prediction.
    static func lossWithFixedTargets(_ net: Network<Double>, _ batch: Batch<Double>, _ targets: [Double], _ obj: ModelConfig.Objective) -> Double {
        net.forward(batch)
        let pred = net.prediction
        let offset = obj.targetOffset
        var total = 0.0
        let frame = batch.channels * batch.samples * batch.height * batch.width
        for t in 0 ..< obj.targetSteps(batch.steps) {
            for v in 0 ..< batch.channels {
                for b in 0 ..< batch.samples {
                    for y in 0 ..< batch.height {
                        for x in 0 ..< batch.width {
                            let i = batch.index(t: t + offset, v: v, b: b, y: y, x: x)
                            let e = pred[t * frame + i - (t + offset) * frame] - targets[i]
                            total += batch.latitudeWeights[b * batch.height + y] * batch.mask[i] * e * e
                        }
                    }
                }
            }
        }
        return total
    }

    func testFAConvLSTMReconstruct() {
        let r = check(.faconvlstm, .reconstruct)
        print("gradcheck faconvlstm reconstruct: worst norm rel \(r.worstNorm) (\(r.worstName)), worst max-elem rel \(r.worstElement)")
    }
    func testFAConvLSTMForecast() {
        let r = check(.faconvlstm, .forecast)
        print("gradcheck faconvlstm forecast: worst norm rel \(r.worstNorm) (\(r.worstName)), worst max-elem rel \(r.worstElement)")
    }
    /// One layer (input gradients come straight from the top layer), no attention (s = 0).
    func testFAConvLSTMOneLayerWithoutAttention() {
        let r = check(.faconvlstm, .forecast) { c in c.layers = 1; c.attnStride = 0 }
        print("gradcheck faconvlstm 1 layer s=0 forecast: worst norm rel \(r.worstNorm) (\(r.worstName)), worst max-elem rel \(r.worstElement)")
    }

    /// Three layers: the middle one's gradient from above and its gradient to
    /// the layer below share one buffer per step (the layers' dInput may alias dH).
    func testFAConvLSTMThreeLayers() {
        let r = check(.faconvlstm, .reconstruct) { c in c.layers = 3; c.attnStride = 1 }
        print("gradcheck faconvlstm 3 layers: worst norm rel \(r.worstNorm) (\(r.worstName)), worst max-elem rel \(r.worstElement)")
    }

    /// recompute_gates: the backward recomputes the gates instead of reading them.
    func testFAConvLSTMRecomputeGates() {
        let r = check(.faconvlstm, .forecast) { c in c.recomputeGates = true }
        print("gradcheck faconvlstm recompute_gates forecast: worst norm rel \(r.worstNorm) (\(r.worstName)), worst max-elem rel \(r.worstElement)")
    }

    func testConvLSTMReconstruct() {
        let r = check(.convlstm, .reconstruct)
        print("gradcheck convlstm reconstruct: worst norm rel \(r.worstNorm) (\(r.worstName)), worst max-elem rel \(r.worstElement)")
    }
    func testConvLSTMForecast() {
        let r = check(.convlstm, .forecast)
        print("gradcheck convlstm forecast: worst norm rel \(r.worstNorm) (\(r.worstName)), worst max-elem rel \(r.worstElement)")
    }
    func testConvLSTMThreeLayers() {
        let r = check(.convlstm, .reconstruct) { c in c.layers = 3; c.hidden = 3 }
        print("gradcheck convlstm 3 layers: worst norm rel \(r.worstNorm) (\(r.worstName)), worst max-elem rel \(r.worstElement)")
    }
    /// The cell's convolutions as Winograd F(2x2, 3x3) (conv_algorithm = winograd; the tests
    /// above run the default im2col). Height 5: an odd side, the last tile row half outside.
    func testConvLSTMWinograd() {
        let r = check(.convlstm, .forecast) { c in c.convAlgorithm = .winograd }
        print("gradcheck convlstm winograd forecast: worst norm rel \(r.worstNorm) (\(r.worstName)), worst max-elem rel \(r.worstElement)")
    }
}
