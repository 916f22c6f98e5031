import Foundation
import TestSupport
import XCTest

/// `faconvlstm train --dry-run`: its numbers against the commands that count
/// the same things independently (describe, inspect-data), and its errors
/// against the real run's on the same bad configs.
final class DryRunTests: XCTestCase {
    var dir = ""
    override func setUp() {
        dir = makeTemporaryDirectory("dryrun")
        XCTAssertTrue(FAConvLSTMBinary.exists, "release binary missing at \(FAConvLSTMBinary.path): run scripts/test.sh")
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// The shipped storm config (tests run from the package root).
    var stormConfig: String { FileManager.default.currentDirectoryPath + "/configs/storm.toml" }

    /// The first integer after `prefix` in `text`, commas dropped.
    func number(after prefix: String, in text: String) -> Int? {
        guard let r = text.range(of: prefix) else { return nil }
        return Int(text[r.upperBound...].prefix { $0.isNumber || $0 == "," }.filter(\.isNumber))
    }

    func testStormConfigAgreesWithDescribeAndInspectData() throws {
        let runDir = dir + "/run"
        let r = FAConvLSTMBinary.run(["train", "--config", stormConfig, "--dry-run", "--set", "run_dir=\"\(runDir)\""], timeout: 60)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.stdout.hasSuffix("dry run: ok\n"), r.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: runDir), "a dry run writes nothing")

        let describe = FAConvLSTMBinary.run(["describe", "--config", stormConfig, "--steps", "8", "--height", "16", "--width", "16"], timeout: 60)
        XCTAssertEqual(describe.status, 0, describe.output)
        let modelLine = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.hasPrefix("model: faconvlstm, 2 layers, hidden 32, ") }, r.stdout)
        let params = try XCTUnwrap(number(after: "4 channels: ", in: String(modelLine)), String(modelLine))
        XCTAssertTrue(describe.stdout.contains(String(params)) || describe.stdout.contains(group(params)), "describe: \(describe.stdout)")

        let inspect = FAConvLSTMBinary.run(["inspect-data", "--config", stormConfig, "--ranks", "1", "--global-batch", "8", "--micro-batch", "4"], timeout: 60)
        XCTAssertEqual(inspect.status, 0, inspect.output)
        XCTAssertEqual(number(after: "samples per epoch: training ", in: r.stdout), number(after: "training samples: ", in: inspect.stdout))
        XCTAssertEqual(number(after: ", validation ", in: r.stdout), number(after: "validation samples: ", in: inspect.stdout))
        XCTAssertEqual(number(after: "  steps per epoch ", in: r.stdout), number(after: "steps per epoch: ", in: inspect.stdout))
        XCTAssertTrue(r.stdout.contains("ranks: 1; global batch 8 = 8 samples per rank per step in 2 micro-batch(es) of at most 4"), r.stdout)
        for item in ["runtime", "MPI runtime", "parameters", "gradients", "optimizer state", "activations (BPTT)", "model scratch",
                     "batches", "validation", "climatology", "checkpoint writer", "total, rank 0"] {
            XCTAssertTrue(r.stdout.contains("\n  \(item) "), "no \(item) line: \(r.stdout)")
        }
        XCTAssertTrue(r.stdout.contains("run directory: \(runDir): will be created; starts fresh"), r.stdout)
        XCTAssertTrue(r.stdout.contains("measured: this model's checkpoint written to a temporary file"), r.stdout)

        // 4 ranks: 2 samples each in one micro-batch; the other ranks' total is printed too.
        let r4 = FAConvLSTMBinary.run(["train", "--config", stormConfig, "--dry-run", "--ranks", "4", "--set", "run_dir=\"\(runDir)\""], timeout: 60)
        XCTAssertEqual(r4.status, 0, r4.output)
        XCTAssertTrue(r4.stdout.contains("ranks: 4; global batch 8 = 2 samples per rank per step in 1 micro-batch(es) of at most 4"), r4.stdout)
        XCTAssertTrue(r4.stdout.contains("\n  total, ranks 1-3 "), r4.stdout)
    }

    /// The dry run says what a real start would do with the run directory, and
    /// the checkpoint file size it measured is that of a real checkpoint.
    func testResumeAndCheckpointSizeMatchARealRun() throws {
        let runDir = dir + "/run"
        let common = ["--set", "run_dir=\"\(runDir)\"", "--set", "schedule.warmup_steps=0",
                      "--set", "train.validate_every=0", "--set", "checkpoint.every_steps=1"]
        let real = FAConvLSTMBinary.run(["train", "--config", stormConfig, "--set", "train.steps=2"] + common, timeout: 300)
        XCTAssertEqual(real.status, 0, real.output)
        let ckpt = runDir + "/checkpoints/ckpt-00000002.nc"
        let size = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: ckpt)[.size] as? Int)
        let dry = FAConvLSTMBinary.run(["train", "--config", stormConfig, "--dry-run", "--set", "train.steps=4"] + common, timeout: 60)
        XCTAssertEqual(dry.status, 0, dry.output)
        XCTAssertTrue(dry.stdout.contains("run directory: \(runDir): resumes at step 2 of 4 (16 samples seen)"), dry.stdout)
        // Same model, same sizes; the config text differs only in train.steps (same length).
        let probe = try XCTUnwrap(number(after: " MiB (", in: dry.stdout))
        XCTAssertEqual(Double(probe), Double(size), accuracy: 64, "dry run \(probe) bytes, real checkpoint \(size)")
    }

    /// For each bad config the dry run prints the real run's error line and exits with its code.
    func testErrorsAreTheRealRunsErrors() throws {
        let runDir = dir + "/run"
        let base = ["--set", "run_dir=\"\(runDir)\""]
        let cases: [[String]] = [
            ["--set", "train.bogus=1"],
            ["--set", "data.variables=[\"u\", \"zz\"]"],
            ["--set", "data.window=100"],
            ["--set", "data.tile_height=48"],
            ["--set", "data.files=\"/nonexistent/*.nc\""],
            ["--set", "schedule.warmup_steps=100000"],
            ["--set", "model.channels=3"],
            ["--set", "run_dir=\"/etc/hostname/run\""],
            ["--resume", dir + "/no-such-checkpoint.nc"],
        ]
        for extra in cases {
            let dry = FAConvLSTMBinary.run(["train", "--config", stormConfig, "--dry-run"] + base + extra, timeout: 60)
            let real = FAConvLSTMBinary.run(["train", "--config", stormConfig] + base + extra, timeout: 120)
            XCTAssertNotEqual(real.status, 0, "\(extra): the real run should fail: \(real.output)")
            XCTAssertEqual(dry.status, real.status, "\(extra): exit codes differ: dry \(dry.output) real \(real.output)")
            XCTAssertEqual(dry.stderr, real.stderr, "\(extra)")
            XCTAssertTrue(dry.stderr.hasPrefix("faconvlstm: error: ") && dry.stderr.filter { $0 == "\n" }.count == 1, "\(extra): \(dry.stderr)")
            XCTAssertEqual(dry.stdout, "", "\(extra)")
        }
        // A config file that is not there.
        let dry = FAConvLSTMBinary.run(["train", "--config", dir + "/missing.toml", "--dry-run"], timeout: 60)
        let real = FAConvLSTMBinary.run(["train", "--config", dir + "/missing.toml"], timeout: 60)
        XCTAssertEqual(dry.status, 2, dry.output)
        XCTAssertEqual(dry.stderr, real.stderr)
    }

    /// A global batch the ranks do not divide: the same error as mpirun -np 3 (whose rank 0 names itself).
    func testRanksThatDoNotDivideTheGlobalBatch() throws {
        let set = ["--set", "run_dir=\"\(dir)/run\""]
        let dry = FAConvLSTMBinary.run(["train", "--config", stormConfig, "--dry-run", "--ranks", "3"] + set, timeout: 60)
        let real = FAConvLSTMBinary.mpirun(ranks: 3, ["train", "--config", stormConfig] + set, timeout: 120)
        XCTAssertEqual(dry.status, 2, dry.output)
        XCTAssertEqual(real.status, 2, real.output)
        XCTAssertEqual(dry.stderr, "faconvlstm: error: train.global_batch = 8 is not divisible by the 3 ranks: use a multiple of 3\n")
        XCTAssertTrue(real.stderr.contains("faconvlstm: error: [rank 0] train.global_batch = 8 is not divisible by the 3 ranks: use a multiple of 3\n"), real.stderr)
    }

    func testRanksOnlyWithDryRun() {
        let r = FAConvLSTMBinary.run(["train", "--config", stormConfig, "--ranks", "2"], timeout: 60)
        XCTAssertEqual(r.status, 64, r.output)
        XCTAssertTrue(r.stderr.contains("--ranks goes with --dry-run"), r.stderr)
    }

    func group(_ n: Int) -> String {
        let s = String(n)
        var out = ""
        for (i, c) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return out
    }
}
