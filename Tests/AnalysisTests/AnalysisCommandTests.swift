import Analysis
import ClimateData
import Foundation
import NetCDF
import TestSupport
import XCTest

/// embed, predict, evaluate, attention and cluster end to end on the storm
/// set and on synthetic regimes (scripts/test-analysis.sh reads the same
/// kinds of files with xarray, netCDF4 and scikit-learn).
final class AnalysisCommandTests: XCTestCase {
    let fixture = AnalysisFixture.shared

    func run(_ ranks: Int, _ args: [String]) -> RunResult {
        ranks == 1 ? FAConvLSTMBinary.run(args, timeout: 180) : FAConvLSTMBinary.mpirun(ranks: ranks, args, timeout: 180)
    }

    func newDirectory() -> String {
        let d = fixture.directory + "/" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// The same embeddings, bit for bit, from 1 and 2 ranks (every variable, every attribute but the creation time and command line).
    func testEmbedOneAndTwoRanksIdentical() throws {
        let (runDir, config) = try fixture.storm("forecast")
        let dir = newDirectory()
        var outputs: [String] = []
        for ranks in [1, 2] {
            let out = "\(dir)/emb\(ranks).nc"
            let r = run(ranks, ["embed", "--checkpoint", runDir, "--config", config, "--output", out])
            XCTAssertEqual(r.status, 0, r.output)
            XCTAssertTrue(r.stdout.contains("64 time steps (1996-01-05 00:00 to 1996-01-20 18:00) x 16 tile(s) x 4 components, window 4, step 3"), r.stdout)
            outputs.append(out)
        }
        let names = try NC.variableNames(outputs[0])
        XCTAssertEqual(names, try NC.variableNames(outputs[1]))
        XCTAssertEqual(try NC.dimensions(outputs[0], "z"), ["time", "tile_y", "tile_x", "embedding"])
        for name in names {
            let a = try NC.read(outputs[0], name, as: Double.self), b = try NC.read(outputs[1], name, as: Double.self)
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), name)
            XCTAssertEqual(try NC.attributes(outputs[0], name), try NC.attributes(outputs[1], name), name)
        }
        var ga = try NC.attributes(outputs[0]), gb = try NC.attributes(outputs[1])
        for key in ["history", "created"] { ga[key] = nil; gb[key] = nil }
        XCTAssertEqual(ga, gb)
        // z is float32; the embeddings are not all alike (the model looks at the data).
        let z = try NC.read(outputs[0], "z", as: Float.self)
        XCTAssertEqual(z.count, 64 * 16 * 4)
        XCTAssertTrue(z.allSatisfy(\.isFinite))
        XCTAssertGreaterThan(Set(z).count, 1000)
        XCTAssertEqual(try NC.read(outputs[0], "time", as: Double.self), (0 ..< 64).map { Double($0 * 6) })
        XCTAssertEqual(try NC.attributes(outputs[0], "time")["units"], .text("hours since 1996-01-05 00:00"))
        XCTAssertEqual(try NC.attributes(outputs[0], "time")["calendar"], .text("standard"))
        XCTAssertEqual(ga["checkpoint_step"], .int64s([60]))
    }

    /// The RMSE and bias `evaluate` prints are those of `predict`'s file against the input files.
    func testPredictFileGivesEvaluatesScores() throws {
        let (runDir, config) = try fixture.storm("forecast")
        let dir = newDirectory()
        let pred = dir + "/pred.nc", json = dir + "/eval.json", maps = dir + "/maps.nc"
        let p = run(1, ["predict", "--checkpoint", runDir, "--config", config, "--output", pred])
        XCTAssertEqual(p.status, 0, p.output)
        let e = run(2, ["evaluate", "--checkpoint", runDir, "--config", config, "--json", json, "--maps", maps])
        XCTAssertEqual(e.status, 0, e.output)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        let scores = try XCTUnwrap(report["variables"] as? [String: [String: Any]])

        XCTAssertEqual(try NC.dimensions(pred, "u"), ["timestep", "lat", "lon"])
        XCTAssertEqual(try NC.read(pred, "timestep", as: Double.self), (1 ..< 64).map { Double($0 * 6) })
        var c = DataConfig()
        c.files = AnalysisFixture.storm
        c.variables = ["u", "v", "t", "p"]
        c.timeUnits = "hours since 1996-01-05 00:00"
        let data = try ClimateDataset.open(c)
        defer { data.close() }
        let lat = try XCTUnwrap(data.grid.latitudes)
        XCTAssertEqual(try NC.read(pred, "lat", as: Double.self), lat)
        let plane = 33 * 36
        for (v, name) in ["u", "v", "t", "p"].enumerated() {
            let predicted = try NC.read(pred, name, as: Float.self)
            var truth = [Double](repeating: 0, count: 63 * plane)
            try truth.withUnsafeMutableBufferPointer { try data.read(channel: v, frames: 1 ..< 64, rows: 0 ..< 33, columns: 0 ..< 36, into: $0.baseAddress!) }
            var sw = 0.0, swd2 = 0.0, swd = 0.0
            for i in 0 ..< truth.count {
                XCTAssertEqual(truth[i].isNaN, predicted[i].isNaN, "\(name) missing mask at \(i)")
                if truth[i].isNaN { continue }
                let w = cos(lat[(i % plane) / 36] * Double.pi / 180)
                let d = Double(predicted[i]) - truth[i]
                sw += w; swd2 += w * d * d; swd += w * d
            }
            let rmse = (swd2 / sw).squareRoot(), bias = swd / sw
            let reported = try XCTUnwrap(scores[name]?["rmse"] as? Double)
            XCTAssertEqual(rmse, reported, accuracy: 1e-12 * reported, name)
            XCTAssertEqual(bias, try XCTUnwrap(scores[name]?["bias"] as? Double), accuracy: 1e-12 * reported, name)
            // The table shows 9 significant digits of the same number.
            let row = try XCTUnwrap(e.stdout.split(separator: "\n").first { $0.hasPrefix(name + " ") })
            let shown = try XCTUnwrap(Double(row.split(separator: " ", omittingEmptySubsequences: true)[2]))
            XCTAssertEqual(shown, rmse, accuracy: 1e-8 * rmse)
        }
        XCTAssertEqual(try NC.dimensions(maps, "rmse_u"), ["lat", "lon"])
        // 2 ranks write the same fields, bit for bit.
        let p2 = run(2, ["predict", "--checkpoint", runDir, "--config", config, "--output", dir + "/pred2.nc"])
        XCTAssertEqual(p2.status, 0, p2.output)
        for name in ["u", "v", "t", "p", "timestep"] {
            XCTAssertEqual(try NC.read(pred, name, as: Double.self).map(\.bitPattern), try NC.read(dir + "/pred2.nc", name, as: Double.self).map(\.bitPattern), name)
        }
    }

    /// Level-selected channels (ta@500, ta@1000) are levels of one variable `ta(time, plev, lat, lon)`, as in the input.
    func testLevelChannelsShareTheirVariable() throws {
        let dir = newDirectory(), path = dir + "/levels.nc"
        let file = try NetCDFFile.create(path, format: .netcdf4)
        let root = file.root
        try root.defineDimension("time", length: 16)
        try root.defineDimension("plev", length: 3)
        try root.defineDimension("lat", length: 6)
        try root.defineDimension("lon", length: 8)
        let time = try root.defineVariable("time", type: .double, dimensions: ["time"])
        try time.setAttribute("units", .text("days since 2001-01-01"))
        try time.setAttribute("calendar", .text("360_day"))
        let plev = try root.defineVariable("plev", type: .float, dimensions: ["plev"])
        try plev.setAttribute("units", .text("hPa"))
        let lat = try root.defineVariable("lat", type: .float, dimensions: ["lat"])
        try lat.setAttribute("units", .text("degrees_north"))
        let lon = try root.defineVariable("lon", type: .float, dimensions: ["lon"])
        try lon.setAttribute("units", .text("degrees_east"))
        let ta = try root.defineVariable("ta", type: .float, dimensions: ["time", "plev", "lat", "lon"])
        try ta.setAttribute("units", .text("K"))
        try time.writeAll((0 ..< 16).map { Double($0) / 4 })
        try plev.writeAll([Float(1000), 850, 500])
        try lat.writeAll((0 ..< 6).map { Float(30 + 5 * $0) })
        try lon.writeAll((0 ..< 8).map { Float(10 * $0) })
        var values = [Float](repeating: 0, count: 16 * 3 * 48)
        for i in values.indices { values[i] = 250 + 10 * Float(sin(Double(i) * 0.37)) }
        try ta.writeAll(values)
        try file.close()
        let config = fixture.write("levels.toml", """
            seed = 1
            run_dir = "\(dir)/run"
            [model]
            hidden = 4
            layers = 1
            embed_dim = 2
            objective = "forecast"
            [data]
            files = ["\(path)"]
            variables = ["ta"]
            levels = { ta = [500, 1000] }
            window = 3
            [train]
            steps = 4
            global_batch = 2
            micro_batch = 2
            [checkpoint]
            every_steps = 0
            every_minutes = 0
            """)
        XCTAssertEqual(run(1, ["train", "--config", config]).status, 0)
        let p = run(1, ["predict", "--checkpoint", dir + "/run", "--config", config, "--output", dir + "/pred.nc"])
        XCTAssertEqual(p.status, 0, p.output)
        XCTAssertEqual(try NC.dimensions(dir + "/pred.nc", "ta"), ["time", "plev", "lat", "lon"])
        XCTAssertEqual(try NC.read(dir + "/pred.nc", "plev", as: Double.self), [500, 1000])
        XCTAssertEqual(try NC.attributes(dir + "/pred.nc", "ta")["units"], .text("K"))
        XCTAssertEqual(try NC.attributes(dir + "/pred.nc", "time")["calendar"], .text("360_day"))
        XCTAssertEqual(try NC.read(dir + "/pred.nc", "ta", as: Float.self).count, 15 * 2 * 48)
        let e = run(1, ["evaluate", "--checkpoint", dir + "/run", "--config", config])
        XCTAssertEqual(e.status, 0, e.output)
        XCTAssertTrue(e.stdout.contains("ta@500 ") && e.stdout.contains("ta@1000 "), e.stdout)
    }

    /// A reconstruct model from a checkpoint file and its embedded config: every frame, the middle window step.
    func testReconstructWithEmbeddedConfig() throws {
        let (runDir, _) = try fixture.storm("reconstruct")
        let dir = newDirectory()
        let ckpt = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: runDir + "/checkpoints").first { $0.hasSuffix(".nc") })
        let e = run(1, ["embed", "--checkpoint", runDir + "/checkpoints/" + ckpt, "--output", dir + "/emb.nc", "--time-range", "1996-01-06", "1996-01-07 18:00"])
        XCTAssertEqual(e.status, 0, e.output)
        XCTAssertTrue(e.stdout.contains("8 time steps (1996-01-06 00:00 to 1996-01-07 18:00) x 16 tile(s) x 4 components, window 4, step 2"), e.stdout)
        XCTAssertEqual(try NC.read(dir + "/emb.nc", "frame", as: Int32.self), Array(4 ..< 12))
        XCTAssertEqual(try NC.read(dir + "/emb.nc", "window_start", as: Int32.self), [4, 4, 4, 5, 6, 7, 8, 8])
        let p = run(1, ["predict", "--checkpoint", runDir, "--output", dir + "/pred.nc", "--time-range", "0", "9"])
        XCTAssertEqual(p.status, 0, p.output)
        XCTAssertEqual(try NC.read(dir + "/pred.nc", "timestep", as: Double.self), (0 ..< 10).map { Double($0 * 6) })
        XCTAssertEqual(try NC.attributes(dir + "/pred.nc")["config_source"], .text("checkpoint"))
    }

    /// Time coordinates: a coordinate without units keeps its stored values (so
    /// the files still align with the input); data without a time coordinate
    /// variable gets the 0-based frame index.
    func testTimeCoordinateWithoutUnitsOrWithoutVariable() throws {
        let (runDir, config) = try fixture.storm("forecast")
        let dir = newDirectory()
        let text = try String(contentsOfFile: config, encoding: .utf8)
        let noUnits = fixture.write("storm-no-units.toml", text.split(separator: "\n").filter { !$0.hasPrefix("time_units") }.joined(separator: "\n"))
        let p = run(1, ["predict", "--checkpoint", runDir, "--config", noUnits, "--time-range", "0", "9", "--output", dir + "/pred.nc"])
        XCTAssertEqual(p.status, 0, p.output)
        XCTAssertEqual(try NC.read(dir + "/pred.nc", "timestep", as: Double.self), (1 ..< 10).map { Double($0 * 6) })
        XCTAssertNil(try NC.attributes(dir + "/pred.nc", "timestep")["units"])

        // A variable on (time, y, x) and nothing else: no time, latitude or longitude coordinates.
        let path = dir + "/bare.nc"
        let file = try NetCDFFile.create(path, format: .netcdf4)
        try file.root.defineDimension("time", length: 20)
        try file.root.defineDimension("y", length: 8)
        try file.root.defineDimension("x", length: 8)
        let v = try file.root.defineVariable("field", type: .float, dimensions: ["time", "y", "x"])
        var values = [Float](repeating: 0, count: 20 * 64)
        for i in values.indices {
            let position = Double(i % 64) / 5, time = Double(i / 64) / 3
            values[i] = Float(sin(position + time))
        }
        try v.writeAll(values)
        try file.close()
        let bare = fixture.write("bare.toml", """
            seed = 1
            run_dir = "\(dir)/run"
            [model]
            hidden = 4
            layers = 1
            embed_dim = 2
            [data]
            files = ["\(path)"]
            variables = ["field"]
            window = 3
            [train]
            steps = 5
            global_batch = 2
            micro_batch = 2
            [checkpoint]
            every_steps = 0
            every_minutes = 0
            """)
        XCTAssertEqual(run(1, ["train", "--config", bare]).status, 0)
        let e = run(1, ["embed", "--checkpoint", dir + "/run", "--config", bare, "--output", dir + "/emb.nc"])
        XCTAssertEqual(e.status, 0, e.output)
        XCTAssertTrue(e.stdout.contains("20 time steps (frame 0 to frame 19) x 1 tile(s) x 2 components"), e.stdout)
        XCTAssertEqual(try NC.read(dir + "/emb.nc", "time", as: Int32.self), Array(0 ..< 20))
        XCTAssertNil(try NC.attributes(dir + "/emb.nc", "time")["units"])
        XCTAssertEqual(try NC.dimensions(dir + "/emb.nc", "z"), ["time", "embedding"])
        let q = run(2, ["predict", "--checkpoint", dir + "/run", "--config", bare, "--output", dir + "/bare-pred.nc"])
        XCTAssertEqual(q.status, 0, q.output)
        XCTAssertEqual(try NC.dimensions(dir + "/bare-pred.nc", "field"), ["time", "y", "x"])
        XCTAssertFalse(try NC.variableNames(dir + "/bare-pred.nc").contains("y"))
        XCTAssertEqual(try NC.read(dir + "/bare-pred.nc", "time", as: Int32.self), Array(0 ..< 20))
    }

    /// The axial attention weights of one point: two softmaxes that each sum to 1.
    func testAttentionWeights() throws {
        let (runDir, config) = try fixture.storm("forecast")
        let dir = newDirectory(), out = dir + "/att.nc"
        let r = run(1, ["attention", "--checkpoint", runDir, "--config", config, "--time", "1996-01-10 12:00", "--layer", "1", "--y", "16", "--x", "18", "--output", out])
        XCTAssertEqual(r.status, 0, r.output)
        let row = try NC.read(out, "row_weight", as: Double.self), column = try NC.read(out, "column_weight", as: Double.self)
        XCTAssertEqual(row.count, 12)
        XCTAssertEqual(column.count, 12)
        XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-5)
        XCTAssertEqual(column.reduce(0, +), 1, accuracy: 1e-5)
        XCTAssertTrue(try NC.read(out, "key_column", as: Int32.self).contains(18))
        XCTAssertTrue(try NC.read(out, "key_row", as: Int32.self).contains(16))
        XCTAssertEqual(try NC.read(out, "time", as: Double.self), [132])
    }

    /// k-means on the embeddings of data with 3 known regimes finds them (ARI >= 0.9).
    ///
    /// The seasonal encoding is switched off (season_period_days = 1e6): with the
    /// calendar's year it drifts more over these 40 days than the regimes move z.
    /// The embeddings are taken from 1-frame windows: with the trained 4-frame
    /// window the LSTM memory makes z_t lag each switch by a step or more.
    func testClusterRecoversKnownRegimes() throws {
        let dir = newDirectory()
        let s = run(1, ["synth", "--out", dir + "/data", "--regimes", "3", "--times", "160", "--height", "16", "--width", "16", "--variables", "2", "--seed", "3"])
        XCTAssertEqual(s.status, 0, s.output)
        let config = fixture.write("regimes.toml", """
            seed = 2
            run_dir = "\(dir)/run"
            [model]
            hidden = 8
            layers = 1
            embed_dim = 4
            attn_stride = 2
            objective = "reconstruct"
            season_period_days = 1e6
            [data]
            files = ["\(dir)/data/synth.nc"]
            variables = ["tas", "psl"]
            window = 4
            [optimizer]
            lr = 0.003
            [train]
            steps = 60
            global_batch = 8
            micro_batch = 4
            [checkpoint]
            every_steps = 0
            every_minutes = 0
            """)
        XCTAssertEqual(run(1, ["train", "--config", config]).status, 0)
        let truth = try NC.read(dir + "/data/synth.nc", "regime", as: Int32.self).map(Int.init)
        var ari: [Int: Double] = [:]
        for window in [1, 4] {
            let emb = "\(dir)/emb\(window).nc", labels = "\(dir)/labels\(window).nc"
            let e = run(1, ["embed", "--checkpoint", dir + "/run", "--config", config, "--set", "data.window=\(window)", "--output", emb])
            XCTAssertEqual(e.status, 0, e.output)
            let c = run(1, ["cluster", "--embeddings", emb, "-k", "3", "--restarts", "10", "--seed", "1", "--output", labels])
            XCTAssertEqual(c.status, 0, c.output)
            XCTAssertTrue(c.stdout.contains("silhouette"), c.stdout)
            let found = try NC.read(labels, "label", as: Int32.self).map(Int.init)
            let frames = try NC.read(labels, "frame", as: Int32.self).map(Int.init)
            ari[window] = ClusterMetrics.adjustedRandIndex(frames.map { truth[$0] }, found)
            XCTAssertEqual(try NC.read(labels, "time", as: Double.self), try NC.read(emb, "time", as: Double.self))
        }
        print("regimes: ARI against the true labels \(ari[1]!) (1-frame windows), \(ari[4]!) (4-frame windows)")
        XCTAssertGreaterThanOrEqual(ari[1]!, 0.9)
    }
}
