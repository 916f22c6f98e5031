import Foundation
import XCTest

/// Runs the built `faconvlstm` binary (FACONVLSTM_BIN, else .build/release/faconvlstm).
func runCLI(_ args: [String]) throws -> (status: Int32, out: String) {
    let bin = ProcessInfo.processInfo.environment["FACONVLSTM_BIN"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/release/faconvlstm").path
    guard FileManager.default.isExecutableFile(atPath: bin) else {
        // A missing binary is a failure, not a skip: scripts/test.sh builds it first.
        throw CLIError(message: "no faconvlstm binary at \(bin) (run scripts/test.sh, which builds it)")
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: bin)
    p.arguments = args
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

struct CLIError: Error { let message: String }

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
