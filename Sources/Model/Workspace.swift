import Kernels

/// Owns buffers allocated once per network (zero-filled) and frees them together.
/// Counts elements per purpose so the memory estimate can be checked against
/// what the model really holds.
final class Arena<T: KernelScalar> {
    private var blocks: [UnsafeMutablePointer<T>] = []
    /// Elements held for backward through time (activation caches).
    private(set) var cacheCount = 0
    /// Elements of per-frame scratch, reused every step.
    private(set) var scratchCount = 0

    enum Purpose { case cache, scratch }

    func make(_ n: Int, _ purpose: Purpose) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: max(n, 1))
        p.initialize(repeating: 0, count: max(n, 1))
        blocks.append(p)
        switch purpose {
        case .cache: cacheCount += n
        case .scratch: scratchCount += n
        }
        return p
    }

    deinit { for b in blocks { b.deallocate() } }
}

/// Sizes every layer shares: the window and the tile.
struct Geometry {
    let maxSamples: Int  // Bmax
    let steps: Int       // T
    let height: Int      // H
    let width: Int       // W
    var positions: Int { height * width }     // P
    var maxColumns: Int { maxSamples * positions }  // Nmax = Bmax * P
}

/// Named views of one layer's (or the head's) parameters and gradients.
struct ParameterViews<T: KernelScalar> {
    let layout: ParameterLayout
    let params: UnsafeMutablePointer<T>
    let grads: UnsafeMutablePointer<T>
    let prefix: String

    func offset(_ name: String) -> Int {
        guard let e = layout.entry(named: prefix + name) else { preconditionFailure("no parameter \(prefix + name)") }
        return e.offset
    }
    func p(_ name: String) -> UnsafeMutablePointer<T> { params + offset(name) }
    func g(_ name: String) -> UnsafeMutablePointer<T> { grads + offset(name) }
}
