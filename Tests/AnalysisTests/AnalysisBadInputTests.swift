import Foundation
import TestSupport
import XCTest

/// Bad input to the analysis commands: one line naming the thing, exit code
/// 2, and nothing written (no output, no temporary file).
final class AnalysisBadInputTests: XCTestCase {
    let fixture = AnalysisFixture.shared

    /// Runs the case and checks exit 2, exactly one error line containing `expected`, and no file at `output` or `output.tmp`.
    func expectRefused(_ name: String, ranks: Int = 1, _ args: [String], _ expected: String, output: String?,
                       file: StaticString = #filePath, line: UInt = #line) {
        let r = ranks == 1 ? FAConvLSTMBinary.run(args, timeout: 120) : FAConvLSTMBinary.mpirun(ranks: ranks, args, timeout: 120)
        XCTAssertFalse(r.timedOut, "\(name): hung", file: file, line: line)
        XCTAssertEqual(r.status, 2, "\(name): \(r.output)", file: file, line: line)
        let errors = r.stderr.split(separator: "\n").filter { $0.hasPrefix("faconvlstm: error:") }
        XCTAssertEqual(errors.count, 1, "\(name): \(r.stderr)", file: file, line: line)
        XCTAssertTrue(errors.first?.contains(expected) ?? false, "\(name): expected '\(expected)' in \(r.stderr)", file: file, line: line)
        if let o = output {
            XCTAssertFalse(FileManager.default.fileExists(atPath: o), "\(name): \(o) was written", file: file, line: line)
            XCTAssertFalse(FileManager.default.fileExists(atPath: o + ".tmp"), "\(name): \(o).tmp left behind", file: file, line: line)
        }
    }

    func testCheckpointThatDoesNotMatchTheData() throws {
        let (runDir, config) = try fixture.storm("forecast")
        let out = fixture.directory + "/mismatch.nc"
        let three = fixture.write("three.toml", AnalysisFixture.stormConfig(runDir: runDir, objective: "forecast", variables: ["u", "v", "t"]))
        let swapped = fixture.write("swapped.toml", AnalysisFixture.stormConfig(runDir: runDir, objective: "forecast", variables: ["v", "u", "t", "p"]))
        for command in ["embed", "predict"] {
            expectRefused("\(command): fewer channels", [command, "--checkpoint", runDir, "--config", three, "--output", out],
                          "the model was trained on channels [u, v, t, p], the data gives [u, v, t]", output: out)
            expectRefused("\(command): channels in another order", [command, "--checkpoint", runDir, "--config", swapped, "--output", out],
                          "the model was trained on channels [u, v, t, p], the data gives [v, u, t, p]", output: out)
        }
        expectRefused("evaluate, 2 ranks: other channels", ranks: 2, ["evaluate", "--checkpoint", runDir, "--config", three],
                      "the model was trained on channels [u, v, t, p]", output: nil)
        expectRefused("tile larger than the grid", ["embed", "--checkpoint", runDir, "--config", config, "--set", "data.tile_height=40", "--output", out],
                      "data.tile_height: tile interior of 38 rows (tile_height 40 - 2 * halo 1) is larger than the grid's 33 rows", output: out)
        expectRefused("tile larger than the grid, 2 ranks", ranks: 2,
                      ["predict", "--checkpoint", runDir, "--config", config, "--set", "data.tile_width=60", "--output", out],
                      "data.tile_width: tile interior of 58 columns", output: out)
        let bogus = fixture.write("bogus.nc", "not a checkpoint")
        expectRefused("not a checkpoint", ["embed", "--checkpoint", bogus, "--config", config, "--output", out], "--checkpoint: \(bogus)", output: out)
        expectRefused("no checkpoint", ["embed", "--checkpoint", fixture.directory + "/none.nc", "--config", config, "--output", out],
                      "none.nc: no such file", output: out)
    }

    func testTimeRangeOutsideTheData() throws {
        let (runDir, config) = try fixture.storm("forecast")
        let out = fixture.directory + "/range.nc"
        let base = ["--checkpoint", runDir, "--config", config]
        expectRefused("indices past the end", ["embed"] + base + ["--time-range", "60", "80", "--output", out],
                      "--time-range: frames [60, 80] are outside the data's frames 0 ... 63", output: out)
        expectRefused("dates after the data", ["predict"] + base + ["--time-range", "1997-01-01", "1997-02-01", "--output", out],
                      "--time-range: [\"1997-01-01\", \"1997-02-01\"] selects no frame (the data runs from 1996-01-05 00:00 to 1996-01-20 18:00)", output: out)
        expectRefused("shorter than a window", ["evaluate"] + base + ["--time-range", "3", "5"],
                      "--time-range: 3 frame(s) (1996-01-05 18:00 to 1996-01-06 06:00) is shorter than one window of 4 frames", output: nil)
        expectRefused("not a date", ["embed"] + base + ["--time-range", "yesterday", "today", "--output", out],
                      "--time-range: cannot read [\"yesterday\", \"today\"]", output: out)
        expectRefused("2 ranks, outside", ranks: 2, ["embed"] + base + ["--time-range", "0", "64", "--output", out],
                      "--time-range: frames [0, 64] are outside", output: out)
        expectRefused("attention at a frame no window attends", ["attention"] + base + ["--time", "0", "--y", "3", "--x", "4", "--output", out],
                      "--time: frame 0 (1996-01-05 00:00) is at no attended step", output: out)
        expectRefused("attention: no such layer", ["attention"] + base + ["--time", "20", "--layer", "2", "--y", "3", "--x", "4", "--output", out],
                      "--layer 2: the model has layers 0 ... 1", output: out)
    }

    func testOutputPaths() throws {
        let (runDir, config) = try fixture.storm("forecast")
        let dir = fixture.directory + "/outputs"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let existing = dir + "/exists.nc"
        _ = FileManager.default.createFile(atPath: existing, contents: Data("keep me".utf8))
        let base = ["--checkpoint", runDir, "--config", config, "--time-range", "0", "7"]
        for command in ["embed", "predict"] {
            let r = FAConvLSTMBinary.run([command] + base + ["--output", existing])
            XCTAssertEqual(r.status, 2, r.output)
            XCTAssertTrue(r.stderr.contains("faconvlstm: error: --output \(existing): exists (give --overwrite to replace it)"), r.stderr)
            XCTAssertEqual(try String(contentsOfFile: existing, encoding: .utf8), "keep me", "refused, yet the file changed")
        }
        let e = FAConvLSTMBinary.mpirun(ranks: 2, ["evaluate"] + base + ["--json", existing])
        XCTAssertEqual(e.status, 2, e.output)
        XCTAssertTrue(e.stderr.contains("--json \(existing): exists"), e.stderr)
        XCTAssertEqual(try String(contentsOfFile: existing, encoding: .utf8), "keep me")
        // With --overwrite the file is replaced by a complete one.
        let o = FAConvLSTMBinary.run(["embed"] + base + ["--output", existing, "--overwrite"])
        XCTAssertEqual(o.status, 0, o.output)
        XCTAssertEqual(try NC.read(existing, "frame", as: Int32.self), Array(0 ..< 8))
        XCTAssertFalse(FileManager.default.fileExists(atPath: existing + ".tmp"))

        let missingDir = dir + "/no/such/dir/emb.nc"
        expectRefused("directory missing", ["embed"] + base + ["--output", missingDir], "--output \(missingDir): directory \(dir)/no/such/dir does not exist", output: missingDir)
        // A directory the user cannot write to: permission bits do not stop
        // root, so as root use /sys (sysfs refuses new files even to root).
        var unwritable = "/sys/faconvlstm-test.nc"
        if geteuid() != 0 {
            let ro = dir + "/readonly"
            try FileManager.default.createDirectory(atPath: ro, withIntermediateDirectories: true)
            chmod(ro, 0o555)
            unwritable = ro + "/emb.nc"
        }
        expectRefused("directory not writable", ["embed"] + base + ["--output", unwritable], "--output \(unwritable): cannot write in directory", output: unwritable)
        expectRefused("directory not writable, 2 ranks", ranks: 2, ["predict"] + base + ["--output", unwritable], "cannot write in directory", output: unwritable)
        expectRefused("cluster: output exists", ["cluster", "--embeddings", existing, "-k", "2", "--output", existing],
                      "--output \(existing): exists", output: nil)
        expectRefused("cluster: not embeddings", ["cluster", "--embeddings", config, "-k", "2"], "--embeddings \(config): cannot open", output: nil)
    }
}
