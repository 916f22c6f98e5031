import ClimateData
import Foundation
import Model
import NetCDF
import TestSupport
import Training
import XCTest

/// The checkpoint file (CHECKPOINT.md v1): bitwise round trips, the on-disk
/// layout as `ncdump` and the NetCDF library see it, and one precise error
/// per kind of damage.
final class CheckpointFileTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = makeTemporaryDirectory("ckptfile") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func assertBitwiseEqual(_ a: TrainingState, _ b: TrainingState, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Fixtures.bits(a.parameters), Fixtures.bits(b.parameters), "parameters", file: file, line: line)
        XCTAssertEqual(a.moments.map { Fixtures.bits($0.first) }, b.moments.map { Fixtures.bits($0.first) }, "adam_m", file: file, line: line)
        XCTAssertEqual(a.moments.map { Fixtures.bits($0.second) }, b.moments.map { Fixtures.bits($0.second) }, "adam_v", file: file, line: line)
        XCTAssertEqual(Fixtures.bits(a.normalization.mean), Fixtures.bits(b.normalization.mean), file: file, line: line)
        XCTAssertEqual(Fixtures.bits(a.normalization.std), Fixtures.bits(b.normalization.std), file: file, line: line)
        var expected = a
        expected.model = a.model.resolved
        XCTAssertEqual(b, expected, file: file, line: line)
    }

    func testRoundTripIsBitwiseForBothCellsAndSGD() throws {
        for (cell, adam) in [(ModelConfig.Cell.faconvlstm, true), (.convlstm, true), (.faconvlstm, false), (.convlstm, false)] {
            var s = Fixtures.state(Fixtures.model(cell), adam: adam)
            s.step = 1 << 40 + 3
            s.samplesSeen = 1 << 35
            s.seed = UInt64(Int64.max)
            s.config += "# a comment with \"quotes\", unicode \u{00e9}\u{2192} and a tab\t\n"
            let path = "\(dir)/\(cell)-\(adam).nc"
            try CheckpointFile.write(s, to: path)
            let back = try CheckpointFile.read(path, expecting: s.model)
            assertBitwiseEqual(s, back)
            XCTAssertEqual(back.parameters[0].sign, .minus, "-0.0 survives")
            XCTAssertEqual(back.parameters[1], .leastNonzeroMagnitude, "subnormal survives")
            // SGD: no moment groups in the file at all.
            let f = try NetCDFFile.open(path)
            let groups = try f.root.groups().map(\.path).sorted()
            XCTAssertEqual(groups, adam ? ["/adam_m", "/adam_v", "/normalization", "/params"] : ["/normalization", "/params"])
            try f.close()
        }
    }

    /// Root and /params attribute types as NetCDF stores them: NC_CHAR text, int32, int64, float64.
    func testAttributeTypesAsTheSpecSays() throws {
        let s = Fixtures.state()
        let path = "\(dir)/a.nc"
        try CheckpointFile.write(s, to: path)
        let f = try NetCDFFile.open(path)
        defer { try? f.close() }
        XCTAssertEqual(f.format, .netcdf4)
        let root = try f.root.attributes()
        XCTAssertEqual(Set(root.keys), ["format", "format_version", "step", "epoch", "samples_seen", "seed", "world_size", "config", "created", "software_version"])
        XCTAssertEqual(root["format"], .text("faconvlstm-checkpoint"))
        XCTAssertEqual(root["format_version"], .ints([1]))
        XCTAssertEqual(root["step"], .int64s([17]))
        XCTAssertEqual(root["epoch"], .int64s([3]))
        XCTAssertEqual(root["samples_seen"], .int64s([17 * 16]))
        XCTAssertEqual(root["seed"], .int64s([1]))
        XCTAssertEqual(root["world_size"], .ints([4]))
        XCTAssertEqual(root["config"], .text(s.config))
        XCTAssertEqual(root["created"], .text("2026-01-02T03:04:05Z"))
        XCTAssertEqual(root["software_version"], .text("faconvlstm \(faconvlstmVersion)"))
        let p = try XCTUnwrap(f.root.group(named: "params")).attributes()
        XCTAssertEqual(p["cell"], .text("faconvlstm"))
        XCTAssertEqual(p["objective"], .text("forecast"))
        XCTAssertEqual(p["layers"], .ints([2]))
        XCTAssertEqual(p["hidden"], .ints([6]))
        XCTAssertEqual(p["kernel"], .ints([3]))
        XCTAssertEqual(p["bottleneck"], .ints([3]), "resolved: max(1, 6/2)")
        XCTAssertEqual(p["dilations"], .ints([1, 2]))
        XCTAssertEqual(p["se_reduction"], .ints([4]))
        XCTAssertEqual(p["attn_stride"], .ints([2]))
        XCTAssertEqual(p["attn_dk"], .ints([4]))
        XCTAssertEqual(p["embed_dim"], .ints([4]))
        XCTAssertEqual(p["season_period_days"], .doubles([365.2425]))
        XCTAssertEqual(p["channels"], .ints([3]))
        XCTAssertEqual(p.count, 13)
        let n = try XCTUnwrap(f.root.group(named: "normalization"))
        XCTAssertEqual(try n.attribute("channels"), .text("var0,T@500,var2"))
        // Created in UTC with the spec's format.
        XCTAssertNotNil(TrainingState.utcNow().range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"#, options: .regularExpression))
    }

    /// `ncdump -h -s` (the system NetCDF tools) against CHECKPOINT.md: groups,
    /// every variable float32 with its MODEL.md name and shape and Fletcher32
    /// on, attribute types by their CDL suffixes (LL = int64, none = int32 /
    /// text in quotes), normalization mean/std float64 over the channels.
    func testLayoutSeenByNcdump() throws {
        let model = Fixtures.model(.faconvlstm)
        let s = Fixtures.state(model)
        let path = "\(dir)/n.nc"
        try CheckpointFile.write(s, to: path)
        let (status, cdl) = Fixtures.shell(["ncdump", "-h", "-s", path])
        XCTAssertEqual(status, 0, cdl)
        var dims: [String: Int] = [:]
        for m in cdl.matches(of: #/\n\s*(\w+) = (\d+) ;/#) { dims[String(m.1)] = Int(m.2)! }
        for line in [":format = \"faconvlstm-checkpoint\" ;", ":format_version = 1 ;", ":step = 17LL ;", ":epoch = 3LL ;",
                     ":samples_seen = 272LL ;", ":seed = 1LL ;", ":world_size = 4 ;", ":created = \"2026-01-02T03:04:05Z\" ;",
                     ":cell = \"faconvlstm\" ;", ":objective = \"forecast\" ;", ":layers = 2 ;", ":hidden = 6 ;", ":kernel = 3 ;",
                     ":bottleneck = 3 ;", ":dilations = 1, 2 ;", ":se_reduction = 4 ;", ":attn_stride = 2 ;", ":attn_dk = 4 ;",
                     ":embed_dim = 4 ;", ":season_period_days = 365.2425 ;", ":channels = 3 ;", ":channels = \"var0,T@500,var2\" ;"] {
            XCTAssertTrue(cdl.contains(line), "missing '\(line)' in ncdump -h")
        }
        XCTAssertFalse(cdl.contains("string "), "text attributes must be NC_CHAR, not NC_STRING")
        // Variables per group: "float name(d, ...) ;" with their _Fletcher32.
        var groups: [String: [(type: String, name: String, shape: [Int])]] = [:]
        var current = "/"
        var fletcher: Set<String> = []
        for line in cdl.split(separator: "\n") {
            if let m = line.firstMatch(of: #/^\s*group: (\w+) \{/#) { current = String(m.1); continue }
            if let m = line.firstMatch(of: #/^\s*(float|double) ([\w.@]+)\(([^)]*)\) ;/#) {
                let shape = m.3.split(separator: ",").map { dims[$0.trimmingCharacters(in: .whitespaces)] ?? -1 }
                groups[current, default: []].append((String(m.1), String(m.2), shape))
            }
            if let m = line.firstMatch(of: #/^\s*([\w.@]+):_Fletcher32 = "true" ;/#) { fletcher.insert("\(current)/\(m.1)") }
        }
        XCTAssertEqual(Set(groups.keys), ["params", "adam_m", "adam_v", "normalization"])
        // Hand-written from MODEL.md for V 3, Ch 6, r 3, q 1, k 3, D [1, 2], dk 4, de 4.
        var expected: [(String, [Int])] = []
        for l in 0 ..< 2 {
            let cin = l == 0 ? 3 : 6, p = "layers.\(l)."
            expected += [(p + "bottleneck.wx", [3, cin]), (p + "bottleneck.wh", [3, 6]), (p + "bottleneck.b", [3]),
                         (p + "mix.dw0", [3, 3, 3]), (p + "mix.dw1", [3, 3, 3]), (p + "mix.b", [3]),
                         (p + "se.w1", [1, 3]), (p + "se.b1", [1]), (p + "se.w2", [3, 1]), (p + "se.b2", [3]),
                         (p + "gates.w", [24, 3]), (p + "gates.b", [24]),
                         (p + "peephole.i", [6]), (p + "peephole.f", [6]), (p + "peephole.o", [6]),
                         (p + "attn.wq", [4, 6]), (p + "attn.wk", [4, 6]), (p + "attn.wv", [6, 6]), (p + "attn.wo", [6, 6]),
                         (p + "attn.gamma", [1])]
        }
        expected += [("head.embed.w", [4, 6]), ("head.embed.b", [4]), ("head.tattn.wq", [4, 4]), ("head.tattn.wk", [4, 4]),
                     ("head.tattn.wv", [4, 4]), ("head.film.scale", [6, 4]), ("head.film.shift", [6, 4]),
                     ("decoder.w", [3, 6]), ("decoder.b", [3])]
        for g in ["params", "adam_m", "adam_v"] {
            let got = groups[g] ?? []
            XCTAssertEqual(got.map(\.name), expected.map(\.0), "/\(g) names, in order")
            XCTAssertEqual(got.map(\.shape), expected.map(\.1), "/\(g) shapes")
            XCTAssertTrue(got.allSatisfy { $0.type == "float" }, "/\(g) float32")
            for v in got { XCTAssertTrue(fletcher.contains("\(g)/\(v.name)"), "/\(g)/\(v.name) without Fletcher32") }
        }
        XCTAssertEqual(groups["normalization"]?.map(\.name), ["mean", "std"])
        XCTAssertEqual(groups["normalization"]?.map(\.type), ["double", "double"])
        XCTAssertEqual(groups["normalization"]?.map(\.shape), [[3], [3]])
        XCTAssertTrue(fletcher.contains("normalization/mean") && fletcher.contains("normalization/std"))
        XCTAssertEqual(fletcher.count, 3 * expected.count + 2, "Fletcher32 on every variable")
        // No variable repeats a dimension (xarray cannot index those).
        XCTAssertFalse(cdl.contains("d0_4, d0_4"))
    }

    /// The file is built in memory (NetCDFFile.createInMemory) yet is the same
    /// kind of file `nc_create` writes: HDF5 superblock 2 (metadata
    /// checksums), reopenable for writing, variables in creation order (the
    /// ncdump test checks the order).
    func testInMemoryBuiltFileIsAFullNetCDF4File() throws {
        let path = "\(dir)/mem.nc"
        try CheckpointFile.write(Fixtures.state(), to: path)
        let head = try Data(contentsOf: URL(fileURLWithPath: path)).prefix(9)
        XCTAssertEqual(Array(head), [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a, 2], "HDF5 signature, superblock version 2")
        try Fixtures.edit(path) { try $0.root.setAttribute("note", .text("appended")) }
        XCTAssertEqual(try NetCDFFile.open(path).root.attribute("note"), .text("appended"))
        XCTAssertEqual(try CheckpointFile.read(path).step, 17)
    }

    func testChunksTileBigVariablesExactly() {
        XCTAssertEqual(CheckpointFile.chunkShape([4, 3]), [4, 3])
        XCTAssertEqual(CheckpointFile.chunkShape([1024, 256, 3, 3]), [342, 256, 3, 3], "3 chunks of <= 2^20 values")
        XCTAssertEqual(CheckpointFile.chunkShape([1 << 22]), [1 << 20])
        XCTAssertEqual(CheckpointFile.chunkShape([1, 1 << 21]), [1, 1 << 21], "one row: cannot split further")
    }

    // MARK: Errors

    func testEachKindOfDamageIsNamed() throws {
        let model = Fixtures.model(.convlstm)
        let good = "\(dir)/good.nc"
        try CheckpointFile.write(Fixtures.state(model), to: good)
        func copy(_ name: String) throws -> String {
            let p = "\(dir)/\(name).nc"
            try FileManager.default.copyItem(atPath: good, toPath: p)
            return p
        }

        let missing = "\(dir)/absent.nc"
        assertCheckpointError(.cannotOpen, missing, ["cannot open", "no such file"]) { _ = try CheckpointFile.read(missing) }

        let text = "\(dir)/text.nc"
        try "not a netcdf file\n".write(toFile: text, atomically: true, encoding: .utf8)
        assertCheckpointError(.cannotOpen, text, ["cannot open"]) { _ = try CheckpointFile.read(text) }

        let truncated = try copy("truncated")
        try Fixtures.truncate(truncated, to: 0.6)
        assertCheckpointError(.cannotOpen, truncated, ["cannot open", "truncated or damaged"]) { _ = try CheckpointFile.read(truncated) }

        let classic = "\(dir)/classic.nc"
        let c = try NetCDFFile.create(classic, format: .classic)
        try c.root.setAttribute("format", .text("faconvlstm-checkpoint"))
        try c.close()
        assertCheckpointError(.notACheckpoint, classic, ["not a faconvlstm checkpoint", "classic"]) { _ = try CheckpointFile.read(classic) }

        let other = try copy("other")
        try Fixtures.edit(other) { try $0.root.setAttribute("format", .text("something-else")) }
        assertCheckpointError(.notACheckpoint, other, ["format is \"something-else\""]) { _ = try CheckpointFile.read(other) }

        let future = try copy("future")
        try Fixtures.edit(future) { try $0.root.setAttribute("format_version", .ints([2])) }
        assertCheckpointError(.unsupportedVersion, future, ["format_version 2"]) { _ = try CheckpointFile.read(future) }

        let noStep = try copy("nostep")
        try Fixtures.edit(noStep) { try $0.root.deleteAttribute("step") }
        assertCheckpointError(.missingAttribute, noStep, ["global attribute 'step'"]) { _ = try CheckpointFile.read(noStep) }

        let noHidden = try copy("nohidden")
        try Fixtures.edit(noHidden) { try XCTUnwrap($0.root.group(named: "params")).deleteAttribute("hidden") }
        assertCheckpointError(.missingAttribute, noHidden, ["/params attribute 'hidden'"]) { _ = try CheckpointFile.read(noHidden) }

        let textStep = try copy("textstep")
        try Fixtures.edit(textStep) { try $0.root.setAttribute("epoch", .text("three")) }
        assertCheckpointError(.badAttribute, textStep, ["'epoch' must be an integer"]) { _ = try CheckpointFile.read(textStep) }

        let negative = try copy("negative")
        try Fixtures.edit(negative) { try $0.root.setAttribute("seed", .int64s([-5])) }
        assertCheckpointError(.badAttribute, negative, ["'seed' is -5"]) { _ = try CheckpointFile.read(negative) }

        let badCell = try copy("badcell")
        try Fixtures.edit(badCell) { try XCTUnwrap($0.root.group(named: "params")).setAttribute("cell", .text("gru")) }
        assertCheckpointError(.badAttribute, badCell, ["'cell' is \"gru\""]) { _ = try CheckpointFile.read(badCell) }

        // Attributes that promise a third dilation branch the file does not hold: a missing variable.
        let fewer = "\(dir)/fewer.nc"
        try CheckpointFile.write(Fixtures.state(Fixtures.model(.faconvlstm)), to: fewer)
        try Fixtures.edit(fewer) { try XCTUnwrap($0.root.group(named: "params")).setAttribute("dilations", .ints([1, 2, 4])) }
        assertCheckpointError(.missingVariable, fewer, ["missing variable /params/layers.0.mix.dw2"]) { _ = try CheckpointFile.read(fewer) }

        // Files a correct writer never makes: float64 parameters, no checksum, another shape, a variable missing.
        for (name, edit, kind, fragment) in [
            ("double", Fixtures.VariableEdit.asDouble, CheckpointError.Kind.wrongType, "/params/decoder.w is double, expected float"),
            ("nochecksum", .noChecksum, .noChecksum, "/params/decoder.w has no Fletcher32 checksum"),
            ("flat", .flatten, .wrongShape, "/params/decoder.w has shape [18], the model needs [3, 6]"),
            ("dropped", .drop, .missingVariable, "missing variable /params/decoder.w"),
        ] {
            let p = "\(dir)/\(name).nc"
            try Fixtures.rewrite(good, to: p) { g, n in g == "params" && n == "decoder.w" ? edit : .keep }
            assertCheckpointError(kind, p, [fragment]) { _ = try CheckpointFile.read(p) }
        }
        let copied = "\(dir)/copied.nc"
        try Fixtures.rewrite(good, to: copied) { _, _ in .keep }
        XCTAssertEqual(try CheckpointFile.read(copied), try CheckpointFile.read(good), "the copy itself is faithful")

        // A variable the model does not have.
        let extra = try copy("extra")
        try Fixtures.edit(extra) { f in
            let g = try XCTUnwrap(f.root.group(named: "params"))
            try g.defineDimension("two", length: 2)
            try g.defineVariable("layers.2.conv.b", type: .float, dimensions: ["two"], fletcher32: true).writeAll([Float(1), 2])
        }
        assertCheckpointError(.unexpectedVariable, extra, ["/params/layers.2.conv.b is not a parameter"]) { _ = try CheckpointFile.read(extra) }

        // Attributes that promise a bigger embedding than the variables hold: wrong shape.
        let shape = try copy("shape")
        try Fixtures.edit(shape) { try XCTUnwrap($0.root.group(named: "params")).setAttribute("embed_dim", .ints([6])) }
        assertCheckpointError(.wrongShape, shape, ["/params/head.embed.w has shape [4, 6], the model needs [6, 6]"]) { _ = try CheckpointFile.read(shape) }

        let nan = try copy("nan")
        try Fixtures.edit(nan) { try XCTUnwrap($0.root.group(named: "params")).variable("decoder.b").write([Float(1), .nan, 3], start: [0], count: [3]) }
        assertCheckpointError(.nonFinite, nan, ["parameter decoder.b[1] = nan is not finite"]) { _ = try CheckpointFile.read(nan) }

        let inf = try copy("inf")
        try Fixtures.edit(inf) { try XCTUnwrap($0.root.group(named: "adam_m")).variable("decoder.w").write([Float.infinity], start: [2, 5], count: [1, 1]) }
        assertCheckpointError(.nonFinite, inf, ["first moment decoder.w[17]"]) { _ = try CheckpointFile.read(inf) }

        let badStd = try copy("badstd")
        try Fixtures.edit(badStd) { try XCTUnwrap($0.root.group(named: "normalization")).variable("std").write([0.0], start: [1], count: [1]) }
        assertCheckpointError(.nonFinite, badStd, ["channel 'T@500'"]) { _ = try CheckpointFile.read(badStd) }

        let names = try copy("names")
        try Fixtures.edit(names) { try XCTUnwrap($0.root.group(named: "normalization")).setAttribute("channels", .text("a,b")) }
        assertCheckpointError(.badAttribute, names, ["names 2 channels, the model has 3"]) { _ = try CheckpointFile.read(names) }

        // Compatible in every way but the configuration the caller expects.
        var want = model
        want.hidden = 8
        want.objective = .reconstruct
        assertCheckpointError(.incompatible, good, ["objective: forecast in the checkpoint, reconstruct expected", "hidden: 6 in the checkpoint, 8 expected"]) {
            _ = try CheckpointFile.read(good, expecting: want)
        }
        XCTAssertNoThrow(try CheckpointFile.read(good, expecting: model))
        XCTAssertNoThrow(try CheckpointFile.read(good, expecting: model.resolved))
    }

    /// A bit flipped inside a parameter's stored data: HDF5's Fletcher32
    /// check fails the read, which names the variable (no crash, no garbage).
    func testFlippedBitInDataFailsTheChecksum() throws {
        let model = Fixtures.model(.convlstm, channels: 4, hidden: 32)
        var s = Fixtures.state(model, adam: false)
        let e = try XCTUnwrap(s.layout.entry(named: "layers.1.conv.wh"))
        XCTAssertGreaterThan(e.count * 4, 100_000, "a big variable")
        // A recognizable run of values in the middle of the variable, to find its bytes in the file.
        let mid = e.offset + e.count / 2
        for i in 0 ..< 8 { s.parameters[mid + i] = 1000 + Float(i) * 0.125 }
        let path = "\(dir)/flip.nc"
        try CheckpointFile.write(s, to: path)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let needle = s.parameters[mid ..< mid + 8].withUnsafeBytes { Data($0) }
        let at = try XCTUnwrap(bytes.range(of: needle), "the pattern is stored little-endian as written").lowerBound
        XCTAssertNil(bytes[(at + 1)...].range(of: needle), "pattern is unique")
        XCTAssertNoThrow(try CheckpointFile.read(path))
        try Fixtures.flipBit(path, at: at + 13)
        assertCheckpointError(.corruptData, path, ["/params/layers.1.conv.wh", "Fletcher32"]) { _ = try CheckpointFile.read(path) }
        // The same file with the bit flipped back reads again: the check is of that byte.
        try Fixtures.flipBit(path, at: at + 13)
        XCTAssertEqual(try CheckpointFile.read(path).parameters[mid + 3], 1000.375)
    }

    func testWriterRefusesInvalidStatesAndLeavesNoFile() throws {
        var s = Fixtures.state()
        s.parameters[5] = .nan
        let path = "\(dir)/bad.nc"
        assertCheckpointError(.invalidState, path, ["parameter layers.0.bottleneck.wx[5] = nan is not finite"]) { try CheckpointFile.write(s, to: path) }
        s = Fixtures.state()
        s.parameters.removeLast()
        assertCheckpointError(.invalidState, path, ["parameters, the model has"]) { try CheckpointFile.write(s, to: path) }
        s = Fixtures.state()
        s.normalization.channels[0] = "a,b"
        assertCheckpointError(.invalidState, path, ["contains a comma"]) { try CheckpointFile.write(s, to: path) }
        s = Fixtures.state()
        s.seed = UInt64(Int64.max) + 1
        assertCheckpointError(.invalidState, path, ["seed"]) { try CheckpointFile.write(s, to: path) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))

        let nowhere = "\(dir)/no/such/dir/x.nc"
        assertCheckpointError(.writeFailed, nowhere, ["cannot write the checkpoint"]) { try CheckpointFile.write(Fixtures.state(), to: nowhere) }
    }

    /// A long config (many files listed) fits as an attribute.
    func testLargeConfigText() throws {
        var s = Fixtures.state()
        s.config += "# " + String(repeating: "x", count: 200_000) + "\n"
        let path = "\(dir)/big.nc"
        try CheckpointFile.write(s, to: path)
        XCTAssertEqual(try CheckpointFile.read(path).config, s.config)
    }

    func testEstimatedSizeIsAnUpperBound() throws {
        for (cell, adam) in [(ModelConfig.Cell.faconvlstm, true), (.convlstm, false)] {
            let s = Fixtures.state(Fixtures.model(cell, hidden: 16), adam: adam)
            let path = "\(dir)/\(cell).nc"
            try CheckpointFile.write(s, to: path)
            let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
            let estimate = CheckpointFile.estimatedSize(of: s)
            XCTAssertGreaterThanOrEqual(estimate, size)
            XCTAssertLessThan(estimate, 3 * size + 200_000, "not absurdly generous")
        }
    }
}
