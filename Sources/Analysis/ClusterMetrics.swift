/// Cluster quality scores of a labelling of n points `[n, d]` (Euclidean),
/// defined as scikit-learn defines them (scripts/test-analysis.sh checks
/// them against scikit-learn), computed in Double.
public enum ClusterMetrics {
    /// Mean silhouette: for point i, a = mean distance to the other points of
    /// its cluster, b = the smallest mean distance to the points of another
    /// cluster, s = (b - a) / max(a, b), and s = 0 for a point alone in its
    /// cluster. Needs 2 <= clusters <= n - 1 (else NaN). O(n^2 d).
    public static func silhouette(_ x: [Double], count n: Int, dimension d: Int, labels: [Int]) -> Double {
        let k = (labels.max() ?? -1) + 1
        let sizes = counts(labels, k)
        let present = sizes.filter { $0 > 0 }.count
        guard present >= 2 && present <= n - 1 else { return .nan }
        var total = 0.0
        var sums = [Double](repeating: 0, count: k)
        for i in 0 ..< n {
            for j in 0 ..< k { sums[j] = 0 }
            for j in 0 ..< n where j != i {
                var s = 0.0
                for e in 0 ..< d {
                    let t = x[i * d + e] - x[j * d + e]
                    s += t * t
                }
                sums[labels[j]] += s.squareRoot()
            }
            let own = labels[i]
            guard sizes[own] > 1 else { continue }  // s(i) = 0
            let a = sums[own] / Double(sizes[own] - 1)
            var b = Double.infinity
            for c in 0 ..< k where c != own && sizes[c] > 0 { b = min(b, sums[c] / Double(sizes[c])) }
            let m = max(a, b)
            total += m > 0 ? (b - a) / m : 0
        }
        return total / Double(n)
    }

    /// Davies-Bouldin: s_c = mean distance of cluster c's points to its
    /// centroid; mean over clusters of max over other clusters (s_c + s_c') / |m_c - m_c'|
    /// (a zero centroid distance counts as infinite: that pair adds 0). Lower is better.
    public static func daviesBouldin(_ x: [Double], count n: Int, dimension d: Int, labels: [Int]) -> Double {
        let (centroids, sizes, k) = self.centroids(x, n: n, d: d, labels: labels)
        guard sizes.filter({ $0 > 0 }).count >= 2 else { return .nan }
        var spread = [Double](repeating: 0, count: k)
        for i in 0 ..< n { spread[labels[i]] += distance(x, i, centroids, labels[i], d).squareRoot() }
        for c in 0 ..< k where sizes[c] > 0 { spread[c] /= Double(sizes[c]) }
        var total = 0.0
        var anyDistance = false
        for c in 0 ..< k where sizes[c] > 0 {
            var worst = 0.0
            for c2 in 0 ..< k where c2 != c && sizes[c2] > 0 {
                let m = distance(centroids, c, centroids, c2, d).squareRoot()
                if m > 0 { worst = max(worst, (spread[c] + spread[c2]) / m); anyDistance = true }
            }
            total += worst
        }
        if !anyDistance || spread.allSatisfy({ $0 == 0 }) { return 0 }
        return total / Double(sizes.filter { $0 > 0 }.count)
    }

    /// Calinski-Harabasz: [sum_c n_c |m_c - m|^2 / (k - 1)] / [sum_i |x_i - m_c(i)|^2 / (n - k)];
    /// 1 when every point sits on its centroid. Higher is better.
    public static func calinskiHarabasz(_ x: [Double], count n: Int, dimension d: Int, labels: [Int]) -> Double {
        let (centroids, sizes, k0) = self.centroids(x, n: n, d: d, labels: labels)
        let k = sizes.filter { $0 > 0 }.count
        guard k >= 2 && n > k else { return .nan }
        var mean = [Double](repeating: 0, count: d)
        for i in 0 ..< n { for e in 0 ..< d { mean[e] += x[i * d + e] } }
        for e in 0 ..< d { mean[e] /= Double(n) }
        var between = 0.0, within = 0.0
        for c in 0 ..< k0 where sizes[c] > 0 { between += Double(sizes[c]) * distance(centroids, c, mean, 0, d) }
        for i in 0 ..< n { within += distance(x, i, centroids, labels[i], d) }
        return within == 0 ? 1 : between * Double(n - k) / (within * Double(k - 1))
    }

    /// Adjusted Rand index of two labellings (Hubert & Arabie 1985), from the
    /// pair confusion matrix as scikit-learn computes it: 1 for identical
    /// partitions (up to renaming), about 0 for independent ones.
    public static func adjustedRandIndex(_ a: [Int], _ b: [Int]) -> Double {
        precondition(a.count == b.count)
        let n = a.count
        var table: [Int: Int] = [:]
        var rows: [Int: Int] = [:], cols: [Int: Int] = [:]
        for i in 0 ..< n {
            table[a[i] &* 1_000_003 &+ b[i], default: 0] += 1
            rows[a[i], default: 0] += 1
            cols[b[i], default: 0] += 1
        }
        // Ordered pairs in the same cluster of both (tp), of a only (fn), of b only (fp), of neither (tn).
        let squares = table.values.reduce(0.0) { $0 + Double($1) * Double($1) }
        let sumA = rows.values.reduce(0.0) { $0 + Double($1) * Double($1) }
        let sumB = cols.values.reduce(0.0) { $0 + Double($1) * Double($1) }
        let tp = squares - Double(n)
        let fn = sumA - squares
        let fp = sumB - squares
        let tn = Double(n) * Double(n) - fp - fn - squares
        if fn == 0 && fp == 0 { return 1 }
        return 2 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))
    }

    /// Mean ARI over all pairs of labellings (NaN for fewer than two).
    public static func meanPairwiseARI(_ labellings: [[Int]]) -> Double {
        guard labellings.count >= 2 else { return .nan }
        var total = 0.0, pairs = 0.0
        for i in 0 ..< labellings.count {
            for j in i + 1 ..< labellings.count {
                total += adjustedRandIndex(labellings[i], labellings[j])
                pairs += 1
            }
        }
        return total / pairs
    }

    static func counts(_ labels: [Int], _ k: Int) -> [Int] {
        var c = [Int](repeating: 0, count: k)
        for l in labels { c[l] += 1 }
        return c
    }

    static func centroids(_ x: [Double], n: Int, d: Int, labels: [Int]) -> ([Double], [Int], Int) {
        let k = (labels.max() ?? -1) + 1
        let sizes = counts(labels, k)
        var c = [Double](repeating: 0, count: k * d)
        for i in 0 ..< n { for e in 0 ..< d { c[labels[i] * d + e] += x[i * d + e] } }
        for j in 0 ..< k where sizes[j] > 0 { for e in 0 ..< d { c[j * d + e] /= Double(sizes[j]) } }
        return (c, sizes, k)
    }

    @inline(__always)
    static func distance(_ x: [Double], _ i: Int, _ y: [Double], _ j: Int, _ d: Int) -> Double {
        var s = 0.0
        for e in 0 ..< d {
            let t = x[i * d + e] - y[j * d + e]
            s += t * t
        }
        return s
    }
}
