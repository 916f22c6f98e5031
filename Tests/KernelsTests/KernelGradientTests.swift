import XCTest
import Kernels

/// Every kernel's backward against Float64 central differences of
/// L = sum(out * R) for a random R (so dOut = R), and every fast kernel against
/// its naive reference.
/// Reference: (L(x + h) - L(x - h)) / 2h, h = 1e-6 (the kernels are smooth
/// away from relu's kink, which the relu test avoids).
/// Tolerance: ||analytic - numeric|| / (||analytic|| + ||numeric||) < 1e-6 per input tensor.
final class KernelGradientTests: XCTestCase {
    typealias Buf = UnsafeMutablePointer<Double>

    static func random(_ n: Int, seed: UInt64, scale: Double = 1) -> [Double] {
        var r = CounterRNG(seed: seed)
        return (0 ..< n).map { _ in r.uniform(-scale, scale) }
    }

    /// `inputs` are the differentiable tensors; `forward(inputs, out)` writes out;
    /// `backward(inputs, dOut, grads)` accumulates into zeroed grads.
    func gradCheck(_ name: String, inputs: [[Double]], outCount: Int,
                   forward: ([Buf], Buf) -> Void, backward: ([Buf], Buf, [Buf]) -> Void,
                   h: Double = 1e-6, file: StaticString = #filePath, line: UInt = #line) {
        let ins = inputs.map { a -> Buf in let p = Buf.allocate(capacity: max(a.count, 1)); p.initialize(from: a, count: a.count); return p }
        let grads = inputs.map { a -> Buf in let p = Buf.allocate(capacity: max(a.count, 1)); p.initialize(repeating: 0, count: a.count); return p }
        let out = Buf.allocate(capacity: outCount)
        let r = Self.random(outCount, seed: 99)
        let dOut = Buf.allocate(capacity: outCount)
        defer { (ins + grads + [out, dOut]).forEach { $0.deallocate() } }
        func loss() -> Double {
            out.initialize(repeating: 0, count: outCount)
            forward(ins, out)
            var s = 0.0
            for i in 0 ..< outCount { s += out[i] * r[i] }
            return s
        }
        _ = loss()
        dOut.initialize(from: r, count: outCount)
        backward(ins, dOut, grads)
        for (k, a) in inputs.enumerated() {
            var d2 = 0.0, a2 = 0.0, n2 = 0.0
            for i in 0 ..< a.count {
                let x = ins[k][i]
                ins[k][i] = x + h
                let lp = loss()
                ins[k][i] = x - h
                let lm = loss()
                ins[k][i] = x
                let num = (lp - lm) / (2 * h)
                d2 += (num - grads[k][i]) * (num - grads[k][i]); a2 += grads[k][i] * grads[k][i]; n2 += num * num
            }
            let rel = d2.squareRoot() / max(a2.squareRoot() + n2.squareRoot(), 1e-300)
            XCTAssertGreaterThan(a2, 0, "\(name) input \(k): zero gradient checks nothing", file: file, line: line)
            XCTAssertLessThan(rel, 1e-6, "\(name) input \(k)", file: file, line: line)
        }
    }

    func assertClose(_ a: [Double], _ b: [Double], _ tol: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count)
        var worst = 0.0
        for i in a.indices { worst = max(worst, abs(a[i] - b[i])) }
        XCTAssertLessThan(worst, tol, what, file: file, line: line)
    }

    // MARK: fast vs naive

    func testConv1x1MatchesNaive() {
        let (co, ci, n) = (5, 3, 37)
        var w = Self.random(co * ci, seed: 1), x = Self.random(ci * n, seed: 2), b = Self.random(co, seed: 3)
        var fast = [Double](repeating: 0, count: co * n), naive = fast
        conv1x1Forward(&fast, &x, &w, &b, cout: co, cin: ci, n: n)
        conv1x1ForwardNaive(&naive, &x, &w, &b, cout: co, cin: ci, n: n)
        assertClose(fast, naive, 1e-12, "conv1x1")
    }

    func testDepthwiseMatchesNaive() {
        for (k, d, h, wd) in [(3, 1, 5, 7), (3, 2, 6, 4), (5, 3, 7, 9), (3, 4, 3, 3)] {
            let (c, b) = (3, 2)
            var w = Self.random(c * k * k, seed: 4), x = Self.random(c * b * h * wd, seed: 5)
            var fast = [Double](repeating: 0, count: c * b * h * wd), naive = fast
            depthwiseForward(&fast, &x, &w, channels: c, samples: b, height: h, width: wd, kernel: k, dilation: d)
            depthwiseForwardNaive(&naive, &x, &w, channels: c, samples: b, height: h, width: wd, kernel: k, dilation: d)
            assertClose(fast, naive, 1e-12, "depthwise k \(k) d \(d)")
        }
    }

    /// The fused multi-dilation mixing equals bias + the sum of naive depthwise convs.
    func testMixMatchesNaive() {
        for (k, dil, h, wd) in [(3, [1, 2, 4], 9, 13), (3, [1, 2], 5, 4), (5, [1, 3], 7, 16)] {
            let (c, b) = (3, 2)
            let p = h * wd, pad = mixPadding(kernel: k, dilations: dil)
            var w = Self.random(dil.count * c * k * k, seed: 30), x = Self.random(c * b * p, seed: 31), bias = Self.random(c, seed: 32)
            var padded = [Double](repeating: 0, count: c * b * (h + 2 * pad) * (wd + 2 * pad))
            var fast = [Double](repeating: 0, count: c * b * p)
            padPlanes(&padded, &x, planes: c * b, height: h, width: wd, pad: pad)
            mixForward(&fast, padded: &padded, w: &w, bias: &bias, dilations: dil, channels: c, samples: b,
                       height: h, width: wd, kernel: k, pad: pad)
            var naive = [Double](repeating: 0, count: c * b * p)
            for ci in 0 ..< c { for i in 0 ..< b * p { naive[ci * b * p + i] = bias[ci] } }
            for (j, d) in dil.enumerated() {
                var one = [Double](repeating: 0, count: c * b * p)
                var wj = Array(w[j * c * k * k ..< (j + 1) * c * k * k])
                depthwiseForwardNaive(&one, &x, &wj, channels: c, samples: b, height: h, width: wd, kernel: k, dilation: d)
                for i in naive.indices { naive[i] += one[i] }
            }
            assertClose(fast, naive, 1e-12, "mix k \(k) dilations \(dil)")
        }
    }

    func testMixGradient() {
        let (k, dil, c, b, h, w) = (3, [1, 2], 2, 2, 5, 11)
        let pad = mixPadding(kernel: k, dilations: dil)
        let padded = Buf.allocate(capacity: c * b * (h + 2 * pad) * (w + 2 * pad))
        let tmp = Buf.allocate(capacity: c * b * h * w)
        defer { padded.deallocate(); tmp.deallocate() }
        gradCheck("mix", inputs: [Self.random(c * b * h * w, seed: 33), Self.random(dil.count * c * k * k, seed: 34), Self.random(c, seed: 35)],
                  outCount: c * b * h * w,
                  forward: { i, o in
                      padPlanes(padded, i[0], planes: c * b, height: h, width: w, pad: pad)
                      mixForward(o, padded: padded, w: i[1], bias: i[2], dilations: dil, channels: c, samples: b, height: h, width: w, kernel: k, pad: pad)
                  },
                  backward: { i, d, g in
                      padPlanes(padded, i[0], planes: c * b, height: h, width: w, pad: pad)
                      mixWeightGradient(dW: g[1], dBias: g[2], dOut: d, padded: padded, dilations: dil, channels: c, samples: b,
                                        height: h, width: w, kernel: k, pad: pad)
                      padPlanes(padded, d, planes: c * b, height: h, width: w, pad: pad)
                      mixForward(tmp, padded: padded, w: i[1], bias: nil, dilations: dil, channels: c, samples: b, height: h, width: w,
                                 kernel: k, pad: pad, flip: true)
                      for j in 0 ..< c * b * h * w { g[0][j] += tmp[j] }
                  })
    }

    func testConv2dMatchesNaive() {
        let (co, ci, b, h, wd, k) = (4, 3, 2, 5, 6, 3)
        var w = Self.random(co * ci * k * k, seed: 6), x = Self.random(ci * b * h * wd, seed: 7)
        var col = [Double](repeating: 0, count: ci * k * k * b * h * wd)
        var fast = [Double](repeating: 0, count: co * b * h * wd), naive = fast
        conv2dForward(&fast, &x, &w, col: &col, cout: co, cin: ci, samples: b, height: h, width: wd, kernel: k)
        conv2dForwardNaive(&naive, &x, &w, cout: co, cin: ci, samples: b, height: h, width: wd, kernel: k)
        assertClose(fast, naive, 1e-12, "conv2d")
    }

    /// The row-block im2col / col2im (ConvLSTM cell) are the whole-frame ones restricted
    /// to a block: exact, for kernels up to wider than the image and every block split.
    func testIm2colBlocksMatchWholeFrame() {
        let (ci, b, h, wd) = (2, 3, 5, 4)
        let x = Self.random(ci * b * h * wd, seed: 8)
        for k in [1, 3, 5, 7] {
            let kk = ci * k * k, n = b * h * wd
            let dcol = Self.random(kk * n, seed: 9)
            var col = [Double](repeating: 0, count: kk * n), dIn = [Double](repeating: 0, count: ci * n)
            im2col(&col, x, channels: ci, samples: b, height: h, width: wd, kernel: k)
            col2imAdd(&dIn, dcol, channels: ci, samples: b, height: h, width: wd, kernel: k)
            for rows in 1 ... h {
                var dInB = [Double](repeating: 0, count: ci * n)
                for s in 0 ..< b {
                    var y0 = 0
                    while y0 < h {
                        let y1 = min(h, y0 + rows), m = (y1 - y0) * wd
                        var blk = [Double](repeating: .nan, count: kk * m), dblk = blk
                        im2colBlock(&blk, x, channels: ci, samples: b, sample: s, height: h, width: wd, rows: y0, y1, kernel: k)
                        for r in 0 ..< kk {
                            for j in 0 ..< m {
                                XCTAssertEqual(blk[r * m + j], col[r * n + s * h * wd + y0 * wd + j], "k \(k) rows \(rows)")
                                dblk[r * m + j] = dcol[r * n + s * h * wd + y0 * wd + j]
                            }
                        }
                        col2imAddBlock(&dInB, &dblk, channels: ci, samples: b, sample: s, height: h, width: wd, rows: y0, y1, kernel: k)
                        y0 = y1
                    }
                }
                assertClose(dInB, dIn, 1e-12, "col2im blocks k \(k) rows \(rows)")
            }
        }
    }

    func testAxialAttentionMatchesNaive() {
        let (dk, cv, b, h, w) = (3, 4, 2, 5, 3)
        let n = b * h * w
        var q = Self.random(dk * n, seed: 8, scale: 2), k = Self.random(dk * n, seed: 9, scale: 2), v = Self.random(cv * n, seed: 10)
        var fast = [Double](repeating: 0, count: cv * n), naive = fast
        var rowP = [Double](repeating: 0, count: b * h * w * w), colP = [Double](repeating: 0, count: b * w * h * h)
        var scratch = [Double](repeating: 0, count: axialAttentionForwardScratch(dk: dk, cv: cv, n: n, height: h, width: w))
        axialAttentionForward(&fast, rowProbs: &rowP, colProbs: &colP, q: &q, k: &k, v: &v,
                              dk: dk, cv: cv, samples: b, height: h, width: w, scratch: &scratch)
        axialAttentionForwardNaive(&naive, q: &q, k: &k, v: &v, dk: dk, cv: cv, samples: b, height: h, width: w)
        assertClose(fast, naive, 1e-12, "axial attention")
        // each softmax row sums to 1
        for r in 0 ..< b * h * w { XCTAssertEqual(rowP[r * w ..< (r + 1) * w].reduce(0, +), 1, accuracy: 1e-12) }
        for r in 0 ..< b * w * h { XCTAssertEqual(colP[r * h ..< (r + 1) * h].reduce(0, +), 1, accuracy: 1e-12) }
    }

    func testFloatFastMathIsAccurate() {
        // Float's polynomial exp, sigmoid, tanh against Double libm.
        var worstExp = 0.0, worstSig = 0.0, worstTanh = 0.0
        var x = -30.0
        while x <= 30 {
            let f = Float(x)
            let e = Double(fastExpFloat(f)), ref = Foundation_exp(Double(f))
            worstExp = max(worstExp, abs(e - ref) / ref)
            worstSig = max(worstSig, abs(Double(sigmoidScalar(f)) - 1 / (1 + Foundation_exp(-Double(f)))))
            worstTanh = max(worstTanh, abs(Double(tanhScalar(f)) - Foundation_tanh(Double(f))))
            x += 0.01
        }
        XCTAssertLessThan(worstExp, 4e-7)   // a few ulp
        XCTAssertLessThan(worstSig, 2e-7)
        XCTAssertLessThan(worstTanh, 4e-7)
        XCTAssertEqual(expScalar(-Float.infinity), 0)
    }

    // MARK: gradient checks

    func testConv1x1Gradient() {
        let (co, ci, n) = (4, 3, 10)
        gradCheck("conv1x1", inputs: [Self.random(ci * n, seed: 1), Self.random(co * ci, seed: 2), Self.random(co, seed: 3)],
                  outCount: co * n,
                  forward: { i, o in conv1x1Forward(o, i[0], i[1], i[2], cout: co, cin: ci, n: n) },
                  backward: { i, d, g in conv1x1Backward(dIn: g[0], dW: g[1], dBias: g[2], dOut: d, inp: i[0], w: i[1], cout: co, cin: ci, n: n) })
    }

    func testDepthwiseGradient() {
        for (k, d) in [(3, 1), (3, 2), (5, 2)] {
            let (c, b, h, w) = (2, 2, 6, 5)
            gradCheck("depthwise k \(k) d \(d)", inputs: [Self.random(c * b * h * w, seed: 4), Self.random(c * k * k, seed: 5)],
                      outCount: c * b * h * w,
                      forward: { i, o in depthwiseForward(o, i[0], i[1], channels: c, samples: b, height: h, width: w, kernel: k, dilation: d) },
                      backward: { i, dOut, g in depthwiseBackward(dIn: g[0], dW: g[1], dOut: dOut, inp: i[0], w: i[1],
                                                                 channels: c, samples: b, height: h, width: w, kernel: k, dilation: d) })
        }
    }

    func testConv2dGradient() {
        let (co, ci, b, h, w, k) = (3, 2, 2, 4, 5, 3)
        let col = Buf.allocate(capacity: ci * k * k * b * h * w), dcol = Buf.allocate(capacity: ci * k * k * b * h * w)
        defer { col.deallocate(); dcol.deallocate() }
        gradCheck("conv2d", inputs: [Self.random(ci * b * h * w, seed: 6), Self.random(co * ci * k * k, seed: 7)], outCount: co * b * h * w,
                  forward: { i, o in conv2dForward(o, i[0], i[1], col: col, cout: co, cin: ci, samples: b, height: h, width: w, kernel: k) },
                  backward: { i, d, g in conv2dBackward(dIn: g[0], dW: g[1], dOut: d, inp: i[0], w: i[1], col: col, dcol: dcol,
                                                        cout: co, cin: ci, samples: b, height: h, width: w, kernel: k) })
    }

    func testActivationGradients() {
        let n = 20
        // relu: inputs kept away from 0 so the kink is not straddled
        let reluIn = Self.random(n, seed: 8).map { $0 < 0 ? $0 - 0.1 : $0 + 0.1 }
        let y = Buf.allocate(capacity: n)
        defer { y.deallocate() }
        gradCheck("sigmoid", inputs: [Self.random(n, seed: 8, scale: 4)], outCount: n,
                  forward: { i, o in sigmoidForward(o, i[0], n) },
                  backward: { i, d, g in sigmoidForward(y, i[0], n); sigmoidBackward(g[0], d, y, n) })
        gradCheck("tanh", inputs: [Self.random(n, seed: 9, scale: 3)], outCount: n,
                  forward: { i, o in tanhForward(o, i[0], n) },
                  backward: { i, d, g in tanhForward(y, i[0], n); tanhBackward(g[0], d, y, n) })
        gradCheck("relu", inputs: [reluIn], outCount: n,
                  forward: { i, o in reluForward(o, i[0], n) },
                  backward: { i, d, g in reluBackward(g[0], d, i[0], n) })
    }

    func testSpatialMeanAndSoftmaxGradients() {
        let (c, b, p) = (3, 2, 7)
        gradCheck("spatial mean", inputs: [Self.random(c * b * p, seed: 10)], outCount: c * b,
                  forward: { i, o in spatialMeanForward(o, i[0], channels: c, samples: b, positions: p) },
                  backward: { _, d, g in spatialMeanBackward(g[0], d, channels: c, samples: b, positions: p) })
        let (rows, n) = (3, 5)
        let y = Buf.allocate(capacity: rows * n), dx = Buf.allocate(capacity: rows * n)
        defer { y.deallocate(); dx.deallocate() }
        gradCheck("softmax", inputs: [Self.random(rows * n, seed: 11, scale: 3)], outCount: rows * n,
                  forward: { i, o in o.update(from: i[0], count: rows * n); softmaxForward(o, rows: rows, n: n) },
                  backward: { i, d, g in
                      y.update(from: i[0], count: rows * n); softmaxForward(y, rows: rows, n: n)
                      softmaxBackward(dx, d, y, rows: rows, n: n)
                      for j in 0 ..< rows * n { g[0][j] += dx[j] }
                  })
    }

    func testAxialAttentionGradient() {
        let (dk, cv, b, h, w) = (2, 3, 2, 4, 3)
        let n = b * h * w
        let rowP = Buf.allocate(capacity: b * h * w * w), colP = Buf.allocate(capacity: b * w * h * h)
        let scratch = Buf.allocate(capacity: axialAttentionBackwardScratch(dk: dk, cv: cv, n: n, height: h, width: w) + axialAttentionForwardScratch(dk: dk, cv: cv, n: n, height: h, width: w))
        let tmp = Buf.allocate(capacity: cv * n)
        defer { rowP.deallocate(); colP.deallocate(); scratch.deallocate(); tmp.deallocate() }
        gradCheck("axial attention", inputs: [Self.random(dk * n, seed: 12, scale: 2), Self.random(dk * n, seed: 13, scale: 2), Self.random(cv * n, seed: 14)],
                  outCount: cv * n,
                  forward: { i, o in axialAttentionForward(o, rowProbs: rowP, colProbs: colP, q: i[0], k: i[1], v: i[2],
                                                           dk: dk, cv: cv, samples: b, height: h, width: w, scratch: scratch) },
                  backward: { i, d, g in
                      axialAttentionForward(tmp, rowProbs: rowP, colProbs: colP, q: i[0], k: i[1], v: i[2],
                                            dk: dk, cv: cv, samples: b, height: h, width: w, scratch: scratch)
                      axialAttentionBackward(dq: g[0], dk: g[1], dv: g[2], dOut: d, rowProbs: rowP, colProbs: colP, q: i[0], k: i[1], v: i[2],
                                             dk: dk, cv: cv, samples: b, height: h, width: w, scratch: scratch)
                  })
    }

    func testTemporalAttentionGradient() {
        for causal in [false, true] {
            let (t, b, de) = (4, 2, 3)
            let rows = t * b * de
            let q = Buf.allocate(capacity: rows), k = Buf.allocate(capacity: rows), v = Buf.allocate(capacity: rows)
            let probs = Buf.allocate(capacity: b * t * t), tmp = Buf.allocate(capacity: rows)
            let scratch = Buf.allocate(capacity: temporalAttentionBackwardScratch(steps: t, samples: b, de: de))
            defer { [q, k, v, probs, tmp, scratch].forEach { $0.deallocate() } }
            gradCheck("temporal attention causal \(causal)",
                      inputs: [Self.random(rows, seed: 15, scale: 2), Self.random(de * de, seed: 16), Self.random(de * de, seed: 17), Self.random(de * de, seed: 18)],
                      outCount: rows,
                      forward: { i, o in temporalAttentionForward(o, probs: probs, q: q, k: k, v: v, z: i[0], wq: i[1], wk: i[2], wv: i[3],
                                                                  steps: t, samples: b, de: de, causal: causal) },
                      backward: { i, d, g in
                          temporalAttentionForward(tmp, probs: probs, q: q, k: k, v: v, z: i[0], wq: i[1], wk: i[2], wv: i[3],
                                                   steps: t, samples: b, de: de, causal: causal)
                          temporalAttentionBackward(dZ: g[0], dWq: g[1], dWk: g[2], dWv: g[3], dOut: d, probs: probs, q: q, k: k, v: v,
                                                    z: i[0], wq: i[1], wk: i[2], wv: i[3], steps: t, samples: b, de: de, scratch: scratch)
                      })
            if causal {
                // the first step attends only to itself
                XCTAssertEqual(probs[0], 1, accuracy: 1e-15)
                XCTAssertEqual(probs[1], 0)
            }
        }
    }

    func testFilmGradient() {
        let (c, b, p) = (3, 2, 5)
        gradCheck("film", inputs: [Self.random(c * b * p, seed: 19), Self.random(c * b, seed: 20), Self.random(c * b, seed: 21)], outCount: c * b * p,
                  forward: { i, o in filmForward(o, i[0], scale: i[1], shift: i[2], channels: c, samples: b, positions: p) },
                  backward: { i, d, g in filmBackward(dH: g[0], dScale: g[1], dShift: g[2], dOut: d, h: i[0], scale: i[1],
                                                      channels: c, samples: b, positions: p) })
    }

    func testSquaredErrorGradientAndValue() {
        let (v, b, h, w) = (2, 2, 3, 4)
        let n = v * b * h * w
        var target = Self.random(n, seed: 22), xhat = Self.random(n, seed: 23)
        var mask = Self.random(n, seed: 24).map { $0 < -0.3 ? 0.0 : 1.0 }
        var lat = Self.random(b * h, seed: 25).map { 1 + 0.5 * $0 }
        var dX = [Double](repeating: 0, count: n)
        let num = squaredErrorForward(dXhat: &dX, xhat: &xhat, target: &target, mask: &mask, latWeights: &lat,
                                      channels: v, samples: b, height: h, width: w)
        var ref = 0.0
        for vi in 0 ..< v { for bi in 0 ..< b { for y in 0 ..< h { for x in 0 ..< w {
            let i = ((vi * b + bi) * h + y) * w + x
            ref += lat[bi * h + y] * mask[i] * (xhat[i] - target[i]) * (xhat[i] - target[i])
        } } } }
        XCTAssertEqual(num, ref, accuracy: 1e-12)
        XCTAssertTrue(mask.contains(0))
        // d num / d xhat by central differences
        let hh = 1e-6
        for i in 0 ..< n {
            let x = xhat[i]
            xhat[i] = x + hh
            var scratch = [Double](repeating: 0, count: n)
            let lp = squaredErrorForward(dXhat: &scratch, xhat: &xhat, target: &target, mask: &mask, latWeights: &lat, channels: v, samples: b, height: h, width: w)
            xhat[i] = x - hh
            let lm = squaredErrorForward(dXhat: &scratch, xhat: &xhat, target: &target, mask: &mask, latWeights: &lat, channels: v, samples: b, height: h, width: w)
            xhat[i] = x
            XCTAssertEqual(dX[i], (lp - lm) / (2 * hh), accuracy: 1e-7)
        }
    }
}

import Foundation
private func Foundation_exp(_ x: Double) -> Double { Foundation.exp(x) }
private func Foundation_tanh(_ x: Double) -> Double { Foundation.tanh(x) }
