import Foundation
import Training
import TestSupport
import XCTest

/// `faconvlstm train` end to end on the real storm set, a small model, under
/// mpirun with 1, 2 and 3 ranks.
final class TrainTests: XCTestCase {
    static let storm = StormTestRun.files

    /// A small, fast run config on the storm set.
    static func config(runDir: String, steps: Int = 12, extra: String = "") -> String {
        StormTestRun.config(runDir: runDir, steps: steps, train: "log_every = 1\ncheck_params_every = 4\nwatchdog_seconds = 120", extra: extra)
    }

    func writeConfig(_ dir: String, _ text: String, name: String = "run.toml") -> String {
        let path = dir + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    func losses(_ runDir: String) -> [Double] {
        guard let text = try? String(contentsOfFile: runDir + "/metrics.jsonl", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["loss"] as? Double
        }
    }

    func finalParameters(_ runDir: String) throws -> [Float] {
        let store = CheckpointStore(runDirectory: runDir)
        guard let newest = store.committed().last else { throw TestFailure("no checkpoint in \(runDir)") }
        return try CheckpointFile.read(newest.path).parameters
    }

    /// ||a - b|| / ||b|| over all parameters (Float32 summation order differs
    /// between rank counts; AdamW turns last-bit gradient differences of
    /// near-zero gradients into visible but tiny parameter differences).
    static func relativeDifference(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        var num = 0.0, den = 0.0
        for i in a.indices {
            let d = Double(a[i]) - Double(b[i])
            num += d * d
            den += Double(b[i]) * Double(b[i])
        }
        return (num / den).squareRoot()
    }

    func run(_ ranks: Int, _ args: [String], timeout: TimeInterval = 300) -> RunResult {
        ranks == 1 ? FAConvLSTMBinary.run(args, timeout: timeout) : FAConvLSTMBinary.mpirun(ranks: ranks, args, timeout: timeout)
    }

    /// Same config and seed: 1, 2 and 3 ranks, overlapped vs synchronous
    /// all-reduce, and 2 threads per rank (samples split across threads) give
    /// the same loss curve and final parameters (1e-5 relative) after 20 steps.
    func testOneTwoThreeRanksAndSyncAllReduceAgree() throws {
        XCTAssertTrue(FAConvLSTMBinary.exists, "release binary missing at \(FAConvLSTMBinary.path)")
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var curves: [String: [Double]] = [:]
        var params: [String: [Float]] = [:]
        for (name, ranks, extra) in [("r1", 1, [String]()), ("r2", 2, []), ("r3", 3, []), ("r2sync", 2, ["--sync-allreduce"]),
                                    ("r1t2", 1, ["--threads", "2"]), ("r2t2", 2, ["--threads", "2"])] {
            let runDir = dir + "/" + name
            let cfg = writeConfig(dir, TrainTests.config(runDir: runDir, steps: 20), name: name + ".toml")
            let r = run(ranks, ["train", "--config", cfg] + extra)
            XCTAssertEqual(r.status, 0, "\(name): \(r.output)")
            curves[name] = losses(runDir)
            params[name] = try finalParameters(runDir)
        }
        let reference = try XCTUnwrap(curves["r1"])
        XCTAssertEqual(reference.count, 20)
        for name in ["r2", "r3", "r2sync", "r1t2", "r2t2"] {
            let c = try XCTUnwrap(curves[name])
            XCTAssertEqual(c.count, reference.count, name)
            for (a, b) in zip(c, reference) { XCTAssertEqual(a, b, accuracy: 1e-5 * abs(b), "\(name) loss curve") }
            let d = TrainTests.relativeDifference(try XCTUnwrap(params[name]), try XCTUnwrap(params["r1"]))
            XCTAssertLessThan(d, 1e-5, "\(name) final parameters differ from 1 rank by \(d)")
        }
        // Overlapped and synchronous all-reduce make the same sums (same buckets): identical.
        XCTAssertEqual(params["r2"], params["r2sync"])
    }

    /// A NaN planted in one rank's batch: every rank skips that step, and the run goes on.
    func testNaNOnOneRankIsSkippedByAll() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let runDir = dir + "/run"
        let cfg = writeConfig(dir, TrainTests.config(runDir: runDir, steps: 6, extra: "") )
        let r = run(2, ["train", "--config", cfg, "--inject-nan", "1:2"])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.stderr.contains("step 2 skipped by every rank: non-finite loss on 1 of 2 rank(s) (iteration 2"), r.output)
        let state = try CheckpointFile.read(try XCTUnwrap(CheckpointStore(runDirectory: runDir).committed().last).path)
        // 6 updates applied, 7 iterations of data consumed (one skipped).
        XCTAssertEqual(state.step, 6)
        XCTAssertEqual(state.samplesSeen, 7 * 12)
        XCTAssertTrue(state.parameters.allSatisfy(\.isFinite))
    }

    /// Non-finite steps in a row beyond the limit end the run with exit 1 on all ranks, no hang.
    func testTooManySkipsStops() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cfg = writeConfig(dir, TrainTests.config(runDir: dir + "/run", steps: 6, extra: "").replacingOccurrences(of: "lr = 0.003", with: "lr = 1e30"))
        let r = run(2, ["train", "--config", cfg, "--set", "train.max_consecutive_skips=2", "--set", "optimizer.clip_norm=0"])
        XCTAssertEqual(r.status, 1, r.output)
        XCTAssertFalse(r.timedOut)
    }

    /// A rank stuck past the watchdog timeout aborts the job with a message naming it.
    func testWatchdogAbortsAStuckRank() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cfg = writeConfig(dir, TrainTests.config(runDir: dir + "/run", steps: 6))
        let start = Date()
        let r = run(2, ["train", "--config", cfg, "--set", "train.watchdog_seconds=4", "--inject-sleep", "1:1:120"], timeout: 100)
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertFalse(r.timedOut, "the job hung")
        XCTAssertEqual(r.status, 3, r.output)
        XCTAssertTrue(r.stderr.contains("[rank 1] watchdog: step 1 stuck in forward (test sleep)"), r.output)
        XCTAssertLessThan(elapsed, 4 + 25, "watchdog took \(elapsed) s")
    }

    /// Bad config values end before any work, on every rank, with exit 2 and one line naming the field.
    func testBadConfigValuesFailCleanlyOnEveryRank() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let good = TrainTests.config(runDir: dir + "/run")
        let cases: [(String, String, String)] = [
            ("unknown field", good.replacingOccurrences(of: "halo = 1", with: "halo = 1\nhalos = 2"), "unknown field 'data.halos'"),
            ("negative batch", good.replacingOccurrences(of: "global_batch = 12", with: "global_batch = -4"), "train.global_batch must be at least 1"),
            ("not divisible", good.replacingOccurrences(of: "global_batch = 12", with: "global_batch = 7"), "train.global_batch = 7 is not divisible by the 2 ranks"),
            ("unknown cell", good.replacingOccurrences(of: "hidden = 8", with: "hidden = 8\ncell = \"gru\""), "model.cell = \"gru\" is not one of"),
            ("missing data", String(good[..<good.range(of: "[data]")!.lowerBound]) + "[train]\nsteps = 3\n", "no [data] section"),
        ]
        for (name, text, expected) in cases {
            let cfg = writeConfig(dir, text, name: "bad.toml")
            let r = run(2, ["train", "--config", cfg], timeout: 60)
            XCTAssertFalse(r.timedOut, "\(name): hung")
            XCTAssertEqual(r.status, 2, "\(name): \(r.output)")
            let errors = r.stderr.split(separator: "\n").filter { $0.hasPrefix("faconvlstm: error:") }
            XCTAssertEqual(errors.count, 1, "\(name): \(r.stderr)")
            XCTAssertTrue(errors.first?.contains(expected) ?? false, "\(name): expected '\(expected)' in \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/run/checkpoints"), "\(name): work started")
        }
    }

    /// More threads per rank than the CPUs the rank may run on (taskset here,
    /// mpirun's default core binding on a cluster) trains, with one warning
    /// naming the fix; threads that fit get none.
    func testThreadsBeyondTheBoundCPUsWarn() throws {
        XCTAssertEqual(cpuCount(list: "0-3,8,10-11"), 7)
        XCTAssertEqual(cpuCount(list: "1"), 1)
        XCTAssertNil(cpuCount(list: "3-1"))
        XCTAssertNil(threadBindingWarning(threads: 2, allowedCPUs: 2))
        XCTAssertNil(threadBindingWarning(threads: 1, allowedCPUs: 1))
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for threads in [2, 1] {
            let runDir = dir + "/run-\(threads)"
            let cfg = writeConfig(dir, Self.config(runDir: runDir, steps: 2), name: "run-\(threads).toml")
            let r = FAConvLSTMBinary.launch("/usr/bin/taskset", ["-c", "0", FAConvLSTMBinary.path, "train", "--config", cfg,
                                                                 "--threads", String(threads)],
                                            environment: [:], timeout: 300, currentDirectory: nil)
            XCTAssertEqual(r.status, 0, r.output)
            let warned = r.stderr.contains("\(threads) threads per rank but rank 0 may run on 1 CPU(s)")
            XCTAssertEqual(warned, threads == 2, "threads \(threads): \(r.stderr)")
            XCTAssertEqual(losses(runDir).count, 2, "threads \(threads): \(r.output)")
        }
    }
}
