import XCTest
import Kernels

/// Winograd F(2x2, 3x3) (the ConvLSTM cell's 3x3 convolutions) composed as the
/// cell composes it, block of tile rows by block: forward against the direct
/// convolution from the formula, backward against im2col's and against Float64
/// finite differences, on even and odd image sides and every block split.
extension KernelGradientTests {
    /// out [co, b, h, w] = conv3x3(inp [ci, b, h, w]; w [co, ci, 3, 3]), blocks of `blockTileRows` tile rows.
    func winogradConv<T: KernelScalar>(_ out: UnsafeMutablePointer<T>, _ inp: UnsafePointer<T>, _ w: UnsafePointer<T>,
                                       co: Int, ci: Int, b: Int, h: Int, wd: Int, blockTileRows tr: Int) {
        let (th, tw) = winogradTiles(height: h, width: wd)
        let u = UnsafeMutablePointer<T>.allocate(capacity: 16 * co * ci)
        let v = UnsafeMutablePointer<T>.allocate(capacity: 16 * ci * tr * tw), m = UnsafeMutablePointer<T>.allocate(capacity: 16 * co * tr * tw)
        defer { u.deallocate(); v.deallocate(); m.deallocate() }
        winogradWeightTransform(u, planeStride: co * ci, ldu: ci, w, outChannels: co, inChannels: ci)
        for s in 0 ..< b {
            for ty0 in stride(from: 0, to: th, by: tr) {
                let ty1 = min(th, ty0 + tr), nt = (ty1 - ty0) * tw
                winogradInputTransform(v, planeStride: ci * nt, inp, channels: ci, samples: b, sample: s, height: h, width: wd, tileRows: ty0, ty1)
                for xi in 0 ..< 16 {
                    T.gemm(transA: false, transB: false, m: co, n: nt, k: ci, alpha: 1, a: u + xi * co * ci, lda: ci,
                           b: v + xi * ci * nt, ldb: nt, beta: 0, c: m + xi * co * nt, ldc: nt)
                }
                winogradOutputTransform(out, m, planeStride: co * nt, channels: co, samples: b, sample: s, height: h, width: wd, tileRows: ty0, ty1)
            }
        }
    }

    /// dIn += d out / d inp applied to dOut, dW += d out / d w applied to dOut.
    func winogradConvBackward<T: KernelScalar>(dIn: UnsafeMutablePointer<T>, dW: UnsafeMutablePointer<T>, dOut: UnsafePointer<T>,
                                               _ inp: UnsafePointer<T>, _ w: UnsafePointer<T>,
                                               co: Int, ci: Int, b: Int, h: Int, wd: Int, blockTileRows tr: Int) {
        let (th, tw) = winogradTiles(height: h, width: wd)
        let u = UnsafeMutablePointer<T>.allocate(capacity: 16 * co * ci), du = UnsafeMutablePointer<T>.allocate(capacity: 16 * co * ci)
        let v = UnsafeMutablePointer<T>.allocate(capacity: 16 * ci * tr * tw), m = UnsafeMutablePointer<T>.allocate(capacity: 16 * co * tr * tw)
        defer { u.deallocate(); du.deallocate(); v.deallocate(); m.deallocate() }
        winogradWeightTransform(u, planeStride: co * ci, ldu: ci, w, outChannels: co, inChannels: ci)
        du.initialize(repeating: 0, count: 16 * co * ci)
        for s in 0 ..< b {
            for ty0 in stride(from: 0, to: th, by: tr) {
                let ty1 = min(th, ty0 + tr), nt = (ty1 - ty0) * tw
                winogradOutputTransformAdjoint(m, planeStride: co * nt, dOut, channels: co, samples: b, sample: s, height: h, width: wd, tileRows: ty0, ty1)
                winogradInputTransform(v, planeStride: ci * nt, inp, channels: ci, samples: b, sample: s, height: h, width: wd, tileRows: ty0, ty1)
                for xi in 0 ..< 16 {
                    T.gemm(transA: false, transB: true, m: co, n: ci, k: nt, alpha: 1, a: m + xi * co * nt, lda: nt,
                           b: v + xi * ci * nt, ldb: nt, beta: 1, c: du + xi * co * ci, ldc: ci)
                    T.gemm(transA: true, transB: false, m: ci, n: nt, k: co, alpha: 1, a: u + xi * co * ci, lda: ci,
                           b: m + xi * co * nt, ldb: nt, beta: 0, c: v + xi * ci * nt, ldc: nt)
                }
                winogradInputTransformAdjointAdd(dIn, v, planeStride: ci * nt, channels: ci, samples: b, sample: s, height: h, width: wd, tileRows: ty0, ty1)
            }
        }
        winogradWeightTransformAdjointAdd(dW, du, planeStride: co * ci, ldu: ci, outChannels: co, inChannels: ci)
    }

    static let winogradShapes = [(1, 1), (2, 2), (5, 4), (4, 5), (3, 7), (6, 6), (33, 36)]

    func testWinogradMatchesDirectConvolution() {
        let (co, ci, b) = (3, 2, 2)
        for (h, wd) in Self.winogradShapes {
            let th = winogradTiles(height: h, width: wd).rows
            let x = Self.random(ci * b * h * wd, seed: 21), w = Self.random(co * ci * 9, seed: 22)
            var naive = [Double](repeating: 0, count: co * b * h * wd)
            conv2dForwardNaive(&naive, x, w, cout: co, cin: ci, samples: b, height: h, width: wd, kernel: 3)
            for tr in Set([1, 2, th]) {
                var out = [Double](repeating: .nan, count: co * b * h * wd)   // every output written
                winogradConv(&out, x, w, co: co, ci: ci, b: b, h: h, wd: wd, blockTileRows: tr)
                assertClose(out, naive, 1e-12, "winograd \(h)x\(wd) blocks of \(tr) tile rows")
            }
            // Float32: within a few ulp of the sums (|terms| <= 1, 18 terms)
            var outF = [Float](repeating: .nan, count: co * b * h * wd)
            winogradConv(&outF, x.map(Float.init), w.map(Float.init), co: co, ci: ci, b: b, h: h, wd: wd, blockTileRows: th)
            assertClose(outF.map(Double.init), naive, 1e-5, "winograd Float32 \(h)x\(wd)")
        }
    }

    func testWinogradBackwardMatchesIm2col() {
        let (co, ci, b) = (3, 2, 2)
        for (h, wd) in Self.winogradShapes {
            let th = winogradTiles(height: h, width: wd).rows, n = b * h * wd
            let x = Self.random(ci * n, seed: 23), w = Self.random(co * ci * 9, seed: 24), dOut = Self.random(co * n, seed: 25)
            var dInRef = [Double](repeating: 0, count: ci * n), dWRef = [Double](repeating: 0, count: co * ci * 9)
            var col = [Double](repeating: 0, count: ci * 9 * n), dcol = col
            conv2dBackward(dIn: &dInRef, dW: &dWRef, dOut: dOut, inp: x, w: w, col: &col, dcol: &dcol,
                           cout: co, cin: ci, samples: b, height: h, width: wd, kernel: 3)
            for tr in Set([1, 2, th]) {
                var dIn = [Double](repeating: 0, count: ci * n), dW = [Double](repeating: 0, count: co * ci * 9)
                winogradConvBackward(dIn: &dIn, dW: &dW, dOut: dOut, x, w, co: co, ci: ci, b: b, h: h, wd: wd, blockTileRows: tr)
                assertClose(dIn, dInRef, 1e-12, "winograd dIn \(h)x\(wd) blocks of \(tr)")
                assertClose(dW, dWRef, 1e-12, "winograd dW \(h)x\(wd) blocks of \(tr)")
            }
        }
    }

    func testWinogradGradient() {
        let (co, ci, b) = (3, 2, 2)
        for (h, wd) in [(5, 4), (3, 7)] {
            gradCheck("winograd \(h)x\(wd)", inputs: [Self.random(ci * b * h * wd, seed: 26), Self.random(co * ci * 9, seed: 27)],
                      outCount: co * b * h * wd,
                      forward: { i, o in self.winogradConv(o, i[0], i[1], co: co, ci: ci, b: b, h: h, wd: wd, blockTileRows: 2) },
                      backward: { i, d, g in self.winogradConvBackward(dIn: g[0], dW: g[1], dOut: d, i[0], i[1],
                                                                       co: co, ci: ci, b: b, h: h, wd: wd, blockTileRows: 2) })
        }
    }
}
