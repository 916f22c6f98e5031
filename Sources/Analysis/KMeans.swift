import Foundation
import Kernels

/// k-means of n points in d dimensions (row-major `[n, d]`, Euclidean).
///
/// Each restart starts from k-means++ seeding with greedy local trials
/// (Arthur & Vassilvitskii 2007; 2 + floor(ln k) candidates per center, the
/// one that lowers the potential most is kept, as scikit-learn does), then
/// runs Lloyd iterations until no label changes (at most `maxIterations`).
/// A cluster left empty takes the point farthest from its center. Restart r
/// draws from `CounterRNG(seed, stream "kmeans-restart-<r>")`, so results are
/// a pure function of (data, k, seed, restarts). The restart with the lowest
/// inertia wins (the earliest on a tie).
public struct KMeans: Sendable {
    public let k: Int
    public let restarts: Int
    public let seed: UInt64
    public let maxIterations: Int

    public init(k: Int, restarts: Int = 10, seed: UInt64 = 0, maxIterations: Int = 300) {
        precondition(k >= 1 && restarts >= 1 && maxIterations >= 1)
        self.k = k
        self.restarts = restarts
        self.seed = seed
        self.maxIterations = maxIterations
    }

    public struct Result: Sendable {
        /// Cluster of each point, numbered in order of first appearance (point 0 is in cluster 0).
        public var labels: [Int]
        /// `[k, d]`, in the same numbering.
        public var centers: [Double]
        /// Sum of squared distances of the points to their centers.
        public var inertia: Double
        public var iterations: Int
    }

    /// The best restart, and every restart's result (for stability scores).
    public func fit(_ x: [Double], count n: Int, dimension d: Int) -> (best: Result, all: [Result]) {
        precondition(x.count == n * d && n >= k, "k-means needs at least k points")
        var all: [Result] = []
        for r in 0 ..< restarts {
            var rng = CounterRNG(seed: seed, streamName: "kmeans-restart-\(r)")
            all.append(Self.lloyd(x, n: n, d: d, centers: Self.seed(x, n: n, d: d, k: k, rng: &rng), k: k, maxIterations: maxIterations))
        }
        var best = 0
        for r in 1 ..< all.count where all[r].inertia < all[best].inertia { best = r }
        return (all[best], all)
    }

    @inline(__always)
    static func distance2(_ x: [Double], _ i: Int, _ c: [Double], _ j: Int, _ d: Int) -> Double {
        var s = 0.0
        for e in 0 ..< d {
            let t = x[i * d + e] - c[j * d + e]
            s += t * t
        }
        return s
    }

    /// k-means++ with greedy local trials.
    static func seed(_ x: [Double], n: Int, d: Int, k: Int, rng: inout CounterRNG) -> [Double] {
        var centers = [Double](repeating: 0, count: k * d)
        let trials = 2 + Int(log(Double(k)).rounded(.down))
        let first = rng.nextInt(below: n)
        for e in 0 ..< d { centers[e] = x[first * d + e] }
        var closest = (0 ..< n).map { distance2(x, $0, centers, 0, d) }
        for c in 1 ..< k {
            let potential = closest.reduce(0, +)
            var bestCandidate = -1
            var bestPotential = Double.infinity
            var bestClosest: [Double] = []
            for _ in 0 ..< trials {
                // Sample a point with probability proportional to its squared distance.
                var candidate = n - 1
                if potential > 0 {
                    let r = rng.nextUnitDouble() * potential
                    var acc = 0.0
                    for i in 0 ..< n {
                        acc += closest[i]
                        if acc > r { candidate = i; break }
                    }
                } else {
                    candidate = rng.nextInt(below: n)
                }
                var trial = closest
                var sum = 0.0
                for i in 0 ..< n {
                    var s = 0.0
                    for e in 0 ..< d {
                        let t = x[i * d + e] - x[candidate * d + e]
                        s += t * t
                    }
                    trial[i] = min(trial[i], s)
                    sum += trial[i]
                }
                if sum < bestPotential { bestPotential = sum; bestCandidate = candidate; bestClosest = trial }
            }
            for e in 0 ..< d { centers[c * d + e] = x[bestCandidate * d + e] }
            closest = bestClosest
        }
        return centers
    }

    static func lloyd(_ x: [Double], n: Int, d: Int, centers start: [Double], k: Int, maxIterations: Int) -> Result {
        var centers = start
        var labels = [Int](repeating: -1, count: n)
        var iterations = 0
        while iterations < maxIterations {
            iterations += 1
            var changed = false
            for i in 0 ..< n {
                var best = 0
                var bestD = distance2(x, i, centers, 0, d)
                for j in 1 ..< k {
                    let dj = distance2(x, i, centers, j, d)
                    if dj < bestD { bestD = dj; best = j }
                }
                if labels[i] != best { labels[i] = best; changed = true }
            }
            if !changed && iterations > 1 { break }
            updateCenters(x, n: n, d: d, k: k, labels: &labels, centers: &centers)
        }
        // Number clusters by first appearance.
        var map = [Int](repeating: -1, count: k)
        var next = 0
        for l in labels where map[l] < 0 { map[l] = next; next += 1 }
        for j in 0 ..< k where map[j] < 0 { map[j] = next; next += 1 }
        var renumbered = [Double](repeating: 0, count: k * d)
        for j in 0 ..< k { for e in 0 ..< d { renumbered[map[j] * d + e] = centers[j * d + e] } }
        let final = labels.map { map[$0] }
        var inertia = 0.0
        for i in 0 ..< n { inertia += distance2(x, i, renumbered, final[i], d) }
        return Result(labels: final, centers: renumbered, inertia: inertia, iterations: iterations)
    }

    /// Centers = means of their points; an empty cluster takes the point farthest from its center.
    static func updateCenters(_ x: [Double], n: Int, d: Int, k: Int, labels: inout [Int], centers: inout [Double]) {
        var sums = [Double](repeating: 0, count: k * d)
        var counts = [Int](repeating: 0, count: k)
        for i in 0 ..< n {
            counts[labels[i]] += 1
            for e in 0 ..< d { sums[labels[i] * d + e] += x[i * d + e] }
        }
        for j in 0 ..< k where counts[j] == 0 {
            var far = 0
            var farD = -1.0
            for i in 0 ..< n where counts[labels[i]] > 1 {
                let di = distance2(x, i, centers, labels[i], d)
                if di > farD { farD = di; far = i }
            }
            let old = labels[far]
            counts[old] -= 1
            for e in 0 ..< d { sums[old * d + e] -= x[far * d + e]; sums[j * d + e] = x[far * d + e] }
            counts[j] = 1
            labels[far] = j
        }
        for j in 0 ..< k { for e in 0 ..< d { centers[j * d + e] = sums[j * d + e] / Double(counts[j]) } }
    }
}
