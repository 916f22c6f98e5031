import Analysis
import ArgumentParser
import Foundation
import Training

/// `faconvlstm cluster`: k-means regimes of the embeddings.
struct Cluster: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cluster the embeddings of `embed` into K regimes (k-means) and score the clustering.",
        discussion: """
            One label per time step: with several tiles, a step's tile embeddings are
            concatenated. k-means++ seeding, several seeded restarts, the lowest
            inertia wins. Prints silhouette, Davies-Bouldin and Calinski-Harabasz
            scores and the stability of the labels across restarts (mean adjusted Rand
            index between restarts). See docs/outputs.md.

              faconvlstm cluster --embeddings emb.nc -k 4 --restarts 20 --seed 1 --output labels.nc
            """)

    @Option(help: "Embeddings file written by `faconvlstm embed`.") var embeddings: String
    @Option(name: .customShort("k"), help: "Number of clusters.") var k: Int
    @Option(help: "k-means restarts (the best inertia wins).") var restarts = 10
    @Option(help: "Random seed of the k-means++ seeding.") var seed: UInt64 = 0
    @Option(help: "Write the labels over time to this NetCDF file.") var output: String?
    @Flag(help: "Replace the output file if it exists.") var overwrite = false

    func validate() throws {
        if k < 2 { throw ValidationError("-k must be at least 2, got \(k)") }
        if restarts < 1 { throw ValidationError("--restarts must be at least 1, got \(restarts)") }
    }

    func run() throws {
        runOnEveryRank { comm in
            guard comm.size == 1 else { throw RunError("cluster runs on one rank (it is quick); start it without mpirun", exitCode: .badInput, scope: .allRanks) }
            let target = output.map { OutputTarget(path: $0, overwrite: overwrite) }
            try target?.check()
            let input = try EmbeddingFile.read(embeddings)
            let result = try Clustering(input, k: k, restarts: restarts, seed: seed)
            print(result.report)
            if let t = target {
                try result.write(to: t, embeddingsPath: embeddings)
                print("wrote \(t.path)")
            }
        }
    }
}
