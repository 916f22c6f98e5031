import Distributed
import Foundation
import Logging
import Model
import Training
import XCTest

/// Collects lines from a log handler (the handler is Sendable, so is this).
final class LineSink: @unchecked Sendable {
    // @unchecked: `lines` is only touched under `lock`.
    private let lock = NSLock()
    private var stored: [String] = []
    func add(_ s: String) { lock.withLock { stored.append(s) } }
    var lines: [String] { lock.withLock { stored } }
}

final class LogTests: XCTestCase {
    func logger(rank: Int, size: Int, sink: LineSink) -> Logger {
        Logger(label: "test") { _ in RankLogHandler(rank: rank, size: size, sink: { sink.add($0) }) }
    }

    func testOnlyRankZeroPrintsRoutineLines() {
        for rank in 0 ..< 3 {
            let sink = LineSink()
            let log = logger(rank: rank, size: 3, sink: sink)
            log.info("epoch 1 done")
            log.notice("checkpoint saved")
            log.warning("skipped step 4: non-finite gradient")
            log.error("cannot read file x.nc")
            var expected: [String] = []
            if rank == 0 { expected += ["epoch 1 done\n", "checkpoint saved\n"] }
            expected += ["faconvlstm: warning: [rank \(rank)] skipped step 4: non-finite gradient\n",
                         "faconvlstm: error: [rank \(rank)] cannot read file x.nc\n"]
            XCTAssertEqual(sink.lines, expected, "rank \(rank)")
        }
    }

    func testOneRankHasNoRankPrefixAndMetadataIsAppended() {
        let sink = LineSink()
        var log = logger(rank: 0, size: 1, sink: sink)
        log[metadataKey: "step"] = "10"
        log.warning("slow step", metadata: ["seconds": "3.5"])
        log.debug("hidden below info")
        XCTAssertEqual(sink.lines, ["faconvlstm: warning: slow step seconds=3.5 step=10\n"])
        XCTAssertTrue(RankLogHandler.prints(.info, rank: 0))
        XCTAssertFalse(RankLogHandler.prints(.notice, rank: 1))
        XCTAssertTrue(RankLogHandler.prints(.critical, rank: 5))
    }

    func testExitCodesAndScopes() {
        XCTAssertEqual(RunExitCode.allCases.map(\.rawValue), [0, 1, 2, 3, 75])
        let local = RunError("cannot write checkpoint /x: disk full")
        XCTAssertTrue(RunTermination.classify(local) == (.failure, .thisRank))
        XCTAssertEqual(RunTermination.message(for: local, rank: 2, size: 4),
                       "faconvlstm: error: [rank 2] cannot write checkpoint /x: disk full\n")
        XCTAssertEqual(RunTermination.message(for: local, rank: 0, size: 1),
                       "faconvlstm: error: cannot write checkpoint /x: disk full\n")
        let divergence = ParameterDivergence(step: 3, hashes: [1, 2])
        XCTAssertTrue(RunTermination.classify(divergence) == (.failure, .allRanks))
        XCTAssertEqual(RunTermination.message(for: divergence, rank: 0, size: 2),
                       "faconvlstm: error: \(divergence.description)\n", "agreed errors have no rank prefix")
        XCTAssertTrue(RunTermination.classify(ConfigError("model.hidden: must be at least 1")) == (.badInput, .thisRank))
        let stop = RunError.stopped(.signal(SIGTERM), afterStep: 40)
        XCTAssertTrue(RunTermination.classify(stop) == (.stopped, .allRanks))
        XCTAssertEqual(RunTermination.message(for: stop, rank: 0, size: 2),
                       "faconvlstm: stopped after step 40: SIGTERM received; checkpoint saved, exiting with code 75 (requeue to resume)\n")
        struct Other: Error {}
        XCTAssertTrue(RunTermination.classify(Other()) == (.failure, .thisRank))
    }
}
