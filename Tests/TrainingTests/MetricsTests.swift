import Foundation
import TestSupport
import Training
import XCTest

final class MetricsTests: XCTestCase {
    func record(step: Int, loss: Double = 0.25) -> MetricsRecord {
        MetricsRecord(step: step, epoch: 2, samplesSeen: step * 16, loss: loss, lr: 1e-3, gradNorm: 0.5,
                      samplesPerSecond: 123.5, stepTime: 0.13, timeForward: 0.05, timeBackward: 0.07,
                      timeAllReduceExposed: 0.002, timeDataWait: 0.001, slowestRankStepTime: 0.14,
                      extra: [("val_loss", 0.3)])
    }

    func parse(_ line: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    func testLineIsOneJSONObjectWithEveryField() throws {
        let line = record(step: 10).jsonLine
        XCTAssertTrue(line.hasSuffix("}\n"))
        XCTAssertEqual(line.filter { $0 == "\n" }.count, 1)
        let obj = try parse(line)
        XCTAssertEqual(obj["step"] as? Int, 10)
        XCTAssertEqual(obj["epoch"] as? Int, 2)
        XCTAssertEqual(obj["samples_seen"] as? Int, 160)
        // Doubles round-trip exactly (shortest representation).
        let doubles: [String: Double] = [
            "loss": 0.25, "lr": 1e-3, "grad_norm": 0.5, "samples_per_s": 123.5, "step_time_s": 0.13,
            "time_forward_s": 0.05, "time_backward_s": 0.07, "time_allreduce_exposed_s": 0.002,
            "time_data_wait_s": 0.001, "slowest_rank_step_time_s": 0.14, "val_loss": 0.3,
        ]
        for (k, v) in doubles { XCTAssertEqual(obj[k] as? Double, v, k) }
        XCTAssertEqual(obj.count, 14)
        XCTAssertTrue(line.hasPrefix("{\"step\":10,\"epoch\":2,\"samples_seen\":160,\"loss\":0.25,"), "fixed key order")
    }

    func testNonFiniteValuesAreNull() throws {
        let obj = try parse(record(step: 1, loss: .nan).jsonLine)
        XCTAssertTrue(obj["loss"] is NSNull)
    }

    func testWriterAppendsAndResumeDropsLaterSteps() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/metrics.jsonl"
        let w = try MetricsWriter(path: path)
        for s in [10, 20, 30] { try w.append(record(step: s)) }
        w.close()
        // A job killed mid-line would leave a partial line; simulate one.
        let h = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        h.seekToEndOfFile()
        h.write(Data("{\"step\":40,\"epo".utf8))
        try h.close()
        // Resume from the checkpoint of step 20: steps 30 and the partial 40 go.
        let w2 = try MetricsWriter(path: path, resumingAfterStep: 20)
        try w2.append(record(step: 30))
        w2.close()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(try lines.map { try parse(String($0))["step"] as? Int }, [10, 20, 30])
    }

    func testProgressBarOnATerminalAndPlainLinesOtherwise() {
        var out: [String] = []
        let bar = ProgressDisplay(totalSteps: 100, isTerminal: true) { out.append($0) }
        bar.update(record(step: 50), now: 0)
        bar.finish()
        XCTAssertEqual(out.count, 2)
        XCTAssertTrue(out[0].hasPrefix("\r[############............] step 50/100 loss 0.2500 123.5 samples/s eta 7s"), out[0])
        XCTAssertEqual(out[1], "\n")

        out = []
        let plain = ProgressDisplay(totalSteps: 100, isTerminal: false, plainInterval: 30) { out.append($0) }
        plain.update(record(step: 10), now: 0)
        plain.update(record(step: 11), now: 10)  // within the interval: silent
        plain.update(record(step: 12), now: 31)
        plain.update(record(step: 100), now: 32)  // the last step always prints
        plain.finish()
        XCTAssertEqual(out.count, 3)
        XCTAssertTrue(out.allSatisfy { $0.hasPrefix("progress: step ") && $0.hasSuffix("\n") }, "\(out)")
    }
}
