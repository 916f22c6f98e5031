import XCTest
import Kernels

/// The Float SIMD paths (AVX-512 code, run only for Float) against their scalar
/// references on the same Float inputs. The Double gradient checks run the
/// references, so these tests are what ties the fast code to the checked one.
/// Tolerance: the fast code sums products in another order (and with FMA), so
/// results agree to a few ulp of the values involved: 1e-5 relative to 1 + |ref|.
final class FastKernelTests: XCTestCase {
    static func random(_ n: Int, seed: UInt64, scale: Double = 1) -> [Float] {
        var r = CounterRNG(seed: seed)
        return (0 ..< n).map { _ in Float(r.uniform(-scale, scale)) }
    }

    func assertClose(_ a: [Float], _ b: [Float], _ what: String, tol: Float = 1e-5, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        var worst: Float = 0
        for i in a.indices { worst = max(worst, abs(a[i] - b[i]) / (1 + abs(b[i]))) }
        XCTAssertLessThan(worst, tol, what, file: file, line: line)
    }

    func testFastExp16IsTheScalarExpLaneByLane() {
        var x: Float = -100
        while x < 100 {
            var v = SIMD16<Float>()
            for l in 0 ..< 16 { v[l] = x + Float(l) * 0.37 }
            let e = fastExp16(v), s = sigmoid16(v), t = tanh16(v)
            for l in 0 ..< 16 {
                XCTAssertEqual(e[l].bitPattern, fastExpFloat(v[l]).bitPattern, "exp(\(v[l]))")
                XCTAssertEqual(s[l].bitPattern, sigmoidScalar(v[l]).bitPattern, "sigmoid(\(v[l]))")
                XCTAssertEqual(t[l].bitPattern, tanhScalar(v[l]).bitPattern, "tanh(\(v[l]))")
            }
            x += 5.9
        }
        // bounds and infinities as in the scalar code (NaN: see testGatesPropagateNaN)
        let special = SIMD16<Float>(.infinity, -.infinity, 0, -0.0, 88.7, 88.71, -87.3, -87.31, 1e30, -1e30,
                                    .leastNonzeroMagnitude, 1, -1, 20, -20, 1e-30)
        let e = fastExp16(special), s = sigmoid16(special), t = tanh16(special)
        for l in 0 ..< 16 {
            let x = special[l]
            XCTAssertEqual(e[l].bitPattern, fastExpFloat(x).bitPattern, "exp(\(x))")
            XCTAssertEqual(s[l].bitPattern, sigmoidScalar(x).bitPattern, "sigmoid(\(x))")
            XCTAssertEqual(t[l].bitPattern, tanhScalar(x).bitPattern, "tanh(\(x))")
        }
    }

    /// A NaN in any input of a column makes every output of that column NaN
    /// (the loss then is NaN and the trainer skips the step), as in the scalar code.
    func testGatesPropagateNaN() {
        let (ch, r, n) = (2, 3, 32)
        let wg = Self.random(4 * ch * r, seed: 1), bias = Self.random(4 * ch, seed: 3), p = Self.random(ch, seed: 5)
        var mt = Self.random(r * n, seed: 2), cPrev = Self.random(ch * n, seed: 4)
        mt[1 * n + 5] = .nan          // column 5: every gate of every channel
        cPrev[1 * n + 20] = .nan      // column 20 of channel 1
        var g = [Float](repeating: 0, count: 4 * ch * n), c = [Float](repeating: 0, count: ch * n), h = c
        fusedGatesForward(gates: &g, c: &c, h: &h, cPrev: cPrev, mt: mt, wg: wg, bias: bias, pi: p, pf: p, po: p,
                          channels: ch, rank: r, n: n)
        for cc in 0 ..< ch {
            XCTAssertTrue(h[cc * n + 5].isNaN && c[cc * n + 5].isNaN)
            XCTAssertTrue(h[cc * n + 6].isFinite)
        }
        XCTAssertTrue(h[1 * n + 20].isNaN && c[1 * n + 20].isNaN)
        XCTAssertTrue(h[0 * n + 20].isFinite)
        var g2 = Self.random(4 * ch * n, seed: 8)
        g2[3 * ch * n + 7] = .nan     // o gate of channel 0, column 7
        var c2 = c, h2 = h
        lstmGatesForward(gates: &g2, c: &c2, h: &h2, cPrev: Self.random(ch * n, seed: 9), bias: bias, pi: nil, pf: nil, po: nil,
                         channels: ch, count: n, ld: n)
        XCTAssertTrue(h2[7].isNaN)
        XCTAssertTrue(h2[8].isFinite && h2[n + 7].isFinite)
    }

    /// Mt read at a row stride other than n (fusedGatesForward's ldMt) and dG
    /// written at one (lstmGatesBackward's ldG) give the same numbers as the
    /// contiguous layout, and nothing reads or writes the padding (NaN there).
    func testGatesWithRowStrides() {
        for (ch, r, n) in [(2, 16, 16 * 17 + 3), (3, 5, 64)] {
            let wg = Self.random(4 * ch * r, seed: 1, scale: 0.7), mt = Self.random(r * n, seed: 2, scale: 1.5)
            let bias = Self.random(4 * ch, seed: 3), cPrev = Self.random(ch * n, seed: 4, scale: 2)
            let p = Self.random(ch, seed: 5), ldm = n + 16, ldg = n + 3
            var mtStrided = [Float](repeating: .nan, count: r * ldm)
            for k in 0 ..< r { for j in 0 ..< n { mtStrided[k * ldm + j] = mt[k * n + j] } }
            var g1 = [Float](repeating: 0, count: 4 * ch * n), c1 = [Float](repeating: 0, count: ch * n), h1 = c1
            var g2 = g1, c2 = c1, h2 = h1
            fusedGatesForward(gates: &g1, c: &c1, h: &h1, cPrev: cPrev, mt: mt, wg: wg, bias: bias, pi: p, pf: p, po: p,
                              channels: ch, rank: r, n: n)
            fusedGatesForward(gates: &g2, c: &c2, h: &h2, cPrev: cPrev, mt: mtStrided, wg: wg, bias: bias, pi: p, pf: p, po: p,
                              channels: ch, rank: r, n: n, ldMt: ldm)
            XCTAssertEqual(g1, g2, "gates with ldMt, n \(n)"); XCTAssertEqual(c1, c2); XCTAssertEqual(h1, h2)
            let dH = Self.random(ch * n, seed: 9), dC0 = Self.random(ch * n, seed: 10)
            var dG1 = [Float](repeating: 0, count: 4 * ch * n), dGs = [Float](repeating: .nan, count: 4 * ch * ldg)
            var dC1 = dC0, dC2 = dC0
            var db1 = [Float](repeating: 0, count: 4 * ch), db2 = db1
            lstmGatesBackward(dG: &dG1, dC: &dC1, dH: dH, gates: g1, c: c1, cPrev: cPrev, pi: nil, pf: nil, po: nil,
                              dpi: nil, dpf: nil, dpo: nil, dBias: &db1, channels: ch, count: n, ld: n)
            lstmGatesBackward(dG: &dGs, dC: &dC2, dH: dH, gates: g1, c: c1, cPrev: cPrev, pi: nil, pf: nil, po: nil,
                              dpi: nil, dpf: nil, dpo: nil, dBias: &db2, channels: ch, count: n, ld: n, ldG: ldg)
            for row in 0 ..< 4 * ch {
                XCTAssertEqual(Array(dGs[row * ldg ..< row * ldg + n]), Array(dG1[row * n ..< (row + 1) * n]), "dG row \(row) with ldG")
                XCTAssertTrue(dGs[row * ldg + n ..< (row + 1) * ldg].allSatisfy { $0.isNaN }, "dG padding written")
            }
            XCTAssertEqual(dC1, dC2); XCTAssertEqual(db1, db2)
        }
    }

    /// Columns: two full 16-blocks, more than one 256-chunk in the fused
    /// forward, and a tail of 5 the scalar code handles.
    func testGatesMatchReference() {
        for (ch, r, n) in [(3, 5, 37), (4, 16, 16 * 33 + 5), (2, 1, 16)] {
            let wg = Self.random(4 * ch * r, seed: 1, scale: 0.7), mt = Self.random(r * n, seed: 2, scale: 1.5)
            let bias = Self.random(4 * ch, seed: 3), cPrev = Self.random(ch * n, seed: 4, scale: 2)
            let pi = Self.random(ch, seed: 5), pf = Self.random(ch, seed: 6), po = Self.random(ch, seed: 7)
            // forward, fused with the product
            var gF = [Float](repeating: 0, count: 4 * ch * n), cF = [Float](repeating: 0, count: ch * n), hF = cF
            var gR = gF, cR = cF, hR = hF
            var tanhF = cF, tanhR = cF
            fusedGatesForward(gates: &gF, c: &cF, h: &hF, cPrev: cPrev, mt: mt, wg: wg, bias: bias, pi: pi, pf: pf, po: po,
                              channels: ch, rank: r, n: n, tanhC: &tanhF)
            fusedGatesForwardReference(gates: &gR, c: &cR, h: &hR, cPrev: cPrev, mt: mt, wg: wg, bias: bias, pi: pi, pf: pf, po: po,
                                       channels: ch, rank: r, n: n, tanhC: &tanhR)
            // the cached tanh(C_t) is the one the backward would recompute, bit for bit
            XCTAssertEqual(tanhF, cF.map { tanhScalar($0) }, "fused tanh(C_t) cache")
            XCTAssertEqual(tanhR, cR.map { tanhScalar($0) }, "reference tanh(C_t) cache")
            assertClose(gF, gR, "fused gates ch \(ch) r \(r) n \(n)")
            assertClose(cF, cR, "fused C_t")
            assertClose(hF, hR, "fused H_t")
            // forward from G in memory, without peepholes (ConvLSTM)
            let g0 = Self.random(4 * ch * n, seed: 8, scale: 3)
            var g1 = g0, g2 = g0
            var c1 = [Float](repeating: 0, count: ch * n), c2 = c1, h1 = c1, h2 = c1
            lstmGatesForward(gates: &g1, c: &c1, h: &h1, cPrev: cPrev, bias: bias, pi: nil, pf: nil, po: nil, channels: ch, count: n, ld: n)
            lstmGatesForwardReference(gates: &g2, c: &c2, h: &h2, cPrev: cPrev, bias: bias, pi: nil, pf: nil, po: nil,
                                      channels: ch, from: 0, to: n, ld: n)
            assertClose(g1, g2, "gates"); assertClose(c1, c2, "C_t"); assertClose(h1, h2, "H_t")
            // backward, with and without peepholes
            let dH = Self.random(ch * n, seed: 9), dC0 = Self.random(ch * n, seed: 10)
            for peep in [true, false] {
                var dG1 = [Float](repeating: 0, count: 4 * ch * n), dG2 = dG1
                var dC1 = dC0, dC2 = dC0
                var dp1 = [Float](repeating: 0.5, count: 3 * ch), dp2 = dp1
                var db1 = [Float](repeating: -0.25, count: 4 * ch), db2 = db1
                dp1.withUnsafeMutableBufferPointer { d1 in
                    dp2.withUnsafeMutableBufferPointer { d2 in
                        let p1 = d1.baseAddress!, p2 = d2.baseAddress!
                        lstmGatesBackward(dG: &dG1, dC: &dC1, dH: dH, gates: gR, c: cR, cPrev: cPrev,
                                          pi: peep ? pi : nil, pf: peep ? pf : nil, po: peep ? po : nil,
                                          dpi: peep ? p1 : nil, dpf: peep ? p1 + ch : nil, dpo: peep ? p1 + 2 * ch : nil,
                                          dBias: &db1, channels: ch, count: n, ld: n)
                        lstmGatesBackwardReference(dG: &dG2, dC: &dC2, dH: dH, gates: gR, c: cR, cPrev: cPrev,
                                                   pi: peep ? pi : nil, pf: peep ? pf : nil, po: peep ? po : nil,
                                                   dpi: peep ? p2 : nil, dpf: peep ? p2 + ch : nil, dpo: peep ? p2 + 2 * ch : nil,
                                                   dBias: &db2, channels: ch, from: 0, to: n, ld: n)
                    }
                }
                // with the forward's tanh(C_t) cache: the same numbers, bit for bit
                var dG3 = [Float](repeating: 0, count: 4 * ch * n), dC3 = dC0
                var dp3 = [Float](repeating: 0.5, count: 3 * ch), db3 = [Float](repeating: -0.25, count: 4 * ch)
                let tanhC = cR.map { tanhScalar($0) }
                dp3.withUnsafeMutableBufferPointer { d3 in
                    let p3 = d3.baseAddress!
                    lstmGatesBackward(dG: &dG3, dC: &dC3, dH: dH, gates: gR, c: cR, cPrev: cPrev,
                                      pi: peep ? pi : nil, pf: peep ? pf : nil, po: peep ? po : nil,
                                      dpi: peep ? p3 : nil, dpf: peep ? p3 + ch : nil, dpo: peep ? p3 + 2 * ch : nil,
                                      dBias: &db3, channels: ch, count: n, ld: n, tanhC: tanhC)
                }
                XCTAssertEqual(dG3, dG1, "dG with cached tanh(C_t), peepholes \(peep)")
                XCTAssertEqual(dC3, dC1, "dC with cached tanh(C_t)"); XCTAssertEqual(dp3, dp1); XCTAssertEqual(db3, db1)
                assertClose(dG1, dG2, "dG peepholes \(peep)")
                assertClose(dC1, dC2, "dC_{t-1} peepholes \(peep)")
                assertClose(dp1, dp2, "peephole gradients \(peep)", tol: 1e-4)
                assertClose(db1, db2, "gate bias gradient \(peep)", tol: 1e-4)
                // and the bias gradient is the row sum of dG
                var rows = [Float](repeating: -0.25, count: 4 * ch)
                for r in 0 ..< 4 * ch { for j in 0 ..< n { rows[r] += dG2[r * n + j] } }
                assertClose(db2, rows, "gate bias gradient = row sums of dG \(peep)", tol: 1e-4)
            }
        }
    }

    /// gemmWide's register kernels (both blockings: a build runs one of them)
    /// against a naive product: both layouts of A, beta 0 (C not read: NaN there
    /// must not leak) and 1, row and column tails.
    func testWideGemmMatchesNaive() {
        for (m, n, k) in [(4, 64, 1), (5, 131, 7), (16, 512, 128), (32, 200, 16), (1, 80, 3), (7, 64, 33),
                          (32, 32, 8), (8, 32, 32), (6, 48, 5), (5, 16, 9), (9, 36, 12), (4, 112, 3),
                          (32, 33, 32), (33, 36, 8), (3, 17, 5), (2, 3, 4), (9, 90, 4), (13, 121, 6)] {
            for transA in [false, true] { for blocking in RegisterBlocking.allCases {
                for beta: Float in [0, 1] {
                    let a = Self.random(m * k, seed: 11), b = Self.random(k * n, seed: 12), c0 = Self.random(m * n, seed: 13)
                    let lda = transA ? m : k, alpha: Float = 0.75
                    var c = beta == 0 ? [Float](repeating: .nan, count: m * n) : c0
                    var ref = [Float](repeating: 0, count: m * n)
                    for i in 0 ..< m {
                        for j in 0 ..< n {
                            var s: Float = 0
                            for kk in 0 ..< k { s += (transA ? a[kk * lda + i] : a[i * lda + kk]) * b[kk * n + j] }
                            ref[i * n + j] = alpha * s + beta * c0[i * n + j]
                        }
                    }
                    gemmWide(transA: transA, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: n,
                             beta: beta, c: &c, ldc: n, blocking: blocking)
                    assertClose(c, ref, "gemmWide \(blocking) m \(m) n \(n) k \(k) transA \(transA) beta \(beta)", tol: 1e-5 * Float(k))
                    // B's rows 4 KB apart (the packed-panel path where m > 4 and n >= 64)
                    let ldb = 1024 * ((n + 1023) / 1024)
                    var bWide = [Float](repeating: .nan, count: k * ldb)
                    for kk in 0 ..< k { for j in 0 ..< n { bWide[kk * ldb + j] = b[kk * n + j] } }
                    var c2 = beta == 0 ? [Float](repeating: .nan, count: m * n) : c0
                    gemmWide(transA: transA, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: bWide, ldb: ldb,
                             beta: beta, c: &c2, ldc: n, blocking: blocking)
                    XCTAssertEqual(c2, c, "gemmWide \(blocking) with ldb \(ldb), m \(m) n \(n) k \(k): same as ldb = n")
                }
            } }
        }
    }

    /// The Float axial attention (its line products through gemmWide's 32- and
    /// 16-column register blocks and the scalar column tail) against the Double
    /// path on the same inputs, forward and backward: tiles 32 x 16 and 20 x 36.
    func testAxialAttentionFloatMatchesDouble() {
        for (h, w) in [(32, 16), (20, 36)] {
            let (dk, cv, b) = (8, 12, 2)
            let n = b * h * w
            let q = Self.random(dk * n, seed: 31, scale: 2), k = Self.random(dk * n, seed: 32, scale: 2)
            let v = Self.random(cv * n, seed: 33), dOut = Self.random(cv * n, seed: 34)
            func run<T: KernelScalar>(_: T.Type) -> [[Double]] {
                var qT = q.map { T(Double($0)) }, kT = k.map { T(Double($0)) }, vT = v.map { T(Double($0)) }
                var dOutT = dOut.map { T(Double($0)) }
                var out = [T](repeating: 0, count: cv * n)
                var rowP = [T](repeating: 0, count: b * h * w * w), colP = [T](repeating: 0, count: b * w * h * h)
                var scratch = [T](repeating: 0, count: axialAttentionForwardScratch(dk: dk, cv: cv, n: n, height: h, width: w)
                    + axialAttentionBackwardScratch(dk: dk, cv: cv, n: n, height: h, width: w))
                axialAttentionForward(&out, rowProbs: &rowP, colProbs: &colP, q: &qT, k: &kT, v: &vT,
                                      dk: dk, cv: cv, samples: b, height: h, width: w, scratch: &scratch)
                var dq = [T](repeating: 0, count: dk * n), dkk = dq, dv = [T](repeating: 0, count: cv * n)
                axialAttentionBackward(dq: &dq, dk: &dkk, dv: &dv, dOut: &dOutT, rowProbs: &rowP, colProbs: &colP,
                                       q: &qT, k: &kT, v: &vT, dk: dk, cv: cv, samples: b, height: h, width: w, scratch: &scratch)
                return [out, dq, dkk, dv].map { $0.map { Double($0) } }
            }
            let f = run(Float.self), d = run(Double.self)
            for (i, name) in ["out", "dq", "dk", "dv"].enumerated() {
                assertClose(f[i].map { Float($0) }, d[i].map { Float($0) }, "attention \(name) \(h)x\(w)", tol: 1e-4)
            }
        }
    }

    /// transposeMatrix's register blocks (16 x 16 and 8 x 8) and scalar edges against
    /// the definition, written and accumulated, square and ragged shapes, strided rows.
    func testTransposeMatchesDefinition() {
        for (rows, cols) in [(16, 16), (32, 32), (33, 36), (16, 48), (5, 7), (40, 17), (8, 8), (12, 20)] {
            for accumulate in [false, true] { for blocking in RegisterBlocking.allCases {
                let ldX = cols + 3, ldOut = rows + 5
                let x = Self.random(rows * ldX, seed: 41), out0 = Self.random(cols * ldOut, seed: 42)
                var out = out0
                transposeMatrix(&out, ldOut: ldOut, x, ldX: ldX, rows: rows, columns: cols, accumulate: accumulate, blocking: blocking)
                var ref = out0
                for i in 0 ..< rows { for j in 0 ..< cols { ref[j * ldOut + i] = (accumulate ? out0[j * ldOut + i] : 0) + x[i * ldX + j] } }
                XCTAssertEqual(out, ref, "transpose \(blocking) \(rows)x\(cols) accumulate \(accumulate)")
            } }
        }
    }

    /// The Float softmax (16 lanes, scalar tail) against the Double one, rows of
    /// 16 to 37 with -inf (masked) entries, which must come out exactly 0.
    func testSoftmaxFloatMatchesDouble() {
        for n in [16, 32, 37] {
            let rows = 5
            var x = Self.random(rows * n, seed: 43, scale: 20)
            for r in 0 ..< rows { x[r * n + (r * 7) % n] = -.infinity }
            var f = x, d = x.map { Double($0) }
            softmaxForward(&f, rows: rows, n: n)
            softmaxForward(&d, rows: rows, n: n)
            assertClose(f, d.map { Float($0) }, "softmax n \(n)")
            for r in 0 ..< rows { XCTAssertEqual(f[r * n + (r * 7) % n], 0, "masked entry, n \(n)") }
        }
    }

    /// mixWeightGradient in Float (the k = 3 nine-accumulator pass; k = 5 the
    /// per-tap path) against Double on the same inputs, widths 32 and 21 (tail).
    func testMixWeightGradientFloatMatchesDouble() {
        for (k, h, w) in [(3, 8, 32), (3, 5, 21), (5, 6, 18)] {
            let (c, b, dil) = (3, 2, [1, 2, 4])
            let pad = mixPadding(kernel: k, dilations: dil)
            let padded = Self.random(c * b * (h + 2 * pad) * (w + 2 * pad), seed: 51), dOut = Self.random(c * b * h * w, seed: 52)
            func run<T: KernelScalar>(_: T.Type) -> [Float] {
                var p = padded.map { T(Double($0)) }, g = dOut.map { T(Double($0)) }
                var dW = [T](repeating: 0, count: dil.count * c * k * k), dB = [T](repeating: 0, count: c)
                mixWeightGradient(dW: &dW, dBias: &dB, dOut: &g, padded: &p, dilations: dil, channels: c, samples: b,
                                  height: h, width: w, kernel: k, pad: pad)
                return (dW + dB).map { Float(Double($0)) }
            }
            assertClose(run(Float.self), run(Double.self), "mix weight gradient k \(k) \(h)x\(w)", tol: 1e-5 * Float(h * w))
        }
    }

    /// The SE backward's fused pass gives the bits of the three passes it
    /// replaces (scale by sample, add the spatial mean's gradient, pad), in place too.
    func testScaleShiftPadIsTheThreePassesBitForBit() {
        for (h, w, pad) in [(8, 32, 4), (5, 21, 2), (3, 3, 1)] {
            let (c, b) = (3, 2), p = h * w
            let x = Self.random(c * b * p, seed: 61), scale = Self.random(c * b, seed: 62), shift = Self.random(c * b, seed: 63)
            var threePass = x
            for cb in 0 ..< c * b { for i in 0 ..< p { threePass[cb * p + i] = x[cb * p + i] * scale[cb] } }
            spatialMeanBackward(&threePass, shift, channels: c, samples: b, positions: p)
            var paddedRef = [Float](repeating: .nan, count: c * b * (h + 2 * pad) * (w + 2 * pad))
            padPlanes(&paddedRef, threePass, planes: c * b, height: h, width: w, pad: pad)

            var out = [Float](repeating: .nan, count: x.count), padded = [Float](repeating: .nan, count: paddedRef.count)
            scaleShiftPadPlanes(out: &out, padded: &padded, x, scale: scale, shift: shift, planes: c * b, height: h, width: w, pad: pad)
            XCTAssertEqual(out.map(\.bitPattern), threePass.map(\.bitPattern), "out \(h)x\(w) pad \(pad)")
            XCTAssertEqual(padded.map(\.bitPattern), paddedRef.map(\.bitPattern), "padded \(h)x\(w) pad \(pad)")

            var inPlace = x
            inPlace.withUnsafeMutableBufferPointer { io in
                scaleShiftPadPlanes(out: io.baseAddress!, padded: &padded, io.baseAddress!, scale: scale, shift: shift,
                                    planes: c * b, height: h, width: w, pad: pad)
            }
            XCTAssertEqual(inPlace.map(\.bitPattern), threePass.map(\.bitPattern), "in place \(h)x\(w) pad \(pad)")
        }
    }

    /// gemmLongK (C = alpha A B^T + beta C, blocks of vector partial sums, both
    /// blockings) against a naive product: beta 0 and 1, row, column and k tails.
    func testLongKGemmMatchesNaive() {
        for (m, n, k) in [(4, 4, 64), (16, 32, 1000), (5, 7, 77), (128, 16, 512), (1, 3, 64), (3, 6, 70)] {
            for beta: Float in [0, 1] { for blocking in RegisterBlocking.allCases {
                let a = Self.random(m * k, seed: 21), b = Self.random(n * k, seed: 22), c0 = Self.random(m * n, seed: 23)
                let alpha: Float = -1.25
                var c = beta == 0 ? [Float](repeating: .nan, count: m * n) : c0
                var ref = [Float](repeating: 0, count: m * n)
                for i in 0 ..< m {
                    for j in 0 ..< n {
                        var s: Float = 0
                        for kk in 0 ..< k { s += a[i * k + kk] * b[j * k + kk] }
                        ref[i * n + j] = alpha * s + beta * c0[i * n + j]
                    }
                }
                gemmLongK(m: m, n: n, k: k, alpha: alpha, a: a, lda: k, b: b, ldb: k, beta: beta, c: &c, ldc: n, blocking: blocking)
                assertClose(c, ref, "gemmLongK \(blocking) m \(m) n \(n) k \(k) beta \(beta)", tol: 1e-6 * Float(k))
            } }
        }
    }

    /// The FAConvLSTM stores no gates: its backward recomputes them chunk by
    /// chunk (fusedGatesRecompute), and they must be the forward's bit for bit,
    /// or the gradient is not the one of the forward that ran. Chunks of 256
    /// and 512 columns (the backward's), a last chunk with a column tail; the
    /// forward without a gates output writes the same C_t, H_t and tanh(C_t);
    /// the backward with dG overwriting the recomputed gates in place is the
    /// backward from separate gates.
    func testRecomputedGatesAreTheForwardsBitForBit() {
        for (ch, r, n) in [(3, 16, 512 * 2 + 256 + 37), (2, 5, 16 * 33 + 5), (4, 16, 300)] {
            let wg = Self.random(4 * ch * r, seed: 1, scale: 0.7), bias = Self.random(4 * ch, seed: 3)
            let cPrev = Self.random(ch * n, seed: 4, scale: 2)
            let pi = Self.random(ch, seed: 5), pf = Self.random(ch, seed: 6), po = Self.random(ch, seed: 7)
            let ldm = n + 16
            var mt = [Float](repeating: .nan, count: r * ldm)
            let m0 = Self.random(r * n, seed: 2, scale: 1.5)
            for k in 0 ..< r { for j in 0 ..< n { mt[k * ldm + j] = m0[k * n + j] } }
            var g = [Float](repeating: 0, count: 4 * ch * n), c = [Float](repeating: 0, count: ch * n), h = c, tc = c
            var c2 = c, h2 = c, tc2 = c
            fusedGatesForward(gates: &g, c: &c, h: &h, cPrev: cPrev, mt: mt, wg: wg, bias: bias, pi: pi, pf: pf, po: po,
                              channels: ch, rank: r, n: n, ldMt: ldm, tanhC: &tc)
            fusedGatesForward(gates: nil, c: &c2, h: &h2, cPrev: cPrev, mt: mt, wg: wg, bias: bias, pi: pi, pf: pf, po: po,
                              channels: ch, rank: r, n: n, ldMt: ldm, tanhC: &tc2)
            XCTAssertEqual(c.map(\.bitPattern), c2.map(\.bitPattern), "C_t without gates output, n \(n)")
            XCTAssertEqual(h.map(\.bitPattern), h2.map(\.bitPattern), "H_t without gates output")
            XCTAssertEqual(tc.map(\.bitPattern), tc2.map(\.bitPattern), "tanh C_t without gates output")
            // the backward's operands as the cell has them: pointers into [.., n] rows
            func copy(_ a: [Float]) -> UnsafeMutablePointer<Float> {
                let p = UnsafeMutablePointer<Float>.allocate(capacity: a.count)
                p.initialize(from: a, count: a.count)
                return p
            }
            let pg = copy(g), pc = copy(c), pcPrev = copy(cPrev), pmt = copy(mt), ptc = copy(tc)
            let pdH = copy(Self.random(ch * n, seed: 9)), dC0 = Self.random(ch * n, seed: 10)
            defer { for q in [pg, pc, pcPrev, pmt, ptc, pdH] { q.deallocate() } }
            for chunk in [256, 512] {
                let dCStored = copy(dC0), dCInPlace = copy(dC0)
                let dbStored = copy(.init(repeating: 0, count: 7 * ch)), dbInPlace = copy(.init(repeating: 0, count: 7 * ch))
                defer { for q in [dCStored, dCInPlace, dbStored, dbInPlace] { q.deallocate() } }
                for j0 in stride(from: 0, to: n, by: chunk) {
                    let len = min(chunk, n - j0), lg = len + 3
                    let rec = copy(.init(repeating: .nan, count: 4 * ch * lg)), dG = copy(.init(repeating: 0, count: 4 * ch * lg))
                    defer { rec.deallocate(); dG.deallocate() }
                    fusedGatesRecompute(gates: rec, ldGates: lg, cPrev: pcPrev + j0, ld: n, mt: pmt + j0, ldMt: ldm, wg: wg, bias: bias,
                                        pi: pi, pf: pf, po: po, channels: ch, rank: r, count: len)
                    for row in 0 ..< 4 * ch {
                        for j in 0 ..< len {
                            XCTAssertEqual(rec[row * lg + j].bitPattern, g[row * n + j0 + j].bitPattern,
                                           "recomputed gate row \(row), column \(j0 + j), chunk \(chunk), n \(n)")
                        }
                        for j in len ..< lg { XCTAssertTrue(rec[row * lg + j].isNaN, "padding written") }
                    }
                    // backward of the chunk: from the stored gates vs in place over the recomputed ones
                    lstmGatesBackward(dG: dG, dC: dCStored + j0, dH: pdH + j0, gates: pg + j0, c: pc + j0, cPrev: pcPrev + j0,
                                      pi: pi, pf: pf, po: po, dpi: dbStored + 4 * ch, dpf: dbStored + 5 * ch, dpo: dbStored + 6 * ch,
                                      dBias: dbStored, channels: ch, count: len, ld: n, ldG: lg, tanhC: ptc + j0)
                    lstmGatesBackward(dG: rec, dC: dCInPlace + j0, dH: pdH + j0, gates: rec, c: pc + j0, cPrev: pcPrev + j0,
                                      pi: pi, pf: pf, po: po, dpi: dbInPlace + 4 * ch, dpf: dbInPlace + 5 * ch, dpo: dbInPlace + 6 * ch,
                                      dBias: dbInPlace, channels: ch, count: len, ld: n, ldG: lg, ldGates: lg, tanhC: ptc + j0)
                    for row in 0 ..< 4 * ch {
                        for j in 0 ..< len {
                            XCTAssertEqual(rec[row * lg + j].bitPattern, dG[row * lg + j].bitPattern, "dG in place, row \(row), column \(j0 + j)")
                        }
                    }
                }
                for i in 0 ..< ch * n { XCTAssertEqual(dCInPlace[i].bitPattern, dCStored[i].bitPattern, "dC_{t-1} in place, \(i)") }
                for i in 0 ..< 7 * ch { XCTAssertEqual(dbInPlace[i].bitPattern, dbStored[i].bitPattern, "bias/peephole gradient in place, \(i)") }
            }
        }
        // Double (the finite-difference checks' type): the recompute is the forward up to rounding
        let (ch, r, n) = (2, 3, 40)
        let wg = Self.random(4 * ch * r, seed: 1).map(Double.init), mt = Self.random(r * n, seed: 2).map(Double.init)
        let bias = Self.random(4 * ch, seed: 3).map(Double.init), cPrev = Self.random(ch * n, seed: 4).map(Double.init)
        let p = Self.random(ch, seed: 5).map(Double.init)
        var g = [Double](repeating: 0, count: 4 * ch * n), c = [Double](repeating: 0, count: ch * n), h = c
        fusedGatesForward(gates: &g, c: &c, h: &h, cPrev: cPrev, mt: mt, wg: wg, bias: bias, pi: p, pf: p, po: p,
                          channels: ch, rank: r, n: n)
        var rec = [Double](repeating: .nan, count: 4 * ch * n)
        fusedGatesRecompute(gates: &rec, ldGates: n, cPrev: cPrev, ld: n, mt: mt, ldMt: n, wg: wg, bias: bias, pi: p, pf: p, po: p,
                            channels: ch, rank: r, count: n)
        for i in g.indices { XCTAssertEqual(rec[i], g[i], accuracy: 1e-15, "Double recomputed gate \(i)") }
    }
}
