import ClimateData
import Model

/// Resident memory of one rank of a training run, by what holds it
/// (`train --dry-run`; `scripts/memcheck.sh` compares it with real runs).
///
/// Everything the trainer allocates is counted from the sizes it allocates
/// with: the network for `micro_batch` samples (`MemoryEstimate`, which
/// counts exactly what `Network.init` allocates), AdamW's moments, the
/// micro-batches a step holds and the prefetch queue, the readers' buffers,
/// validation, the climatology, the epoch's sample order, the NetCDF-4 chunk
/// caches, and the copies of a checkpoint save. What cannot be counted from
/// sizes is measured: the runtime (Swift, Foundation, NetCDF/HDF5, OpenBLAS,
/// the binary; the dry-run reads its own VmRSS after opening the dataset like
/// the trainer does) and HDF5's state after writing a checkpoint (the dry-run
/// writes one of this model to a temporary file). What MPI_Init adds cannot
/// be measured without initializing MPI, so it is the constant `mpiRuntimeBytes`.
public struct RunMemoryEstimate: Sendable {
    public struct Item: Sendable, Equatable {
        public let name: String
        public let bytes: Int
        public let detail: String
        /// Held by rank 0 only (it alone writes checkpoints).
        public let rankZeroOnly: Bool
    }

    /// What was measured rather than counted.
    public struct Measured: Sendable {
        /// VmRSS of a process that loaded the libraries and opened the dataset.
        public var runtime: Int
        /// VmRSS growth from writing one checkpoint of the model (HDF5 keeps it).
        public var checkpointWriter: Int
        public var mpiRuntime: Int = RunMemoryEstimate.mpiRuntimeBytes
        public init(runtime: Int, checkpointWriter: Int) {
            self.runtime = runtime
            self.checkpointWriter = checkpointWriter
        }
    }

    /// What MPI_Init_thread and the first collectives add to a rank's VmRSS
    /// (libmpi/ORTE/OPAL code, the components Open MPI loads, PMIx and
    /// transport buffers). Measured with `faconvlstm mpi-selftest --memory`
    /// (Open MPI 4.1.4, Debian 12, x86-64): singleton 8,992-9,004 kB; mpirun
    /// -np 2 on one node 7,964-8,024 kB; -np 4 on one node 9,340-9,532 kB;
    /// 2 virtual hosts x 2 ranks over TCP 9,000-9,296 kB. The largest, rounded
    /// up to half a MiB. Re-measure with another MPI or on another machine.
    public static let mpiRuntimeBytes = 19 * 1_048_576 / 2

    /// The training phase, in print order.
    public let items: [Item]
    /// Setup (normalization, climatology) holds less of the above but its own
    /// temporaries; its peak when that is above the training phase's.
    public let setup: Int
    public let setupDetail: String

    /// Peak of rank 0 (the largest: it also writes the checkpoints).
    public var rankZero: Int { max(setup, items.reduce(0) { $0 + $1.bytes }) }
    /// Peak of every other rank.
    public var otherRanks: Int { max(setup, items.filter { !$0.rankZeroOnly }.reduce(0) { $0 + $1.bytes }) }

    /// - Parameters:
    ///   - chunkCache: `ClimateDataset.chunkCacheBytes(frames:)` of the frames the run reads.
    public init(plan: RunPlan, chunkCache: Int, measured: Measured) {
        let c = plan.config
        let tiling = plan.training.tiling
        let T = c.data.window, H = tiling.height, W = tiling.width, V = c.model.channels
        let grid = plan.dataset.grid
        let B = c.train.microBatch
        let model = MemoryEstimate(config: c.model, samples: B, steps: T, height: H, width: W, threads: max(1, c.train.threads))
        let parameters = ParameterLayout(config: c.model).totalCount
        let adamw = c.optimizer.kind == .adamw
        var items: [Item] = []
        func add(_ name: String, _ bytes: Int, _ detail: String, rankZeroOnly: Bool = false) {
            items.append(Item(name: name, bytes: bytes, detail: detail, rankZeroOnly: rankZeroOnly))
        }
        func mib(_ b: Int) -> String { mebibytes(b) }

        add("runtime", measured.runtime,
            "measured: VmRSS of this process with the libraries loaded and the dataset open")
        add("MPI runtime", measured.mpiRuntime, "constant measured with `mpi-selftest --memory` (Open MPI 4.1)")
        add("parameters", model.parameters, "\(parameters) x 4 B")
        let replicas = ThreadedNetwork<Float>.split(threads: max(1, c.train.threads), maxSamples: B).replicas
        add("gradients", model.gradients, replicas > 1 ? "same layout, one per thread (\(replicas) sample replicas)" : "same layout")
        add("optimizer state", adamw ? model.optimizer : 0, adamw ? "AdamW m and v, 2 x \(parameters) x 4 B" : "SGD: none")
        add("activations (BPTT)", model.activations,
            "\(B) samples x \(T) steps x \(H)x\(W) (docs/model.md formula; \(mib(model.activations / B)) per sample)")
        add("model scratch", model.scratch, "per-frame work buffers, gradient between layers, input gradients")

        // One micro-batch of b samples: inputs + mask [T, V, b, H, W] Float,
        // latitude weights [b, H] Float, day of year [b, T] Double, ids [b] Int.
        func batchBytes(_ b: Int) -> Int { b * (2 * T * V * H * W * 4 + H * 4 + T * 8 + 8) }
        let share = plan.rankShare, m = plan.microBatchesPerStep
        // A step holds its m micro-batches (`share` samples); the prefetch
        // thread reads up to max(2, m) micro-batches ahead, the one it is
        // reading included: the next step's m, or 2 steps ahead when m = 1.
        let ahead = c.data.prefetch ? (m == 1 ? 2 * share : share) : 0
        add("batches", batchBytes(share) + batchBytes(ahead),
            "\(m) micro-batch(es) of the step (\(share) samples)" + (c.data.prefetch ? " + prefetch queue (\(ahead) samples)" : "")
            + ", \(mib(batchBytes(1))) per sample")
        add("reader buffer", T * H * W * 8, "one window of one channel of a tile, Double")
        if plan.validates {
            add("validation", batchBytes(B) + T * H * W * 8, "one micro-batch of \(B) validation samples + its reader's buffer")
            add("climatology", V * grid.height * grid.width * 8, "[V, grid] Double")
        }
        let n = plan.training.count
        add("sample order", 2 * n * 8, "the epoch's permutation of \(n) samples (and the next one's at an epoch boundary)")
        add("NetCDF chunk caches", chunkCache,
            chunkCache > 0 ? "HDF5 keeps decompressed chunks of the frames read, up to 16 MiB per variable" : "none (classic files or contiguous variables)")
        if plan.ranks > 1 {
            add("all-reduce buffers", parameters * 4, "non-blocking all-reduce temporaries, at most one gradient copy")
        }
        let stateBytes = parameters * 4 * (adamw ? 3 : 1)
        add("checkpoint copies", stateBytes,
            "parameters\(adamw ? " + AdamW moments" : "") copied to save (rank 0) or on resume", rankZeroOnly: true)
        add("checkpoint writer", measured.checkpointWriter,
            "measured: HDF5 state after writing a checkpoint of this model", rankZeroOnly: true)
        self.items = items

        // Setup: the normalization (one frame) and climatology (sums, counts,
        // one frame, then the mean) temporaries, before the network exists.
        let plane = grid.height * grid.width
        let climatologySetup = plan.validates ? (3 * V * plane + plane) * 8 : 0
        let normalizationSetup = plane * 8 + 256 * V * 4 * 8
        setup = measured.runtime + measured.mpiRuntime + chunkCache + max(climatologySetup, normalizationSetup)
        setupDetail = "runtime + MPI + chunk caches + normalization/climatology temporaries"
    }
}
