import ArgumentParser
import Foundation
import Kernels
import Model

extension Bench {
    /// Times one kernel alone at the shapes of one FAConvLSTM layer-step of the
    /// configured model and window (N = B H W columns): whole-step timings on a
    /// shared machine cannot resolve a few percent, a kernel in a loop can.
    ///   gates-forward   fusedGatesForward: G = Wg Mt (per channel and chunk) + the gate math
    ///   gates-backward  lstmGatesBackward with the cached tanh(C_t), from stored gates,
    ///                   by the cell's column chunks (gateChunk) into a chunk-sized dG
    ///   gates-recompute the same, the chunk's gates recomputed from Mt first
    ///                   (fusedGatesRecompute) and dG written over them
    ///   gate-chunk      the cell's chunk loop: gates-backward, then dWg += dG Mt^T and dMt = Wg^T dG
    /// --warmup untimed and --iterations timed rounds of 20 calls; median and best ms per call.
    func runKernel(_ name: String) throws {
        let c = try model.resolve()
        let ch = c.hidden, r = c.resolvedBottleneck, n = window.samples * window.height * window.width
        var rng = CounterRNG(seed: seed)
        func buffer(_ count: Int, _ lo: Float, _ hi: Float) -> UnsafeMutablePointer<Float> {
            // 64-byte aligned rows, as the model's arena gives them
            let p = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: Float.self, capacity: count)
            for i in 0 ..< count { p[i] = Float(rng.uniform(Double(lo), Double(hi))) }
            return p
        }
        let mt = buffer(r * n, -1, 1), wg = buffer(4 * ch * r, -0.5, 0.5), bias = buffer(4 * ch, -0.1, 0.1)
        let peep = buffer(3 * ch, -0.1, 0.1), cPrev = buffer(ch * n, -2, 2)
        let gates = buffer(4 * ch * n, 0, 1), cT = buffer(ch * n, -2, 2), hT = buffer(ch * n, 0, 0), tanhC = buffer(ch * n, -1, 1)
        let dG = buffer(4 * ch * n, 0, 0), dC = buffer(ch * n, -1, 1), dH = buffer(ch * n, -1, 1), dBias = buffer(7 * ch, 0, 0)
        var call: () -> Void
        switch name {
        case "gates-forward":
            call = {
                fusedGatesForward(gates: gates, c: cT, h: hT, cPrev: cPrev, mt: mt, wg: wg, bias: bias, pi: peep, pf: peep + ch,
                                  po: peep + 2 * ch, channels: ch, rank: r, n: n, tanhC: tanhC)
            }
        case "gates-backward", "gates-recompute", "gate-chunk":
            fusedGatesForward(gates: gates, c: cT, h: hT, cPrev: cPrev, mt: mt, wg: wg, bias: bias, pi: peep, pf: peep + ch,
                              po: peep + 2 * ch, channels: ch, rank: r, n: n, tanhC: tanhC)
            let dC0 = buffer(ch * n, 0, 0), dWg = buffer(4 * ch * r, 0, 0), dMt = buffer(r * n, 0, 0)
            dC0.update(from: dC, count: ch * n)
            let recompute = name == "gates-recompute", products = name == "gate-chunk"
            call = {
                dC.update(from: dC0, count: ch * n)   // the kernel overwrites dC: same input every call
                for j0 in stride(from: 0, to: n, by: gateChunk) {
                    let len = min(gateChunk, n - j0)
                    if recompute {
                        fusedGatesRecompute(gates: dG, ldGates: len, cPrev: cPrev + j0, ld: n, mt: mt + j0, ldMt: n, wg: wg, bias: bias,
                                            pi: peep, pf: peep + ch, po: peep + 2 * ch, channels: ch, rank: r, count: len)
                    }
                    lstmGatesBackward(dG: dG, dC: dC + j0, dH: dH + j0, gates: recompute ? dG : gates + j0, c: cT + j0,
                                      cPrev: cPrev + j0, pi: peep, pf: peep + ch, po: peep + 2 * ch,
                                      dpi: dBias + 4 * ch, dpf: dBias + 5 * ch, dpo: dBias + 6 * ch, dBias: dBias,
                                      channels: ch, count: len, ld: n, ldG: len, ldGates: recompute ? len : n, tanhC: tanhC + j0)
                    if products {
                        gemmLongK(m: 4 * ch, n: r, k: len, alpha: 1, a: dG, lda: len, b: mt + j0, ldb: n, beta: 1, c: dWg, ldc: r)
                        gemmWide(transA: true, m: r, n: len, k: 4 * ch, alpha: 1, a: wg, lda: r, b: dG, ldb: len, beta: 0,
                                 c: dMt + j0, ldc: n)
                    }
                }
            }
        default:
            throw ValidationError("--kernel: unknown kernel '\(name)' (gates-forward, gates-backward, gates-recompute, gate-chunk)")
        }
        let clock = ContinuousClock()
        var times: [Double] = []
        let callsPerRound = 20
        for i in 0 ..< warmup + iterations {
            let t0 = clock.now
            for _ in 0 ..< callsPerRound { call() }
            let d = (clock.now - t0).components
            if i >= warmup { times.append((Double(d.seconds) + Double(d.attoseconds) * 1e-18) / Double(callsPerRound)) }
        }
        var checksum = 0.0
        for i in stride(from: 0, to: ch * n, by: 7) { checksum += Double(hT[i]) + Double(dC[i]) }
        let median = times.sorted()[times.count / 2], best = times.min()!
        print(String(format: "kernel %@, Ch %d, r %d, N %d: median %.3f ms, best %.3f ms per call (checksum %.6e)",
                     name, ch, r, n, median * 1e3, best * 1e3, checksum))
    }
}
