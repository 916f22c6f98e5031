import Kernels
#if canImport(Glibc)
import Glibc
#endif

/// Owns buffers allocated once per network (zero-filled) and frees them together.
/// Counts elements per purpose so the memory estimate can be checked against
/// what the model really holds.
///
/// Buffers are carved one after another (64-byte aligned) out of large slabs
/// mapped on 2 MB boundaries and advised for transparent huge pages. With one
/// malloc per buffer, every large buffer started at the same offset within a
/// page and landed on whatever physical pages the run got: the hot loops, which
/// stream 6-10 such buffers at once, ran 15-25% slower in some runs than in
/// others (cache-set conflicts and TLB misses). Only touched pages count in RSS.
final class Arena<T: KernelScalar> {
    private var slabs: [(base: UnsafeMutableRawPointer, bytes: Int)] = []
    private var used = 0  // bytes used in the last slab
    /// Elements held for backward through time (activation caches).
    private(set) var cacheCount = 0
    /// Elements of per-frame scratch, reused every step.
    private(set) var scratchCount = 0

    enum Purpose { case cache, scratch }

    static var slabBytes: Int { 64 << 20 }
    static var hugePage: Int { 2 << 20 }

    func make(_ n: Int, _ purpose: Purpose) -> UnsafeMutablePointer<T> {
        let count = max(n, 1)
        let bytes = (count * MemoryLayout<T>.stride + 63) & ~63
        if slabs.isEmpty || used + bytes > slabs[slabs.count - 1].bytes {
            let size = max(Self.slabBytes, (bytes + Self.hugePage - 1) / Self.hugePage * Self.hugePage)
            slabs.append((Self.mapSlab(size), size))
            used = 0
        }
        let p = (slabs[slabs.count - 1].base + used).bindMemory(to: T.self, capacity: count)
        used += bytes
        p.initialize(repeating: 0, count: count)
        switch purpose {
        case .cache: cacheCount += n
        case .scratch: scratchCount += n
        }
        return p
    }

    /// `size` bytes on a 2 MB boundary, advised for huge pages where the
    /// system offers them (madvise mode); plain pages otherwise.
    private static func mapSlab(_ size: Int) -> UnsafeMutableRawPointer {
        #if canImport(Glibc)
        // over-map by one huge page and trim, so the slab starts on a 2 MB boundary
        let total = size + hugePage
        guard let raw = mmap(nil, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
            fatalError("out of memory: mapping \(total >> 20) MiB for the model's buffers")
        }
        let start = (Int(bitPattern: raw) + hugePage - 1) & ~(hugePage - 1)
        let head = start - Int(bitPattern: raw), tail = total - head - size
        if head > 0 { munmap(raw, head) }
        if tail > 0 { munmap(UnsafeMutableRawPointer(bitPattern: start + size), tail) }
        let base = UnsafeMutableRawPointer(bitPattern: start)!
        _ = madvise(base, size, MADV_HUGEPAGE)
        return base
        #else
        return UnsafeMutableRawPointer.allocate(byteCount: size, alignment: hugePage)
        #endif
    }

    deinit {
        for s in slabs {
            #if canImport(Glibc)
            munmap(s.base, s.bytes)
            #else
            s.base.deallocate()
            #endif
        }
    }
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
