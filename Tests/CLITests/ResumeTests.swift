import Foundation
import Training
import TestSupport
import XCTest

/// Stop and resume: bit-exact with the same ranks, the same global sample
/// sequence on a different number of ranks, and SIGTERM at random moments.
final class ResumeTests: XCTestCase {
    func writeConfig(_ dir: String, _ name: String, runDir: String, steps: Int, extra: String = "") -> String {
        let path = dir + "/" + name + ".toml"
        let text = TrainTests.config(runDir: runDir, steps: steps, extra: extra)
            .replacingOccurrences(of: "[train]", with: "[train]\nsample_log = true")
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    func run(_ ranks: Int, _ args: [String]) -> RunResult {
        ranks == 1 ? FAConvLSTMBinary.run(args, timeout: 300) : FAConvLSTMBinary.mpirun(ranks: ranks, args, timeout: 300)
    }

    func newestState(_ runDir: String) throws -> TrainingState {
        let newest = try XCTUnwrap(CheckpointStore(runDirectory: runDir).committed().last, "no checkpoint in \(runDir)")
        return try CheckpointFile.read(newest.path)
    }

    /// The sample-log lines "samples_seen=... iteration=... ids=..." in order.
    func sampleLog(_ runDir: String) -> [String] {
        ((try? String(contentsOfFile: runDir + "/samples.log", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// 2N steps in one go, and N steps + stop + resume for N more: bitwise
    /// identical parameters and AdamW moments, on 1 and on 2 ranks.
    func testStopAndResumeIsBitExact() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for ranks in [1, 2] {
            let straight = dir + "/straight\(ranks)", split = dir + "/split\(ranks)"
            let a = run(ranks, ["train", "--config", writeConfig(dir, "a\(ranks)", runDir: straight, steps: 16)])
            XCTAssertEqual(a.status, 0, a.output)
            let cfg = writeConfig(dir, "b\(ranks)", runDir: split, steps: 16)
            let first = run(ranks, ["train", "--config", cfg, "--stop-after-steps", "8"])
            XCTAssertEqual(first.status, 75, first.output)
            XCTAssertEqual(try newestState(split).step, 8)
            let second = run(ranks, ["train", "--config", cfg])
            XCTAssertEqual(second.status, 0, second.output)
            XCTAssertTrue(second.stderr.contains("resuming from"), second.output)
            let x = try newestState(straight), y = try newestState(split)
            XCTAssertEqual(y.step, 16)
            XCTAssertEqual(x.samplesSeen, y.samplesSeen)
            XCTAssertEqual(x.parameters, y.parameters, "\(ranks) rank(s): parameters differ after resume")
            XCTAssertEqual(x.moments, y.moments, "\(ranks) rank(s): AdamW moments differ after resume")
            XCTAssertEqual(sampleLog(straight), sampleLog(split))
        }
    }

    /// Saved with 2 ranks, resumed with 1 and with 3: the samples consumed
    /// after the resume are exactly those of the uninterrupted run, and the
    /// parameters match it to 1e-5 relative.
    func testResumeOnADifferentNumberOfRanks() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let straight = dir + "/straight"
        let a = run(2, ["train", "--config", writeConfig(dir, "a", runDir: straight, steps: 16)])
        XCTAssertEqual(a.status, 0, a.output)
        let reference = try newestState(straight)
        for ranks in [1, 3] {
            let split = dir + "/split\(ranks)"
            let cfg = writeConfig(dir, "b\(ranks)", runDir: split, steps: 16)
            let first = run(2, ["train", "--config", cfg, "--stop-after-steps", "7"])
            XCTAssertEqual(first.status, 75, first.output)
            let second = run(ranks, ["train", "--config", cfg])
            XCTAssertEqual(second.status, 0, second.output)
            XCTAssertEqual(sampleLog(split), sampleLog(straight), "resumed on \(ranks) rank(s): different samples")
            XCTAssertEqual(sampleLog(split).count, 16)
            let y = try newestState(split)
            XCTAssertEqual(y.samplesSeen, reference.samplesSeen)
            XCTAssertEqual(y.worldSize, ranks)
            let d = TrainTests.relativeDifference(y.parameters, reference.parameters)
            XCTAssertLessThan(d, 1e-5, "resumed on \(ranks) rank(s): parameters differ by \(d)")
        }
    }

    /// SIGTERM at random moments (to every rank, as a batch system does), then
    /// resume, until the run finishes: every interrupted run leaves a valid
    /// checkpoint, no sample is skipped or repeated, and the final parameters
    /// equal the uninterrupted run's bit for bit. (scripts/kill_test.sh does 20.)
    func testSIGTERMAtRandomMomentsThenResume() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let straight = dir + "/straight", killed = dir + "/killed"
        let steps = 300
        let a = run(2, ["train", "--config", writeConfig(dir, "a", runDir: straight, steps: steps)])
        XCTAssertEqual(a.status, 0, a.output)
        let cfg = writeConfig(dir, "k", runDir: killed, steps: steps)
        var rng = SystemRandomNumberGenerator()
        var interrupted = 0
        for attempt in 0 ..< 15 {
            // A random moment after this attempt has trained at least one
            // step (a fixed delay is too late on a fast machine, too early
            // on a slow one).
            let logged = sampleLog(killed).count
            let job = try RunningBinary(mpiRanks: 2, ["train", "--config", cfg])
            let started = Date()
            while sampleLog(killed).count <= logged && Date().timeIntervalSince(started) < 60 {
                Thread.sleep(forTimeInterval: 0.02)
            }
            Thread.sleep(forTimeInterval: Double.random(in: 0 ... 0.4, using: &rng))
            job.signalRanks(SIGTERM)
            let r = job.finish(timeout: 120)
            XCTAssertFalse(r.timedOut, "attempt \(attempt) hung")
            if r.status == 0 { break }
            XCTAssertEqual(r.status, 75, "attempt \(attempt): \(r.output)")
            interrupted += 1
            XCTAssertNoThrow(try newestState(killed), "attempt \(attempt): no valid checkpoint after the stop")
        }
        if (try? newestState(killed))?.step != steps {
            let r = run(2, ["train", "--config", cfg])
            XCTAssertEqual(r.status, 0, r.output)
        }
        XCTAssertGreaterThanOrEqual(interrupted, 2, "the signals came too late to interrupt")
        let x = try newestState(straight), y = try newestState(killed)
        XCTAssertEqual(y.step, steps)
        XCTAssertEqual(x.parameters, y.parameters)
        XCTAssertEqual(x.moments, y.moments)
        XCTAssertEqual(sampleLog(killed), sampleLog(straight), "samples skipped or repeated")
    }

    /// A run directory holding checkpoints of another model is refused
    /// (exit 2, nothing overwritten) unless --resume never is given.
    func testCheckpointsOfAnotherModelAreNotOverwritten() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let runDir = dir + "/run"
        let cfg = writeConfig(dir, "a", runDir: runDir, steps: 4)
        XCTAssertEqual(run(1, ["train", "--config", cfg]).status, 0)
        let before = try XCTUnwrap(CheckpointStore(runDirectory: runDir).committed().last)
        let bytes = FileManager.default.contents(atPath: before.path)
        let r = run(1, ["train", "--config", cfg, "--set", "model.hidden=12"])
        XCTAssertEqual(r.status, 2, r.output)
        XCTAssertTrue(r.stderr.contains("holds checkpoints of a different model"), r.output)
        XCTAssertEqual(FileManager.default.contents(atPath: before.path), bytes, "the old checkpoint changed")
        let fresh = run(1, ["train", "--config", cfg, "--set", "model.hidden=12", "--resume", "never", "--set", "train.steps=2"])
        XCTAssertEqual(fresh.status, 0, fresh.output)
        XCTAssertEqual(FileManager.default.contents(atPath: before.path), bytes, "the old checkpoint changed")
    }
}
