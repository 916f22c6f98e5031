import Foundation
import TestSupport
import XCTest

/// The data commands run as a user would: the release binary, on the real
/// storm files and on generated data; references computed independently here
/// from `ncdump` output.
final class DataCommandTests: XCTestCase {
    var dir = ""
    override func setUp() {
        dir = makeTemporaryDirectory("datacli")
        XCTAssertTrue(FAConvLSTMBinary.exists, "release binary missing at \(FAConvLSTMBinary.path): run scripts/test.sh")
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    static let storm = "/usr/share/ncarg/data/cdf"

    /// Float32 values of `variable` from `ncdump -p 9,17` (9 digits identify a float32); fill ("_") as nil.
    func ncdumpValues(_ path: String, _ variable: String) throws -> [Double?] {
        let r = FAConvLSTMBinary.launch("/usr/bin/env", ["ncdump", "-v", variable, "-p", "9,17", path], environment: [:], timeout: 60, currentDirectory: nil)
        XCTAssertEqual(r.status, 0, r.output)
        let data = try XCTUnwrap(r.stdout.range(of: "data:"))
        let body = r.stdout[data.upperBound...]
        let start = try XCTUnwrap(body.range(of: "\(variable) ="))
        let end = try XCTUnwrap(body[start.upperBound...].firstIndex(of: ";"))
        return body[start.upperBound ..< end].split(whereSeparator: { $0 == "," || $0.isWhitespace }).map { $0 == "_" ? nil : Double(Float($0)!) }  // the stored float32, exactly
    }

    func meanStd(_ v: [Double]) -> (Double, Double) {
        let m = v.reduce(0, +) / Double(v.count)
        return (m, (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count)).squareRoot())
    }

    func write(_ text: String, _ name: String = "run.toml") throws -> String {
        let p = "\(dir)/\(name)"
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func testInspectDataOnTheStormSet() throws {
        guard FileManager.default.fileExists(atPath: "\(Self.storm)/Ustorm.cdf") else {
            return XCTFail("storm files missing: scripts/setup.sh installs libncarg-data")
        }
        let cfg = try write("""
            seed = 1
            [data]
            files = "\(Self.storm)/?storm.cdf"
            variables = ["u", "v", "t", "p"]
            time_units = "hours since 1996-01-05 00:00"
            tile_height = 16
            tile_width = 16
            halo = 2
            window = 8
            window_stride = 4
            validation_range = ["1996-01-13", "1996-01-14"]
            [train]
            global_batch = 12
            """)
        let r = FAConvLSTMBinary.run(["inspect-data", "--config", cfg, "--ranks", "3"], timeout: 120)
        XCTAssertEqual(r.status, 0, r.output)
        let out = r.stdout
        XCTAssertTrue(out.contains("channels: 4\n"), out)
        XCTAssertTrue(out.contains("grid: 33 x 36 (lat x lon)"), out)
        XCTAssertTrue(out.contains("time steps: 64\n"), out)
        XCTAssertTrue(out.contains("latitude: 20 .. 60, ascending"), out)
        XCTAssertTrue(out.contains("span: 1996-01-05 00:00 .. 1996-01-20 18:00, calendar standard"), out)

        // Reference by hand: frames every 6 h; validation covers 13 and 14 January (hours 192 ..< 240).
        let hours = (0 ..< 64).map { 6 * $0 }
        let isValidation = hours.map { $0 >= 192 && $0 < 240 }
        var starts: [Int] = []
        var segmentStart = 0
        for i in 0 ... 64 where i == 64 || isValidation[i] != isValidation[segmentStart] {
            if !isValidation[segmentStart] { starts += Array(stride(from: segmentStart, through: i - 8, by: 4)) }
            segmentStart = i
        }
        // Interior 12: tiles at 0, 12, then the edge tile shifted in: ceil((n - 12) / 12) + 1 per axis.
        func tiles(_ n: Int) -> Int { (n - 12 + 11) / 12 + 1 }
        let nTrain = starts.count * tiles(33) * tiles(36)
        XCTAssertTrue(out.contains("training samples: \(nTrain)\n"), "expected \(nTrain): \(out)")
        XCTAssertTrue(out.contains("validation samples: \(1 * tiles(33) * tiles(36))\n"), out)
        XCTAssertTrue(out.contains("steps per epoch: \(nTrain / 12)\n"), out)
        XCTAssertTrue(out.contains("samples per rank per step: 4\n"), out)

        // Statistics against ncdump's values of the training frames.
        for (name, file) in [("u", "Ustorm"), ("v", "Vstorm"), ("t", "Tstorm"), ("p", "Pstorm")] {
            let all = try ncdumpValues("\(Self.storm)/\(file).cdf", name)
            XCTAssertEqual(all.count, 64 * 33 * 36)
            let train = (0 ..< 64).filter { !isValidation[$0] }.flatMap { t in all[t * 1188 ..< (t + 1) * 1188].compactMap { $0 } }
            let (m, s) = meanStd(train)
            let line = try XCTUnwrap(out.split(separator: "\n").first { $0.hasPrefix("  \(name) ") }, out)
            let f = line.split(separator: " ")
            XCTAssertEqual(Double(f[1])!, m, accuracy: 1e-9 * abs(m), "mean of \(name)")
            XCTAssertEqual(Double(f[2])!, s, accuracy: 1e-9 * s, "std of \(name)")
            let missing = 1 - Double(train.count) / Double(56 * 1188)
            XCTAssertEqual(Double(f[3])!, missing, accuracy: 1e-6, "missing fraction of \(name)")
        }
    }

    /// Statistics from 1, 2 and 3 ranks agree to 1e-12 relative (they are in
    /// fact bit-identical) and match a direct Float64 computation from ncdump.
    func testStatisticsAgreeAcrossOneTwoAndThreeRanks() throws {
        let s = FAConvLSTMBinary.run(["synth", "--out", dir, "--variables", "3", "--times", "25", "--height", "9", "--width", "11",
                                      "--missing-fraction", "0.1", "--format", "classic", "--seed", "4"], timeout: 60)
        XCTAssertEqual(s.status, 0, s.output)
        let cfg = try write("""
            [data]
            files = "\(dir)/synth.nc"
            variables = ["tas", "psl", "uas"]
            validation_range = [20, 24]
            window = 2
            """)
        func stats(_ r: RunResult) -> [String: (Double, Double)] {
            var out: [String: (Double, Double)] = [:]
            for l in r.stdout.split(separator: "\n") where l.hasPrefix("stat ") {
                let f = l.split(separator: " ")
                out[String(f[1])] = (Double(f[3])!, Double(f[5])!)
            }
            return out
        }
        let one = FAConvLSTMBinary.run(["data-stats", "--config", cfg], timeout: 120)
        XCTAssertEqual(one.status, 0, one.output)
        let reference = stats(one)
        XCTAssertEqual(reference.count, 3, one.output)
        for ranks in [2, 3] {
            let r = FAConvLSTMBinary.mpirun(ranks: ranks, ["data-stats", "--config", cfg], timeout: 180)
            XCTAssertEqual(r.status, 0, r.output)
            XCTAssertTrue(r.stdout.contains("ranks \(ranks) "), r.output)
            let got = stats(r)
            for (name, (m, sd)) in reference {
                let (gm, gs) = try XCTUnwrap(got[name], r.output)
                XCTAssertEqual(gm, m, accuracy: 1e-12 * abs(m), "\(name) mean, \(ranks) ranks")
                XCTAssertEqual(gs, sd, accuracy: 1e-12 * sd, "\(name) std, \(ranks) ranks")
            }
        }
        for name in ["tas", "psl", "uas"] {
            let all = try ncdumpValues("\(dir)/synth.nc", name)
            let train = Array(all[0 ..< 20 * 99]).compactMap { $0 }
            let (m, sd) = meanStd(train)
            let (gm, gs) = try XCTUnwrap(reference[name])
            XCTAssertEqual(gm, m, accuracy: 1e-12 * abs(m), name)
            XCTAssertEqual(gs, sd, accuracy: 1e-12 * sd, name)
        }
        // The cache: computed once, then reused.
        let first = FAConvLSTMBinary.mpirun(ranks: 2, ["data-stats", "--config", cfg, "--run-dir", "\(dir)/run"], timeout: 180)
        XCTAssertTrue(first.stdout.contains("cached false"), first.output)
        let again = FAConvLSTMBinary.run(["data-stats", "--config", cfg, "--run-dir", "\(dir)/run"], timeout: 60)
        XCTAssertTrue(again.stdout.contains("cached true"), again.output)
        XCTAssertEqual(stats(again).mapValues { $0.0 }, reference.mapValues { $0.0 })
    }

    func testSynthWritesEveryLayoutThatInspectReads() throws {
        for (args, vars, expect) in [
            (["--split", "year", "--calendar", "noleap", "--times", "1500", "--step-hours", "24", "--global", "--packed"], "tas", ["calendar noleap", "global", "time steps: 1500"]),
            (["--split", "variable", "--calendar", "360_day", "--descending-latitude", "--regimes", "3", "--format", "netcdf4_classic"], "tas\", \"psl", ["calendar 360_day", "descending", "channels: 2"]),
        ] as [([String], String, [String])] {
            let out = "\(dir)/s\(args.count)"
            let s = FAConvLSTMBinary.run(["synth", "--out", out, "--height", "6", "--width", "12", "--variables", "2", "--missing-fraction", "0.01"] + args, timeout: 120)
            XCTAssertEqual(s.status, 0, s.output)
            let cfg = try write("[data]\nfiles = \"\(out)/*.nc\"\nvariables = [\"\(vars)\"]\nwindow = 4\n", "s.toml")
            let r = FAConvLSTMBinary.run(["inspect-data", "--config", cfg, "--global-batch", "2"], timeout: 120)
            XCTAssertEqual(r.status, 0, r.output)
            for e in expect { XCTAssertTrue(r.stdout.contains(e), "\(e) in \(r.stdout)") }
        }
    }

    /// Bad input through the CLI: one line `faconvlstm: error: ...` naming the
    /// thing, exit code 2, no crash or hang.
    func testBadInputExitsWithCodeTwoAndOneLine() throws {
        let s = FAConvLSTMBinary.run(["synth", "--out", dir, "--variables", "2", "--times", "10", "--height", "4", "--width", "5"], timeout: 60)
        XCTAssertEqual(s.status, 0, s.output)
        let trunc = "\(dir)/trunc.nc"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/synth.nc"))
        try bytes.prefix(bytes.count / 3).write(to: URL(fileURLWithPath: trunc))
        let base = "files = \"\(dir)/synth.nc\"\nvariables = [\"tas\", \"psl\"]\nwindow = 2\n"
        let cases: [(String, String)] = [
            ("files = \"\(dir)/absent.nc\"\nvariables = [\"tas\"]\n", "data.files: '\(dir)/absent.nc': no such file"),
            ("files = \"\(dir)/synth.nc\"\nvariables = [\"zz\"]\n", "data.variables: variable 'zz' not found in \(dir)/synth.nc"),
            (base + "windw = 3\n", "unknown field 'data.windw'"),
            ("files = \"\(dir)/synth.nc\"\nvariables = [\"tas\"]\nwindow = 11\n", "data.window: 11 frames is longer than the training range (10 consecutive frames)"),
            (base + "tile_height = 9\n", "data.tile_height: tile interior of 9 rows"),
            (base + "calendar = \"lunar\"\n", "data.calendar: unknown calendar \"lunar\""),
            ("files = \"\(trunc)\"\nvariables = [\"tas\"]\n", trunc),
            (base + "halo = -1\n", "data.halo: must be 0 or more, got -1"),
        ]
        for (body, message) in cases {
            let cfg = try write("[data]\n" + body, "bad.toml")
            let r = FAConvLSTMBinary.run(["inspect-data", "--config", cfg], timeout: 60)
            XCTAssertEqual(r.status, 2, "\(message): \(r.output)")
            XCTAssertFalse(r.timedOut)
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.hasPrefix("faconvlstm: error: "), r.stderr)
            XCTAssertTrue(r.stderr.contains(message), "expected \(message) in \(r.stderr)")
        }
        // Global batch not divisible by the ranks.
        let cfg = try write("[data]\n" + base, "ok.toml")
        let r = FAConvLSTMBinary.run(["inspect-data", "--config", cfg, "--ranks", "3", "--global-batch", "8"], timeout: 60)
        XCTAssertEqual(r.status, 2, r.output)
        XCTAssertTrue(r.stderr.contains("train.global_batch: 8 is not divisible by the 3 ranks"), r.stderr)
    }
}
