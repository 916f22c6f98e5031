import ArgumentParser
import Kernels
import Training

@main
enum Entry {
    static func main() {
        // Before anything else: may re-execute with faster BLAS kernels (Kernels/BLASCore.swift).
        BLASCore.ensureOptimizedKernels()
        FAConvLSTMCommand.main()
    }
}

struct FAConvLSTMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "faconvlstm",
        abstract: "Train FAConvLSTM on NetCDF climate data, data-parallel over MPI.",
        discussion: """
            Launch training with `mpirun -np N faconvlstm train --config run.toml`;
            without mpirun it runs as one rank.
            """,
        version: faconvlstmVersion,
        subcommands: [
            // Each subcommand lives in its own file of this folder.
            MPISelfTest.self,
            SynthCommand.self,
            InspectData.self,
            DataStats.self,
            BenchData.self,
            DistSelfTest.self,
            Train.self,
            Embed.self,
            Predict.self,
            Evaluate.self,
            Cluster.self,
            Attention.self,
            Describe.self,
            Bench.self,
            DebugState.self,
            InspectCheckpoint.self,
            CheckpointLoop.self,
        ]
    )
}
