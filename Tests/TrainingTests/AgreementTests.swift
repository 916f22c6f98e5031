import Distributed
import Foundation
import XCTest

/// One-rank behaviour of the agreement helpers, stop signals, deadline and
/// watchdog (multi-rank behaviour: Tests/CLITests/DistributedTests.swift).
final class AgreementTests: XCTestCase {
    func testSerialAgreementReturnsTheLocalValues() throws {
        let c = Communicator.serial
        XCTAssertTrue(c.anyRank(true))
        XCTAssertFalse(c.anyRank(false))
        XCTAssertTrue(c.allRanks(true))
        XCTAssertFalse(c.allRanks(false))
        let s = StepReduction(lossNumerator: 3, lossDenominator: 4, gradNormSquared: 2, nonFinite: true,
                              stop: .signal(SIGTERM), stepSeconds: 0.5)
        XCTAssertEqual(c.reduce(s), s)
        XCTAssertEqual(s.loss, 0.75)
        XCTAssertEqual(StepReduction(lossNumerator: 3).loss, 0)  // denominator 0: loss 0 (MODEL.md)
        var params: [Float] = [1, 2, 3]
        try params.withUnsafeBufferPointer { try ParameterChecksum.verify($0, step: 7, communicator: c) }
        params[1] = 2.0000002
        let a = params.withUnsafeBufferPointer(ParameterChecksum.hash)
        params.swapAt(0, 2)
        XCTAssertNotEqual(a, params.withUnsafeBufferPointer(ParameterChecksum.hash), "the hash depends on order")
    }

    func testDivergenceMessageNamesTheRanks() {
        let one = ParameterDivergence(step: 12, hashes: [0xa, 0xa, 0xb])
        XCTAssertEqual(one.divergingRanks, [2])
        XCTAssertEqual(one.description,
                       "parameters diverged across ranks at step 12: rank 2 differs from rank 0 (checksum 0xa on rank 0; 0xb on rank 2)")
        XCTAssertTrue(ParameterDivergence(step: 1, hashes: [1, 2, 3]).description.contains("ranks 1, 2 differ from rank 0"))
    }

    func testStopReasonKeepsTheMostSpecific() {
        XCTAssertEqual(StopReason.signal(SIGUSR1).description, "SIGUSR1 received")
        XCTAssertFalse(StopReason.none.isStop)
        XCTAssertTrue(StopReason.deadline.isStop)
    }

    func testStopSignalFlagIsSetByTheHandler() {
        StopSignal.install()
        StopSignal.reset()
        XCTAssertFalse(StopSignal.requested)
        XCTAssertEqual(StopSignal.localReason(deadline: .none), .none)
        raise(SIGUSR2)
        XCTAssertTrue(StopSignal.requested)
        XCTAssertEqual(StopSignal.received, SIGUSR2)
        XCTAssertEqual(StopSignal.localReason(deadline: Deadline(minutes: 0)), .signal(SIGUSR2), "a signal wins over the deadline")
        StopSignal.reset()
        XCTAssertFalse(StopSignal.requested)
    }

    func testDeadline() {
        XCTAssertFalse(Deadline.none.expired)
        XCTAssertNil(Deadline.none.remaining)
        XCTAssertTrue(Deadline(minutes: 0).expired)
        XCTAssertEqual(StopSignal.localReason(deadline: Deadline(minutes: 0)), .deadline)
        let d = Deadline(minutes: 1)
        XCTAssertFalse(d.expired)
        XCTAssertEqual(d.remaining!, 60, accuracy: 1)
    }

    /// Armed and disarmed phases shorter than the timeout: nothing happens,
    /// and stop() joins the thread promptly.
    func testWatchdogQuietAndStopsCleanly() {
        let dog = Watchdog(timeout: 1, communicator: .serial, resolution: 0.05)
        for step in 0 ..< 5 {
            dog.phase(step: step, "forward") { Thread.sleep(forTimeInterval: 0.02) }
            dog.begin(step: step, operation: "checkpoint save", timeout: 5)
            Thread.sleep(forTimeInterval: 0.02)
            dog.end()
        }
        let t0 = Date()
        dog.stop()
        dog.stop()  // idempotent
        XCTAssertLessThan(Date().timeIntervalSince(t0), 1)
    }
}
