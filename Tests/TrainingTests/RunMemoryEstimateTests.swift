import ClimateData
import Distributed
import Model
import Training
import XCTest

/// The per-rank memory estimate of `train --dry-run`, item by item, on the
/// storm set's metadata (scripts/memcheck.sh compares the totals with real runs).
final class RunMemoryEstimateTests: XCTestCase {
    static let storm = ["U", "V", "T", "P"].map { "/usr/share/ncarg/data/cdf/\($0)storm.cdf" }

    func plan(_ extra: [String] = [], ranks: Int = 1) throws -> RunPlan {
        let text = """
            seed = 1
            run_dir = "unused"
            [model]
            hidden = 8
            [data]
            files = [\(Self.storm.map { "\"\($0)\"" }.joined(separator: ", "))]
            variables = ["u", "v", "t", "p"]
            time_units = "hours since 1996-01-05 00:00"
            validation_range = [56, 63]
            tile_height = 12
            tile_width = 10
            halo = 1
            window = 4
            [train]
            global_batch = 8
            micro_batch = 4
            validate_every = 5
            """
        let config = try RunConfig(text: text, source: "test.toml", overrides: extra)
        return try RunPlan(config: config, ranks: ranks, communicator: .serial)
    }

    func item(_ e: RunMemoryEstimate, _ name: String) -> Int? { e.items.first { $0.name == name }?.bytes }

    /// Bytes of a micro-batch of b samples, T 4, V 4, 12 x 10, counted here
    /// from Batch's arrays: inputs + mask Float, latitude weights Float, day of year Double, ids Int.
    func batch(_ b: Int) -> Int { b * (2 * 4 * 4 * 12 * 10 * 4 + 12 * 4 + 4 * 8 + 8) }

    func testItemsFollowTheTrainersAllocations() throws {
        let p = try plan()
        defer { p.dataset.close() }
        let e = RunMemoryEstimate(plan: p, chunkCache: 123, measured: .init(runtime: 40 << 20, checkpointWriter: 5 << 20))
        let model = MemoryEstimate(config: p.config.model, samples: 4, steps: 4, height: 12, width: 10)
        let n = ParameterLayout(config: p.config.model).totalCount
        XCTAssertEqual(item(e, "parameters"), 4 * n)
        XCTAssertEqual(item(e, "gradients"), 4 * n)
        XCTAssertEqual(item(e, "optimizer state"), 8 * n)
        XCTAssertEqual(item(e, "activations (BPTT)"), model.activations)
        XCTAssertEqual(item(e, "model scratch"), model.scratch)
        // G 8 on 1 rank, micro-batch 4: 2 micro-batches held + the next step's 2 read ahead.
        XCTAssertEqual(item(e, "batches"), batch(8) + batch(8))
        XCTAssertEqual(item(e, "validation"), batch(4) + 4 * 12 * 10 * 8)
        XCTAssertEqual(item(e, "climatology"), 4 * 33 * 36 * 8)
        XCTAssertEqual(item(e, "NetCDF chunk caches"), 123)
        XCTAssertEqual(item(e, "runtime"), 40 << 20)
        XCTAssertEqual(item(e, "MPI runtime"), RunMemoryEstimate.mpiRuntimeBytes)
        XCTAssertEqual(item(e, "checkpoint copies"), 3 * 4 * n)
        XCTAssertEqual(item(e, "checkpoint writer"), 5 << 20)
        XCTAssertNil(item(e, "all-reduce buffers"), "one rank all-reduces nothing")
        XCTAssertEqual(e.rankZero, e.items.reduce(0) { $0 + $1.bytes })
        XCTAssertEqual(e.rankZero - e.otherRanks, 3 * 4 * n + (5 << 20), "only rank 0 writes checkpoints")
    }

    func testBatchesHeldDependOnMicroBatchesPerStepAndPrefetch() throws {
        // One micro-batch per step: the prefetch thread reads 2 ahead.
        var p = try plan(["train.micro_batch=8"])
        XCTAssertEqual(item(RunMemoryEstimate(plan: p, chunkCache: 0, measured: .init(runtime: 0, checkpointWriter: 0)), "batches"),
                       batch(8) + batch(16))
        p.dataset.close()
        // Without prefetch only the step's micro-batches.
        p = try plan(["data.prefetch=false"])
        XCTAssertEqual(item(RunMemoryEstimate(plan: p, chunkCache: 0, measured: .init(runtime: 0, checkpointWriter: 0)), "batches"),
                       batch(8))
        p.dataset.close()
        // 2 ranks: each holds its share, 4 samples in one micro-batch, plus 2 ahead; all-reduce temporaries appear.
        p = try plan(ranks: 2)
        let e = RunMemoryEstimate(plan: p, chunkCache: 0, measured: .init(runtime: 0, checkpointWriter: 0))
        XCTAssertEqual(item(e, "batches"), batch(4) + batch(8))
        XCTAssertEqual(item(e, "all-reduce buffers"), 4 * ParameterLayout(config: p.config.model).totalCount)
        p.dataset.close()
    }

    func testNoValidationWithoutValidateEvery() throws {
        let p = try plan(["train.validate_every=0"])
        defer { p.dataset.close() }
        let e = RunMemoryEstimate(plan: p, chunkCache: 0, measured: .init(runtime: 0, checkpointWriter: 0))
        XCTAssertNil(item(e, "validation"))
        XCTAssertNil(item(e, "climatology"))
    }

    func testClassicFilesHaveNoChunkCache() throws {
        let p = try plan()
        defer { p.dataset.close() }
        XCTAssertEqual(try p.dataset.chunkCacheBytes(frames: p.dataset.trainingFrames), 0, "the storm files are classic NetCDF")
    }

    /// NetCDF-4 chunks of 1 x 32 x 64 floats (8 KiB), 4 variables: every
    /// frame read holds one chunk per variable, up to netCDF's 16 MiB per variable.
    func testNetCDF4ChunkCacheCountsTheChunksOfTheFramesRead() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("chunkcache-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var o = SynthOptions()
        o.directory = dir
        o.times = 40
        _ = try Synth.write(o)
        var c = DataConfig()
        c.files = [dir + "/synth.nc"]
        c.variables = ["tas", "psl", "uas", "vas"]
        let data = try ClimateDataset.open(c)
        defer { data.close() }
        XCTAssertEqual(try data.chunkCacheBytes(frames: [0 ..< 10, 20 ..< 25]), 4 * 15 * 32 * 64 * 4)
        XCTAssertEqual(try data.chunkCacheBytes(frames: []), 0)
    }
}
