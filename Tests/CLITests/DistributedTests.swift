import Foundation
import TestSupport
import XCTest

/// The Distributed machinery under mpirun (`faconvlstm dist-selftest`), on 2
/// and 3 oversubscribed ranks: exit codes, messages and timings.
final class DistributedTests: XCTestCase {
    override func setUp() {
        XCTAssertTrue(FAConvLSTMBinary.exists, "release binary missing at \(FAConvLSTMBinary.path): run scripts/test.sh")
    }

    /// The `key=value` fields of the first stdout line starting with `prefix`.
    func fields(_ output: String, _ prefix: String) -> [String: String] {
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return [:] }
        var out: [String: String] = [:]
        for token in line.split(separator: " ") {
            let kv = token.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { out[String(kv[0])] = String(kv[1]) }
        }
        return out
    }

    // MARK: all-reduce

    func checkAllReduce(_ r: RunResult, ranks: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 0, r.output, file: file, line: line)
        let f = fields(r.stdout, "allreduce:")
        XCTAssertEqual(f["ranks"], String(ranks), r.output, file: file, line: line)
        XCTAssertEqual(f["bucketed_vs_sync_bitwise"], "true", r.output, file: file, line: line)
        XCTAssertEqual(f["ranks_agree"], "true", r.output, file: file, line: line)
        XCTAssertEqual(f["step_reduction_ok"], "true", r.output, file: file, line: line)
        XCTAssertEqual(f["any_all_ok"], "true", r.output, file: file, line: line)
        // Reference: the Double sum of every rank's seeded gradient; tolerance
        // 1e-6 of the sum of magnitudes (Float rounding of R-1 additions is ~(R-1) 6e-8).
        let err = Double(f["max_err_over_abs_sum"] ?? "") ?? .infinity
        XCTAssertLessThanOrEqual(err, 1e-6, r.output, file: file, line: line)
    }

    func testAllReduceBucketedMatchesSynchronousBitwiseAndTheReference() {
        checkAllReduce(FAConvLSTMBinary.run(["dist-selftest", "--scenario", "allreduce"], timeout: 60), ranks: 1)
        for n in [2, 3] {
            checkAllReduce(FAConvLSTMBinary.mpirun(ranks: n, ["dist-selftest", "--scenario", "allreduce"], timeout: 120), ranks: n)
        }
        // Many buckets: 4 KiB buckets over 100k floats.
        let r = FAConvLSTMBinary.mpirun(ranks: 3, ["dist-selftest", "--scenario", "allreduce", "--count", "100000",
                                                   "--blocks", "5", "--bucket-bytes", "4096"], timeout: 120)
        checkAllReduce(r, ranks: 3)
        XCTAssertEqual(fields(r.stdout, "allreduce:")["buckets"], "100", r.output)
    }

    // MARK: overlap

    func testOverlapReportsTheHiddenShare() {
        for n in [2, 3] {
            let r = FAConvLSTMBinary.mpirun(ranks: n, ["dist-selftest", "--scenario", "overlap", "--steps", "3",
                                                       "--backward-ms", "40"], timeout: 120)
            XCTAssertEqual(r.status, 0, r.output)
            let f = fields(r.stdout, "overlap:")
            XCTAssertEqual(f["floats"], "14942", r.output)  // the default model's layout
            XCTAssertEqual(f["buckets"], "3", r.output)  // head, layer 1, layer 0
            let share = Double(f["hidden_share"] ?? "") ?? -1
            XCTAssertTrue((0 ... 1).contains(share), r.output)
        }
    }

    // MARK: watchdog

    func testWatchdogAbortsTheJobWithExitCode3NamingTheStuckRank() {
        let timeout = 3.0
        for n in [2, 3] {
            let stuck = n - 1
            let start = Date()
            let r = FAConvLSTMBinary.mpirun(ranks: n, ["dist-selftest", "--scenario", "watchdog", "--sleep-rank", String(stuck),
                                                       "--timeout", String(timeout)], timeout: 60)
            let elapsed = Date().timeIntervalSince(start)
            XCTAssertFalse(r.timedOut, r.output)
            XCTAssertEqual(r.status, 3, r.output)
            XCTAssertTrue(r.stderr.contains("faconvlstm: error: [rank \(stuck)] watchdog: step 2 stuck in data read for "), r.output)
            XCTAssertTrue(r.stderr.contains("(timeout 3 s); aborting the job"), r.output)
            // Start-up (~1-2 s), steps 0-2 (~0.1 s), the timeout, the abort: never the 60 s sleep.
            XCTAssertLessThan(elapsed, timeout + 10, r.output)
        }
        // One rank without mpirun (MPI singleton): the same message and code.
        let start = Date()
        let r = FAConvLSTMBinary.run(["dist-selftest", "--scenario", "watchdog", "--sleep-rank", "0", "--timeout", "2"], timeout: 60)
        XCTAssertEqual(r.status, 3, r.output)
        XCTAssertTrue(r.stderr.contains("faconvlstm: error: [rank 0] watchdog: step 2 stuck in data read"), r.output)
        XCTAssertLessThan(Date().timeIntervalSince(start), 2 + 8, r.output)
    }

    func testWatchdogStaysQuietWhenPhasesEndInTime() {
        let r = FAConvLSTMBinary.mpirun(ranks: 2, ["dist-selftest", "--scenario", "watchdog", "--steps", "5", "--timeout", "3"],
                                        timeout: 60)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.stdout.contains("watchdog: ranks=2 steps=5 finished"), r.output)
        XCTAssertFalse(r.stderr.contains("watchdog:"), r.output)
    }

    // MARK: stop signals

    /// Starts the signal scenario, waits until every rank is in its loop, then `send`s.
    func runSignal(ranks: Int, extra: [String] = [], send: (RunningBinary, [Int32]) -> Void) throws -> RunResult {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let job = try RunningBinary(mpiRanks: ranks, ["dist-selftest", "--scenario", "signal", "--steps", "2000",
                                                      "--pid-dir", dir] + extra)
        let pidFiles = (0 ..< ranks).map { "\(dir)/rank-\($0).pid" }
        let ready = job.waitFor(timeout: 60) { pidFiles.allSatisfy { FileManager.default.fileExists(atPath: $0) } }
        guard ready else {
            let r = job.finish(timeout: 5)
            XCTFail("ranks never became ready: \(r.output)")
            return r
        }
        let pids = pidFiles.map { Int32((try? String(contentsOfFile: $0, encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0 }
        send(job, pids)
        return job.finish(timeout: 60)
    }

    /// Each rank's "stops after step S" line: S per rank, all ranks present.
    func stopSteps(_ r: RunResult, ranks: Int, file: StaticString = #filePath, line: UInt = #line) -> [Int: Int] {
        var steps: [Int: Int] = [:]
        for l in r.stdout.split(separator: "\n") where l.hasPrefix("signal: rank ") {
            let words = l.split(separator: " ")
            if let rank = Int(words[2]), let step = Int(words[6].dropLast()) { steps[rank] = step }
        }
        XCTAssertEqual(steps.count, ranks, "every rank reports its stop: \(r.output)", file: file, line: line)
        XCTAssertEqual(Set(steps.values).count, 1, "all ranks stop after the same step: \(r.output)", file: file, line: line)
        return steps
    }

    func testSIGTERMToOneRankStopsEveryRankAtTheSameStepWithExitCode75() throws {
        for n in [2, 3] {
            let target = n - 1
            let r = try runSignal(ranks: n) { _, pids in kill(pids[target], SIGTERM) }
            XCTAssertFalse(r.timedOut, r.output)
            XCTAssertEqual(r.status, 75, r.output)
            _ = stopSteps(r, ranks: n)
            XCTAssertTrue(r.stdout.contains("signal: rank \(target) stops after step"), r.output)
            XCTAssertTrue(r.stdout.contains("SIGTERM received; local=SIGTERM received"), r.output)
            XCTAssertTrue(r.stderr.contains("faconvlstm: stopped after step"), r.output)
        }
    }

    func testSIGUSR1ToMpirunIsForwardedAndStopsEveryRankWithExitCode75() throws {
        for n in [2, 3] {
            let r = try runSignal(ranks: n) { job, _ in job.send(SIGUSR1) }
            XCTAssertFalse(r.timedOut, r.output)
            XCTAssertEqual(r.status, 75, r.output)
            _ = stopSteps(r, ranks: n)
            XCTAssertTrue(r.stdout.contains("SIGUSR1 received"), r.output)
        }
    }

    /// Open MPI 4.1: mpirun answers SIGTERM by killing the job: the ranks get
    /// SIGTERM about 1 s later (odls_base_sigkill_timeout), SIGKILL 1 s after
    /// that, and mpirun exits 1 whatever the ranks return. Our ranks still
    /// agree on the stop step; docs/cluster.md tells users to send SIGUSR1.
    func testSIGTERMToMpirunStopsRanksTogetherButMpirunExits1() throws {
        let r = try runSignal(ranks: 2) { job, _ in job.send(SIGTERM) }
        XCTAssertFalse(r.timedOut, r.output)
        XCTAssertEqual(r.status, 1, r.output)
        _ = stopSteps(r, ranks: 2)
    }

    func testDeadlineStopsEveryRankAtTheSameStepWithExitCode75() {
        for n in [2, 3] {
            let r = FAConvLSTMBinary.mpirun(ranks: n, ["dist-selftest", "--scenario", "signal", "--steps", "2000",
                                                       "--exit-after-seconds", "1"], timeout: 60)
            XCTAssertEqual(r.status, 75, r.output)
            _ = stopSteps(r, ranks: n)
            XCTAssertTrue(r.stdout.contains("time limit (--exit-after-minutes) reached"), r.output)
        }
    }

    // MARK: parameter checksum

    func testChecksumNamesTheDivergingRankOnceAndExits1() {
        for n in [2, 3] {
            let r = FAConvLSTMBinary.mpirun(ranks: n, ["dist-selftest", "--scenario", "checksum", "--diverge-rank", String(n - 1),
                                                       "--steps", "5"], timeout: 60)
            XCTAssertEqual(r.status, 1, r.output)
            let message = "faconvlstm: error: parameters diverged across ranks at step 3: rank \(n - 1) differs from rank 0"
            XCTAssertEqual(r.stderr.components(separatedBy: message).count - 1, 1, "printed once, by rank 0: \(r.output)")
        }
        let same = FAConvLSTMBinary.mpirun(ranks: 3, ["dist-selftest", "--scenario", "checksum", "--diverge-step", "99",
                                                      "--steps", "5"], timeout: 60)
        XCTAssertEqual(same.status, 0, same.output)
        XCTAssertTrue(same.stdout.contains("parameters identical for 5 steps"), same.output)
    }

    // MARK: errors on one rank

    func testAnAgreedLocalFailureEndsEveryRankWithOneMessageAndNoAbort() {
        for n in [2, 3] {
            let r = FAConvLSTMBinary.mpirun(ranks: n, ["dist-selftest", "--scenario", "error", "--fail-rank", String(n - 1)],
                                            timeout: 60)
            XCTAssertEqual(r.status, 1, r.output)
            let message = "faconvlstm: error: [rank \(n - 1)] checkpoint /run/ckpt-5.nc: cannot write: No space left on device"
            XCTAssertEqual(r.stderr.components(separatedBy: message).count - 1, 1, r.output)
            XCTAssertFalse(r.output.contains("MPI_ABORT"), r.output)
        }
    }

    func testALocalFailureOutsideAnAgreedPhaseAbortsTheJob() {
        for n in [2, 3] {
            let start = Date()
            let r = FAConvLSTMBinary.mpirun(ranks: n, ["dist-selftest", "--scenario", "error", "--fail-rank", "0", "--local"],
                                            timeout: 60)
            XCTAssertEqual(r.status, 1, r.output)
            XCTAssertTrue(r.stderr.contains("faconvlstm: error: [rank 0] checkpoint /run/ckpt-5.nc"), r.output)
            // The other ranks were waiting in an all-reduce: the abort, not their 20 s watchdog, ended them.
            XCTAssertLessThan(Date().timeIntervalSince(start), 15, r.output)
        }
    }
}
