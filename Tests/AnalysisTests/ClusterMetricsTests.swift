import Analysis
import Kernels
import XCTest

/// k-means and the cluster scores against scikit-learn 1.9.1 (values computed
/// with it on the same small arrays; scripts/test-analysis.sh checks the
/// command's printed scores against scikit-learn on real embeddings too).
final class ClusterMetricsTests: XCTestCase {
    // Three blobs and a stray point.
    let x: [Double] = [0, 0, 0.5, 0.2, 0.1, 0.9, 4, 4, 4.5, 3.8, 3.9, 4.6, 8, 0, 8.3, 0.4, 7.6, -0.5, 2, 2]
    let labels = [0, 0, 0, 1, 1, 1, 2, 2, 2, 0]
    let poorLabels = [0, 0, 1, 1, 1, 1, 2, 2, 0, 0]

    func testScoresMatchScikitLearn() {
        // sklearn.metrics.silhouette_score / davies_bouldin_score / calinski_harabasz_score.
        XCTAssertEqual(ClusterMetrics.silhouette(x, count: 10, dimension: 2, labels: labels), 0.7628999501879924, accuracy: 1e-12)
        XCTAssertEqual(ClusterMetrics.daviesBouldin(x, count: 10, dimension: 2, labels: labels), 0.25603264458216773, accuracy: 1e-12)
        XCTAssertEqual(ClusterMetrics.calinskiHarabasz(x, count: 10, dimension: 2, labels: labels), 68.58603561387064, accuracy: 1e-10)
        XCTAssertEqual(ClusterMetrics.silhouette(x, count: 10, dimension: 2, labels: poorLabels), 0.2361067404764107, accuracy: 1e-12)
        XCTAssertEqual(ClusterMetrics.daviesBouldin(x, count: 10, dimension: 2, labels: poorLabels), 1.2725683625490667, accuracy: 1e-12)
        XCTAssertEqual(ClusterMetrics.calinskiHarabasz(x, count: 10, dimension: 2, labels: poorLabels), 3.8801381692573407, accuracy: 1e-12)
    }

    func testAdjustedRandIndexMatchesScikitLearn() {
        // sklearn.metrics.adjusted_rand_score.
        XCTAssertEqual(ClusterMetrics.adjustedRandIndex([0, 0, 1, 1], [0, 0, 1, 2]), 0.5714285714285714, accuracy: 1e-15)
        XCTAssertEqual(ClusterMetrics.adjustedRandIndex([0, 0, 0, 0], [0, 1, 2, 3]), 0, accuracy: 1e-15)
        XCTAssertEqual(ClusterMetrics.adjustedRandIndex([0, 0, 1, 1, 2, 2, 2], [1, 1, 0, 0, 0, 2, 2]), 0.475, accuracy: 1e-15)
        XCTAssertEqual(ClusterMetrics.adjustedRandIndex([0, 1, 0, 1], [1, 1, 0, 0]), -0.5, accuracy: 1e-15)
        // Renaming clusters changes nothing.
        XCTAssertEqual(ClusterMetrics.adjustedRandIndex(labels, labels.map { (2 - $0) * 7 }), 1)
        XCTAssertEqual(ClusterMetrics.meanPairwiseARI([labels, labels, labels.map { $0 + 1 }]), 1)
    }

    /// Well-separated Gaussian blobs: the best restart finds them (a restart
    /// can still end in a local minimum with two blobs merged: hence restarts);
    /// labels are numbered by first appearance; the same seed gives the same result.
    func testKMeansRecoversBlobs() {
        var rng = CounterRNG(seed: 9, streamName: "blobs")
        let centers: [[Double]] = [[0, 0, 0], [6, 0, 1], [0, 7, -2], [5, 5, 5]]
        var points: [Double] = [], truth: [Int] = []
        for i in 0 ..< 200 {
            let c = (i * 7 + i / 13) % 4
            truth.append(c)
            for e in 0 ..< 3 { points.append(centers[c][e] + 0.5 * rng.normal()) }
        }
        let km = KMeans(k: 4, restarts: 5, seed: 3)
        let (best, all) = km.fit(points, count: 200, dimension: 3)
        XCTAssertEqual(ClusterMetrics.adjustedRandIndex(best.labels, truth), 1)
        XCTAssertEqual(best.labels[0], 0)
        XCTAssertTrue(all.allSatisfy { $0.inertia >= best.inertia })
        XCTAssertGreaterThanOrEqual(all.filter { ClusterMetrics.adjustedRandIndex($0.labels, truth) == 1 }.count, 3)
        let again = km.fit(points, count: 200, dimension: 3).best
        XCTAssertEqual(again.labels, best.labels)
        XCTAssertEqual(again.inertia, best.inertia)
        // Inertia is the sum of squared distances to the centers.
        var inertia = 0.0
        for i in 0 ..< 200 { for e in 0 ..< 3 { let d = points[i * 3 + e] - best.centers[best.labels[i] * 3 + e]; inertia += d * d } }
        XCTAssertEqual(best.inertia, inertia, accuracy: 1e-9 * inertia)
    }

    /// More clusters than distinct points: empty clusters are refilled, no crash, no NaN.
    func testKMeansWithDuplicatePoints() {
        let points: [Double] = [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
        let (best, _) = KMeans(k: 3, restarts: 3, seed: 1).fit(points, count: 10, dimension: 1)
        XCTAssertTrue(best.centers.allSatisfy(\.isFinite))
        XCTAssertEqual(Set(best.labels).count, 3)
        XCTAssertEqual(best.inertia, 0, accuracy: 1e-12)
    }
}
