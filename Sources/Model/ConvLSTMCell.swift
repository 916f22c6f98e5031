import Kernels

// The ConvLSTM2D baseline cell (MODEL.md, Keras ConvLSTM2D semantics: tanh,
// sigmoid recurrent activation, "same" padding, no peepholes), forward and
// backward through time side by side.
//
//   G   = Conv_k(X_t; Wx) + Conv_k(H_{t-1}; Wh) + b      (full k x k convs)
//   C_t = sigma(f) C_{t-1} + sigma(i) tanh(g);   H_t = sigma(o) tanh(C_t)
//
// Shapes (N = B*P): X_t [Cin, N]; H_t, C_t [Ch, N]; G [4Ch, N] (i, f, g, o);
// im2col scratch [max(Cin, Ch) k k, N].
// Cached per step t (per sample 6 Ch P floats): the gate activations
// (sigma i, sigma f, tanh g, sigma o), C_t, H_t. The im2col matrices are rebuilt
// in backward from X_t and H_{t-1} (both held anyway).

final class ConvLSTMCell<T: KernelScalar> {
    let geo: Geometry
    let cin, ch, k: Int

    let wx, wh, bias: UnsafeMutablePointer<T>     // [4Ch, Cin, k, k], [4Ch, Ch, k, k], [4Ch]
    let dwx, dwh, dbias: UnsafeMutablePointer<T>

    let cGates, cC, cH: UnsafeMutablePointer<T>   // [T, 4Ch|Ch|Ch, Nmax]
    let zeros: UnsafeMutablePointer<T>            // [Ch, Nmax]
    let col, dcol: UnsafeMutablePointer<T>        // [max(Cin, Ch) k k, Nmax]
    let dHrec, dC: UnsafeMutablePointer<T>        // [Ch, Nmax]
    let dG: UnsafeMutablePointer<T>               // [4Ch, Nmax]

    init(layer l: Int, config c: ModelConfig, geometry: Geometry, views v: ParameterViews<T>, arena: Arena<T>) {
        geo = geometry
        cin = l == 0 ? c.channels : c.hidden
        ch = c.hidden; k = c.kernel
        wx = v.p("conv.wx"); wh = v.p("conv.wh"); bias = v.p("conv.b")
        dwx = v.g("conv.wx"); dwh = v.g("conv.wh"); dbias = v.g("conv.b")
        let n = geometry.maxColumns, steps = geometry.steps
        cGates = arena.make(steps * 4 * ch * n, .cache)
        cC = arena.make(steps * ch * n, .cache)
        cH = arena.make(steps * ch * n, .cache)
        zeros = arena.make(ch * n, .scratch)
        col = arena.make(max(cin, ch) * k * k * n, .scratch)
        dcol = arena.make(max(cin, ch) * k * k * n, .scratch)
        dHrec = arena.make(ch * n, .scratch)
        dC = arena.make(ch * n, .scratch)
        dG = arena.make(4 * ch * n, .scratch)
    }

    @inline(__always) private func slot(_ base: UnsafeMutablePointer<T>, _ t: Int, _ rows: Int) -> UnsafeMutablePointer<T> {
        base + t * rows * geo.maxColumns
    }

    func output(step t: Int) -> UnsafeMutablePointer<T> { slot(cH, t, ch) }

    func forward(step t: Int, input x: UnsafePointer<T>, samples b: Int) {
        let n = b * geo.positions, h = geo.height, w = geo.width
        let gates = slot(cGates, t, 4 * ch), cT = slot(cC, t, ch), hT = slot(cH, t, ch)
        let cPrev: UnsafePointer<T> = t > 0 ? UnsafePointer(slot(cC, t - 1, ch)) : UnsafePointer(zeros)
        conv2dForward(gates, x, wx, col: col, cout: 4 * ch, cin: cin, samples: b, height: h, width: w, kernel: k)
        if t > 0 {
            conv2dForward(gates, slot(cH, t - 1, ch), wh, col: col, cout: 4 * ch, cin: ch, samples: b, height: h, width: w,
                          kernel: k, accumulate: true)
        }
        addRowBias(gates, bias, rows: 4 * ch, n: n)
        for c in 0 ..< ch {
            let gi = gates + c * n, gf = gates + (ch + c) * n, gg = gates + (2 * ch + c) * n, go = gates + (3 * ch + c) * n
            let cp = cPrev + c * n, ct = cT + c * n, ht = hT + c * n
            for j in 0 ..< n {
                let iv = sigmoidScalar(gi[j]), fv = sigmoidScalar(gf[j]), gv = tanhScalar(gg[j]), ov = sigmoidScalar(go[j])
                let cv = fv * cp[j] + iv * gv
                gi[j] = iv; gf[j] = fv; gg[j] = gv; go[j] = ov
                ct[j] = cv
                ht[j] = ov * tanhScalar(cv)
            }
        }
    }

    func beginBackward(samples b: Int) {
        let n = b * geo.positions
        dHrec.initialize(repeating: 0, count: ch * n)
        dC.initialize(repeating: 0, count: ch * n)
    }

    func backward(step t: Int, dH: UnsafeMutablePointer<T>, dInput: UnsafeMutablePointer<T>,
                  input x: UnsafePointer<T>, samples b: Int) {
        let n = b * geo.positions, h = geo.height, w = geo.width
        let gates = slot(cGates, t, 4 * ch), cT = slot(cC, t, ch)
        let cPrev: UnsafePointer<T> = t > 0 ? UnsafePointer(slot(cC, t - 1, ch)) : UnsafePointer(zeros)
        for i in 0 ..< ch * n { dH[i] += dHrec[i] }
        for c in 0 ..< ch {
            let iv = gates + c * n, fv = gates + (ch + c) * n, gv = gates + (2 * ch + c) * n, ov = gates + (3 * ch + c) * n
            let dgi = dG + c * n, dgf = dG + (ch + c) * n, dgg = dG + (2 * ch + c) * n, dgo = dG + (3 * ch + c) * n
            let cp = cPrev + c * n, ct = cT + c * n, dh = dH + c * n, dc = dC + c * n
            for j in 0 ..< n {
                let i = iv[j], f = fv[j], g = gv[j], o = ov[j]
                let tc = tanhScalar(ct[j])
                let dct = dc[j] + dh[j] * o * (1 - tc * tc)
                dgo[j] = dh[j] * tc * o * (1 - o)
                dgi[j] = dct * g * i * (1 - i)
                dgg[j] = dct * i * (1 - g * g)
                dgf[j] = dct * cp[j] * f * (1 - f)
                dc[j] = dct * f
            }
        }
        rowSums(dbias, dG, rows: 4 * ch, n: n)
        dInput.initialize(repeating: 0, count: cin * n)
        conv2dBackward(dIn: dInput, dW: dwx, dOut: dG, inp: x, w: wx, col: col, dcol: dcol,
                       cout: 4 * ch, cin: cin, samples: b, height: h, width: w, kernel: k)
        if t > 0 {
            dHrec.initialize(repeating: 0, count: ch * n)
            conv2dBackward(dIn: dHrec, dW: dwh, dOut: dG, inp: slot(cH, t - 1, ch), w: wh, col: col, dcol: dcol,
                           cout: 4 * ch, cin: ch, samples: b, height: h, width: w, kernel: k)
        }
    }
}
