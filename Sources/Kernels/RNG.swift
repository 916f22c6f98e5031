/// Counter-based randomness: every random number is a pure function of
/// (seed, stream, index), so nothing depends on the rank, the number of ranks,
/// or the order in which things are drawn.
///
/// The mixer is SplitMix64's finalizer (Steele, Lea, Flood 2014), applied to
/// a Weyl sequence position; `stream` keys independent sequences (a parameter
/// name, an epoch, ...).
public struct CounterRNG: Sendable {
    public let seed: UInt64
    public let stream: UInt64
    public private(set) var counter: UInt64 = 0

    public init(seed: UInt64, stream: UInt64 = 0) {
        self.seed = seed
        self.stream = stream
    }

    /// A stream keyed by text, e.g. a parameter's spec name (FNV-1a hash).
    public init(seed: UInt64, streamName: String) {
        self.init(seed: seed, stream: CounterRNG.hash(streamName))
    }

    @inline(__always)
    public static func mix(_ z0: UInt64) -> UInt64 {
        var z = z0 &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The value at position `index` of stream (seed, stream), without state.
    @inline(__always)
    public static func value(seed: UInt64, stream: UInt64, index: UInt64) -> UInt64 {
        mix(mix(seed ^ mix(stream)) &+ index &* 0x9E37_79B9_7F4A_7C15)
    }

    public static func hash(_ s: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    public mutating func next() -> UInt64 {
        defer { counter &+= 1 }
        return CounterRNG.value(seed: seed, stream: stream, index: counter)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUnitDouble() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Uniform in [lo, hi).
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double {
        lo + (hi - lo) * nextUnitDouble()
    }

    /// Uniform integer in 0 ..< n (n > 0), by rejection: no modulo bias.
    public mutating func nextInt(below n: Int) -> Int {
        precondition(n > 0)
        let bound = UInt64(n)
        let limit = UInt64.max - UInt64.max % bound
        while true {
            let r = next()
            if r < limit { return Int(r % bound) }
        }
    }

    /// Standard normal (Box-Muller), for synthetic data and tests.
    public mutating func normal() -> Double {
        let u1 = max(nextUnitDouble(), 0x1.0p-60)
        let u2 = nextUnitDouble()
        return (-2 * _logD(u1)).squareRoot() * _cosD(2 * Double.pi * u2)
    }
}

import RealModule
@inline(__always) private func _logD(_ x: Double) -> Double { Double.log(x) }
@inline(__always) private func _cosD(_ x: Double) -> Double { Double.cos(x) }

/// A permutation of 0..<n that is a pure function of (seed, stream):
/// Fisher-Yates driven by a counter RNG.
public func seededPermutation(count n: Int, seed: UInt64, stream: UInt64) -> [Int] {
    var perm = Array(0..<n)
    var rng = CounterRNG(seed: seed, stream: stream)
    if n > 1 {
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = rng.nextInt(below: i + 1)
            perm.swapAt(i, j)
        }
    }
    return perm
}
