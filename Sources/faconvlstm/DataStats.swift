import ArgumentParser
import ClimateData
import Distributed
import Foundation
import Training

/// Hidden: normalization statistics computed across the ranks of an mpirun
/// job, printed with full precision (for the multi-rank test).
struct DataStats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data-stats", abstract: "Compute normalization statistics across MPI ranks (for tests).", shouldDisplay: false)

    @Option(help: "Run config (TOML) with a [data] section.") var config: String
    @Option(help: "Cache in this directory (normalization.json).") var runDir: String?
    @Option(name: .customLong("set"), help: "Override a config value.") var overrides: [String] = []

    func run() throws {
        let comm = try Communicator.world()
        defer { comm.finalize() }
        try reportingErrors(rank: comm.rank, ranks: comm.size) {
            let rc = try DataRunConfig(path: config, overrides: overrides)
            let data = try ClimateDataset.open(rc.data)
            defer { data.close() }
            let (norm, cached) = try Normalization.loadOrCompute(data, runDirectory: runDir, rank: comm.rank, ranks: comm.size) {
                comm.allReduce(&$0, op: .sum)
            }
            if comm.isRoot {
                print("ranks \(comm.size) cached \(cached)")
                for c in 0 ..< norm.channels.count {
                    print("stat \(norm.channels[c]) mean \(String(format: "%.17g", norm.mean[c])) std \(String(format: "%.17g", norm.std[c])) count \(Int(norm.validCount[c]))")
                }
            }
        }
    }
}
