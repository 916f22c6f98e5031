import Foundation
import Kernels
import TestSupport
import Training
import XCTest

/// SIGKILL during saves (the release binary's hidden `checkpoint-loop`
/// command): at each step of the commit protocol, then at random moments.
/// Afterwards every committed `ckpt-*.nc` is valid, `latest` names a valid
/// checkpoint, and resume finds the highest committed step.
final class CheckpointKillTests: XCTestCase {
    var dir = ""
    override func setUp() {
        dir = makeTemporaryDirectory("ckptkill")
        XCTAssertTrue(FAConvLSTMBinary.exists, "release binary missing at \(FAConvLSTMBinary.path): run scripts/test.sh")
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A ~1 MiB checkpoint (several 256 KiB write chunks), keep_last 1.
    let model = ["--cell", "convlstm", "--hidden", "24", "--channels", "3", "--keep-last", "1"]

    func loop(_ args: [String]) -> RunResult {
        FAConvLSTMBinary.run(["checkpoint-loop", "--dir", dir] + model + args, timeout: 60)
    }

    func names() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() }

    /// Every committed file valid, `latest` naming one of them, resume at the highest step.
    func assertConsistent(_ context: String, file: StaticString = #filePath, line: UInt = #line) -> (latest: Int?, found: Int?) {
        let store = CheckpointStore(directory: dir)
        let committed = store.committed()
        for c in committed {
            XCTAssertNoThrow(try CheckpointFile.read(c.path), "\(context): committed file invalid", file: file, line: line)
        }
        let latest = store.latest().flatMap { CheckpointStore.step(fileName: $0) }
        XCTAssertNotNil(latest, "\(context): latest missing or not a checkpoint name: \(names())", file: file, line: line)
        if let l = latest {
            XCTAssertTrue(committed.contains { $0.step == l }, "\(context): latest names ckpt \(l), not committed: \(names())", file: file, line: line)
        }
        let scan = store.resumeCandidate()
        XCTAssertEqual(scan.skipped, [], "\(context)", file: file, line: line)
        XCTAssertEqual(scan.found?.state.step, committed.last?.step, "\(context): resume takes the highest step", file: file, line: line)
        return (latest, scan.found?.state.step)
    }

    func testKilledAtEachStepOfASave() throws {
        // phase: (files after the kill during save 3, of steps 1, 2, 3; the step latest names; the step resume finds)
        let cases: [(String, [String], Int, Int)] = [
            ("encoded", ["ckpt-00000002.nc", "latest"], 2, 2),
            ("writing", ["ckpt-00000002.nc", "ckpt-00000003.nc.tmp", "latest"], 2, 2),
            ("synced", ["ckpt-00000002.nc", "ckpt-00000003.nc.tmp", "latest"], 2, 2),
            ("committed", ["ckpt-00000002.nc", "ckpt-00000003.nc", "latest"], 2, 3),
            ("latest-tmp", ["ckpt-00000002.nc", "ckpt-00000003.nc", "latest", "latest.tmp"], 2, 3),
            ("latest", ["ckpt-00000002.nc", "ckpt-00000003.nc", "latest"], 3, 3),
            ("removed", ["ckpt-00000003.nc", "latest"], 3, 3),
        ]
        for (phase, files, latest, found) in cases {
            try? FileManager.default.removeItem(atPath: dir)
            let r = loop(["--saves", "3", "--crash-at", phase, "--crash-on-save", "3"])
            XCTAssertEqual(r.status, 9, "\(phase): killed by SIGKILL: \(r.output)")
            XCTAssertTrue(r.stdout.contains("step 2: saved") && !r.stdout.contains("step 3:"), "\(phase): \(r.stdout)")
            XCTAssertEqual(names(), files, phase)
            if phase == "writing" {
                let partial = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: dir + "/ckpt-00000003.nc.tmp")[.size] as? Int)
                let whole = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: dir + "/ckpt-00000002.nc")[.size] as? Int)
                XCTAssertEqual(partial, 256 * 1024, "killed after the first chunk: a partial .tmp, never a partial ckpt-*.nc")
                XCTAssertGreaterThan(whole, 3 * 256 * 1024)
            }
            let seen = assertConsistent(phase)
            XCTAssertEqual(seen.latest, latest, phase)
            XCTAssertEqual(seen.found, found, phase)
            // The next run saves normally and cleans up what the killed one left.
            let next = loop(["--saves", "1", "--first-step", "4"])
            XCTAssertEqual(next.status, 0, next.output)
            XCTAssertEqual(names(), ["ckpt-00000004.nc", "latest"], "\(phase): after the next save")
            XCTAssertEqual(assertConsistent("\(phase), then saved").latest, 4)
        }
    }

    /// SIGKILL at random moments of a process that saves without pause.
    func testKilledAtRandomMoments() throws {
        XCTAssertEqual(loop(["--saves", "1", "--first-step", "1"]).status, 0)
        var rng = CounterRNG(seed: 20_261_130, streamName: "kill delays")
        var leftTemporary = 0, latestBehind = 0, kills = 0
        for round in 1 ... 15 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: FAConvLSTMBinary.path)
            p.arguments = ["checkpoint-loop", "--dir", dir] + model + ["--saves", "0", "--first-step", String(round * 1000)]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            let delay = rng.uniform(0.15, 0.9)
            Thread.sleep(forTimeInterval: delay)
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationReason, .uncaughtSignal, "round \(round): still running when killed after \(delay) s")
            kills += 1
            if names().contains(where: { $0.hasSuffix(".tmp") }) { leftTemporary += 1 }
            let seen = assertConsistent("round \(round), killed after \(String(format: "%.3f", delay)) s")
            if let l = seen.latest, let f = seen.found, l < f { latestBehind += 1 }
            XCTAssertGreaterThanOrEqual(seen.found ?? 0, 1)
        }
        // Not asserted (random), but shown: how often a kill landed mid-save.
        print("checkpoint kill test: \(kills) kills, \(leftTemporary) left a .tmp, \(latestBehind) left latest one behind")
    }
}
