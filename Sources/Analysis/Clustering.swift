import Foundation
import NetCDF
import Training

/// `cluster`: k-means regimes of an embeddings file, one label per time step.
///
/// With several tiles, the feature vector of a step is the concatenation of
/// all its tiles' embeddings (tile row-major, then component): a regime is a
/// state of the whole domain at one time, which is what is correlated with
/// indices and compared across models. Features are the raw z_t components
/// (no standardization: the model's embedding space is used as it is).
public struct Clustering: Sendable {
    public let input: EmbeddingFile
    public let kmeans: KMeans
    public let best: KMeans.Result
    public let restartLabels: [[Int]]
    public let restartInertia: [Double]
    public let silhouette: Double
    public let daviesBouldin: Double
    public let calinskiHarabasz: Double
    /// Mean adjusted Rand index between the labellings of all pairs of restarts.
    public let stability: Double

    public init(_ input: EmbeddingFile, k: Int, restarts: Int, seed: UInt64) throws {
        guard k >= 2 else { throw RunError("-k: \(k) clusters; need at least 2", exitCode: .badInput) }
        guard input.count > k else {
            throw RunError("--embeddings: \(input.count) time steps cannot make \(k) clusters (need more steps than clusters)", exitCode: .badInput)
        }
        guard input.features.allSatisfy(\.isFinite) else {
            throw RunError("--embeddings: z holds NaN or infinite values", exitCode: .badInput)
        }
        self.input = input
        kmeans = KMeans(k: k, restarts: restarts, seed: seed)
        let n = input.count, d = input.featureCount, x = input.features
        let fit = kmeans.fit(x, count: n, dimension: d)
        best = fit.best
        restartLabels = fit.all.map(\.labels)
        restartInertia = fit.all.map(\.inertia)
        silhouette = ClusterMetrics.silhouette(x, count: n, dimension: d, labels: best.labels)
        daviesBouldin = ClusterMetrics.daviesBouldin(x, count: n, dimension: d, labels: best.labels)
        calinskiHarabasz = ClusterMetrics.calinskiHarabasz(x, count: n, dimension: d, labels: best.labels)
        stability = ClusterMetrics.meanPairwiseARI(restartLabels)
    }

    public var sizes: [Int] { ClusterMetrics.counts(best.labels, kmeans.k) }

    /// What `cluster` prints.
    public var report: String {
        func f(_ x: Double) -> String { x.isFinite ? String(format: "%.9g", x) : "n/a" }
        return """
            cluster: \(input.count) time steps, \(input.featureCount) features (\(input.tiles) tile\(input.tiles == 1 ? "" : "s") x \(input.dim) components), k = \(kmeans.k), \(kmeans.restarts) restarts, seed \(kmeans.seed)
            inertia \(f(best.inertia)) (best of \(kmeans.restarts) restarts)
            silhouette \(f(silhouette))
            davies_bouldin \(f(daviesBouldin))
            calinski_harabasz \(f(calinskiHarabasz))
            stability (mean ARI between restarts) \(f(stability))
            cluster sizes \(sizes.map(String.init).joined(separator: " "))
            """
    }

    /// Writes the labels file (docs/outputs.md, "cluster").
    public func write(to target: OutputTarget, embeddingsPath: String) throws {
        let n = input.count, d = input.featureCount, k = kmeans.k
        try target.write { file in
            let root = file.root
            try OutputAttributes.write(root, title: "k-means regimes of FAConvLSTM embeddings", command: OutputAttributes.commandLine, session: nil, extra: [
                ("embeddings", embeddingsPath), ("k", String(k)), ("restarts", String(kmeans.restarts)), ("seed", String(kmeans.seed)),
                ("features", "z of every tile of a step, concatenated (\(input.tiles) tile(s) x \(input.dim) components), unscaled"),
                ("initialization", "k-means++ with greedy local trials; Lloyd iterations until no label changes; best inertia of the restarts"),
            ])
            for (key, value) in [("inertia", best.inertia), ("silhouette", silhouette), ("davies_bouldin", daviesBouldin),
                                 ("calinski_harabasz", calinskiHarabasz), ("stability_mean_ari", stability)] {
                try root.setAttribute(key, .doubles([value]))
            }
            let tv = try input.time.define(in: root, name: "time")
            try root.defineDimension("cluster", length: k)
            try root.defineDimension("feature", length: d)
            try root.defineDimension("restart", length: kmeans.restarts)
            let lv = try root.defineVariable("label", type: .int, dimensions: ["time"])
            try lv.setAttribute("long_name", .text("k-means cluster (regime) of the time step, numbered by first appearance"))
            try lv.setAttribute("flag_values", .ints((0 ..< k).map { Int32($0) }))
            let dv = try root.defineVariable("distance", type: .double, dimensions: ["time"])
            try dv.setAttribute("long_name", .text("Euclidean distance of the step's features to its cluster center"))
            let cv = try root.defineVariable("center", type: .double, dimensions: ["cluster", "feature"])
            try cv.setAttribute("long_name", .text("cluster centers in feature space"))
            let rv = try root.defineVariable("restart_label", type: .int, dimensions: ["restart", "time"])
            try rv.setAttribute("long_name", .text("labels found by each restart (the stability score compares them)"))
            let iv = try root.defineVariable("restart_inertia", type: .double, dimensions: ["restart"])
            try iv.setAttribute("long_name", .text("inertia of each restart"))
            var fv: NetCDFVariable? = nil
            if input.frames != nil {
                fv = try root.defineVariable("frame", type: .int, dimensions: ["time"])
                try fv!.setAttribute("long_name", .text("0-based frame index in the dataset"))
            }
            try input.time.write(tv)
            try lv.writeAll(best.labels.map { Int32($0) })
            try dv.writeAll((0 ..< n).map { KMeans.distance2(input.features, $0, best.centers, best.labels[$0], d).squareRoot() })
            try cv.writeAll(best.centers)
            try rv.writeAll(restartLabels.flatMap { $0.map { Int32($0) } })
            try iv.writeAll(restartInertia)
            if let fv, let frames = input.frames { try fv.writeAll(frames) }
        }
    }
}
