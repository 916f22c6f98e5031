import Foundation
import TestSupport
import XCTest

/// `faconvlstm args...` through TestSupport: exit status and stdout + stderr.
func runCLI(_ args: [String]) throws -> (status: Int32, out: String) {
    // A missing binary is a failure, not a skip: scripts/test.sh builds it first.
    guard FAConvLSTMBinary.exists else {
        throw TestFailure("no faconvlstm binary at \(FAConvLSTMBinary.path) (run scripts/test.sh, which builds it)")
    }
    let r = FAConvLSTMBinary.run(args)
    return (r.status, r.output)
}

final class DescribeCLITests: XCTestCase {
    /// The default config's total, counted by hand in ParameterLayoutTests:
    /// layer 0 6,021 + layer 1 6,469 + head 2,452 = 14,942.
    func testDescribeDefaultCount() throws {
        let (status, out) = try runCLI(["describe"])
        XCTAssertEqual(status, 0, out)
        XCTAssertTrue(out.contains("total parameters: 14,942"), out)
        XCTAssertTrue(out.contains("layers.0.mix.dw2        [16, 3, 3]"), out)
        XCTAssertTrue(out.contains("compared with convlstm: 117,908 parameters"), out)
    }

    func testDescribeRejectsBadConfig() throws {
        let (status, out) = try runCLI(["describe", "--set", "model.kernel=4"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(out.contains("kernel"), out)
    }

    func testBenchJSON() throws {
        let (status, out) = try runCLI(["bench", "--samples", "1", "--steps", "2", "--height", "8", "--width", "8",
                                        "--iterations", "1", "--warmup", "0", "--json"])
        XCTAssertEqual(status, 0, out)
        let obj = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any]
        XCTAssertNotNil(obj?["samples_per_second"] as? Double, out)
        XCTAssertGreaterThan(obj?["peak_rss_bytes"] as? Int ?? 0, 0)
    }
}

final class DebugStateCLITests: XCTestCase {
    /// debug-state --generate writes every input and output of docs/design.md
    /// "Debug state" with the documented sizes, and loss = numerator / denominator.
    func testDebugStateWritesTheDocumentedFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("debug-state-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = """
            {"dtype": "float64", "seed": 3,
             "model": {"cell": "faconvlstm", "objective": "forecast", "channels": 2, "layers": 2, "hidden": 4, "kernel": 3,
                       "bottleneck": 2, "dilations": [1, 2], "se_reduction": 2, "attn_stride": 2, "attn_dk": 3,
                       "embed_dim": 4, "season_period_days": 365.2425},
             "batch": {"samples": 2, "steps": 4, "height": 5, "width": 3}}
            """
        try config.write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        let (status, out) = try runCLI(["debug-state", "--dir", dir.path, "--generate"])
        XCTAssertEqual(status, 0, out)
        func size(_ name: String) -> Int {
            ((try? FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(name).path))?[.size] as? Int) ?? -1
        }
        let layout = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("layout.json"))) as! [[String: Any]]
        let last = layout.last!
        let total = (last["offset"] as! Int) + (last["shape"] as! [Int]).reduce(1, *)
        XCTAssertEqual(layout.first?["name"] as? String, "layers.0.bottleneck.wx")
        let frame = 4 * 2 * 2 * 5 * 3
        XCTAssertEqual(size("params.bin"), total * 8)
        XCTAssertEqual(size("inputs.bin"), frame * 8)
        XCTAssertEqual(size("mask.bin"), frame * 8)
        XCTAssertEqual(size("lat_weights.bin"), 2 * 5 * 8)
        XCTAssertEqual(size("day_of_year.bin"), 2 * 4 * 8)
        XCTAssertEqual(size("swift/grads.bin"), total * 8)
        XCTAssertEqual(size("swift/input_grads.bin"), frame * 8)
        XCTAssertEqual(size("swift/prediction.bin"), 3 * 2 * 2 * 5 * 3 * 8)   // forecast: T-1 target steps
        XCTAssertEqual(size("swift/embeddings.bin"), 4 * 2 * 4 * 8)
        XCTAssertEqual(size("swift/hidden_l0.bin"), 4 * 4 * 2 * 5 * 3 * 8)
        XCTAssertEqual(size("swift/hidden_l1.bin"), 4 * 4 * 2 * 5 * 3 * 8)
        let loss = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("swift/loss.json"))) as! [String: Double]
        XCTAssertGreaterThan(loss["denominator"]!, 0)
        XCTAssertEqual(loss["loss"]!, loss["numerator"]! / loss["denominator"]!, accuracy: 1e-12)
        // Running again on the same inputs (without --generate) reproduces the gradients exactly.
        let grads1 = try Data(contentsOf: dir.appendingPathComponent("swift/grads.bin"))
        XCTAssertEqual(try runCLI(["debug-state", "--dir", dir.path]).status, 0)
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("swift/grads.bin")), grads1)
    }
}
