import Foundation
import TestSupport
import XCTest

/// `faconvlstm inspect CHECKPOINT` as a user runs it, on checkpoints the
/// hidden `checkpoint-loop` command writes; statistics checked against the
/// values `ncdump` prints.
final class InspectCheckpointTests: XCTestCase {
    var dir = ""
    override func setUp() {
        dir = makeTemporaryDirectory("inspectckpt")
        XCTAssertTrue(FAConvLSTMBinary.exists, "release binary missing at \(FAConvLSTMBinary.path): run scripts/test.sh")
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Writes one checkpoint at step 1234 and returns its path.
    func checkpoint(_ extra: [String]) throws -> String {
        let r = FAConvLSTMBinary.run(["checkpoint-loop", "--dir", dir, "--first-step", "1234"] + extra, timeout: 60)
        XCTAssertEqual(r.status, 0, r.output)
        return dir + "/ckpt-00001234.nc"
    }

    /// Values of a variable ("/params/decoder.w") as ncdump prints them (9 digits: exact float32).
    func ncdump(_ path: String, _ variable: String) throws -> [Double] {
        let r = FAConvLSTMBinary.launch("/usr/bin/env", ["ncdump", "-v", variable, "-p", "9,17", path], environment: [:], timeout: 60, currentDirectory: nil)
        XCTAssertEqual(r.status, 0, r.output)
        let name = String(variable.split(separator: "/").last!)
        let data = try XCTUnwrap(r.stdout.range(of: "data:"))
        let start = try XCTUnwrap(r.stdout[data.upperBound...].range(of: "\(name) ="))
        let end = try XCTUnwrap(r.stdout[start.upperBound...].firstIndex(of: ";"))
        return r.stdout[start.upperBound ..< end].split(whereSeparator: { $0 == "," || $0.isWhitespace }).map { Double(Float($0)!) }
    }

    func testInspectShowsTheCheckpoint() throws {
        let path = try checkpoint(["--cell", "convlstm", "--hidden", "8", "--channels", "2", "--sgd"])
        let r = FAConvLSTMBinary.run(["inspect", path])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(r.stderr, "")
        let out = r.stdout
        for line in ["format: faconvlstm-checkpoint version 1", "step: 1234", "epoch: 123", "samples seen: 19744", "seed: 7",
                     "world size: 1", "software version: faconvlstm 0.1.0", "  cell convlstm, objective reconstruct",
                     "  channels 2, layers 2, hidden 8, kernel 3, bottleneck 4, dilations [1, 2, 4]",
                     "optimizer: no AdamW moments (plain SGD)",
                     // 3 per convlstm layer x 2 + 9 head/decoder + normalization mean, std
                     "checksums: all 17 variables verified (Fletcher32)"] {
            XCTAssertTrue(out.contains(line + "\n"), "missing '\(line)' in:\n\(out)")
        }
        XCTAssertNotNil(out.range(of: #"created: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n"#, options: .regularExpression), out)
        XCTAssertNotNil(out.range(of: #"\n  v0 +0\.5 +1\.25\n  v1 +10\.5 +2\.25\n"#, options: .regularExpression), "normalization table:\n\(out)")

        // Parameter rows: name, shape, count, min, max, rms; the statistics against ncdump's values.
        var rows: [String: [String]] = [:]
        for line in out.split(separator: "\n") where line.hasPrefix("  layers.") || line.hasPrefix("  head.") || line.hasPrefix("  decoder.") {
            let name = String(line.split(separator: " ")[0])
            let shape = try XCTUnwrap(line.firstRange(of: #/\[[\d, ]+\]/#))
            let rest = line[shape.upperBound...].split(separator: " ").map(String.init)
            rows[name] = [String(line[shape])] + rest
        }
        XCTAssertEqual(rows.count, 15)
        XCTAssertEqual(rows["layers.0.conv.wx"]?.prefix(2), ["[32, 2, 3, 3]", "576"])
        XCTAssertEqual(rows["layers.1.conv.wh"]?.prefix(2), ["[32, 8, 3, 3]", "2304"])
        XCTAssertEqual(rows["decoder.w"]?.prefix(2), ["[2, 8]", "16"])
        for name in ["layers.0.conv.wx", "layers.1.conv.b", "decoder.w", "head.tattn.wq"] {
            let v = try ncdump(path, "/params/\(name)")
            let row = try XCTUnwrap(rows[name])
            XCTAssertEqual(Int(row[1]), v.count, name)
            let rms = (v.map { $0 * $0 }.reduce(0, +) / Double(v.count)).squareRoot()
            for (got, want) in zip(row[2...].map { Double($0)! }, [v.min()!, v.max()!, rms]) {
                XCTAssertEqual(got, want, accuracy: 1e-5 * max(1, abs(want)), "\(name): printed %.6g")
            }
        }
        let total = try XCTUnwrap(out.firstMatch(of: #/total: 15 parameters, (\d+) values/#))
        XCTAssertEqual(Int(total.1), rows.values.map { Int($0[1])! }.reduce(0, +))
    }

    func testInspectConfigPrintsTheEmbeddedConfig() throws {
        let path = try checkpoint(["--cell", "faconvlstm", "--hidden", "6"])
        let r = FAConvLSTMBinary.run(["inspect", "--config", path])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.stdout.hasPrefix("seed = 7\n\n[model]\ncell = \"faconvlstm\"\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("\nhidden = 6\n") && r.stdout.contains("\n[checkpoint]\n"), r.stdout)
        XCTAssertFalse(r.stdout.contains("step:"), "only the config")
    }

    func testInspectOfADamagedCheckpointFailsWithOneLine() throws {
        let path = try checkpoint(["--cell", "convlstm", "--hidden", "24"])
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let flipped = dir + "/flipped.nc"
        bytes[bytes.count / 2] ^= 0x04  // the middle of the file: inside the big conv weights' data
        try bytes.write(to: URL(fileURLWithPath: flipped))
        let truncated = dir + "/truncated.nc"
        try bytes.prefix(bytes.count / 3).write(to: URL(fileURLWithPath: truncated))
        let text = dir + "/notes.nc"
        try "hello\n".write(toFile: text, atomically: true, encoding: .utf8)

        for (file, fragment) in [(flipped, "data fails to read"), (truncated, "cannot open"), (text, "cannot open"),
                                 (dir + "/absent.nc", "cannot open: no such file")] {
            let r = FAConvLSTMBinary.run(["inspect", file])
            XCTAssertEqual(r.status, 1, "\(file): \(r.output)")
            XCTAssertEqual(r.stdout, "", file)
            XCTAssertTrue(r.stderr.hasPrefix("faconvlstm: error: \(file): "), r.stderr)
            XCTAssertTrue(r.stderr.contains(fragment), r.stderr)
            XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, "one line: \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("HDF5-DIAG"), "no HDF5 error stack")
        }
        XCTAssertTrue(FAConvLSTMBinary.run(["inspect", flipped]).stderr.contains("Fletcher32 checksum mismatch"))
        XCTAssertEqual(FAConvLSTMBinary.run(["inspect", "--config", flipped]).status, 1, "--config validates too")
    }

    func testHelpTeaches() {
        let r = FAConvLSTMBinary.run(["inspect", "--help"])
        XCTAssertEqual(r.status, 0)
        for s in ["Fletcher32", "Exit status: 0 when the checkpoint is valid, 1 when it is not", "--config", "faconvlstm inspect run/checkpoints/"] {
            XCTAssertTrue(r.stdout.contains(s), "'\(s)' not in help:\n\(r.stdout)")
        }
        let top = FAConvLSTMBinary.run(["--help"]).stdout
        XCTAssertTrue(top.contains("inspect"), top)
        XCTAssertFalse(top.contains("checkpoint-loop"), "the test command stays hidden")
    }
}
