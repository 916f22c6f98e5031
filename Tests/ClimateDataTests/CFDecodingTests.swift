import ClimateData
import Foundation
import NetCDF
import TestSupport
import XCTest

/// Each CF feature on a generated file, checked against values decoded by
/// hand in the test. Exact equality unless a tolerance is stated.
final class CFDecodingTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = makeTemporaryDirectory("cf") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    let lat = [10.0, 20.0], lon = [0.0, 5.0, 10.0]

    func testFillMissingValueValidRangeAndNaNInBothFormats() throws {
        // 2 frames x 2 x 3.
        let raw: [Double] = [1, -999, 3, 150, -5, 6,
                             .nan, 8, -1, 99, 100, 101]
        for format in [NetCDFFormat.classic, .netcdf4] {
            let p = "\(dir)/fill-\(format.rawValue).nc"
            try writeTestFile(p, format: format, times: [0, 1], lat: lat, lon: lon, variables: [
                TestVar(name: "a", values: raw, attributes: ["_FillValue": .floats([-999])]),
                TestVar(name: "b", values: raw, attributes: ["missing_value": .floats([8]), "_FillValue": .floats([-999])]),
                TestVar(name: "c", values: raw, attributes: ["valid_range": .floats([0, 100])]),
                TestVar(name: "d", values: raw, attributes: ["valid_min": .floats([-1]), "valid_max": .floats([150])]),
            ])
            let d = try ClimateDataset.open(config([p], ["a", "b", "c", "d"]))
            let n = Double.nan
            // By hand: which stored values count as missing for each variable.
            XCTAssertTrue(sameMissing(try readAll(d, channel: 0), [1, n, 3, 150, -5, 6, n, 8, -1, 99, 100, 101]), format.rawValue)
            XCTAssertTrue(sameMissing(try readAll(d, channel: 1), [1, n, 3, 150, -5, 6, n, n, -1, 99, 100, 101]), format.rawValue)
            XCTAssertTrue(sameMissing(try readAll(d, channel: 2), [1, n, 3, n, n, 6, n, 8, n, 99, 100, n]), format.rawValue)
            XCTAssertTrue(sameMissing(try readAll(d, channel: 3), [1, n, 3, 150, n, 6, n, 8, -1, 99, 100, 101]), format.rawValue)
        }
    }

    func testBufferDecodeIsTheValueDecodeBitForBit() {
        // The reader decodes whole hyperslabs at once (a hoisted loop); it must
        // give what decode(_:) gives value by value, for every kind of packing.
        let stored: [Double] = [-40000, -32767, -200, -1, -0.0, 0, 0.5, 1, 7, 99.5, 100, 101, 255, 32000, 70000,
                                .nan, .infinity, -.infinity, 9.9692099683868690e+36]
        var packings: [CFPacking] = []
        for missing in [[], [-32767.0], [-32767.0, 7], [-1.0, 7, 100]] {
            for range in [nil, (0.0, 100.0), (-200.0, 99.5)] as [(Double, Double)?] {
                for (scale, offset, wrap) in [(1.0, 0.0, 0.0), (0.01, 273.15, 0.0), (2.0, -1.0, 65536.0)] {
                    var p = CFPacking()
                    p.missingValues = missing
                    p.validMin = range?.0
                    p.validMax = range?.1
                    p.scale = scale
                    p.offset = offset
                    p.unsignedWrap = wrap
                    packings.append(p)
                }
            }
        }
        var onlyMin = CFPacking(); onlyMin.validMin = 0; packings.append(onlyMin)
        var onlyMax = CFPacking(); onlyMax.validMax = 100; onlyMax.missingValues = [7]; packings.append(onlyMax)
        for p in packings {
            var buffer = stored
            buffer.withUnsafeMutableBufferPointer { p.decode($0.baseAddress!, count: $0.count) }
            for (v, got) in zip(stored, buffer) {
                let want = p.decode(v)
                XCTAssertTrue(want.isNaN ? got.isNaN : got.bitPattern == want.bitPattern, "\(p): \(v) -> \(got), want \(want)")
            }
        }
    }

    func testPackedShortsAreUnpackedAndTheirFillIsMissing() throws {
        let raw: [Double] = [-32767, -100, 0, 1, 250, 32000]
        let scale = 0.01, offset = 273.15
        for format in [NetCDFFormat.classic, .netcdf4] {
            let p = "\(dir)/packed-\(format.rawValue).nc"
            try writeTestFile(p, format: format, times: [0], lat: lat, lon: lon, variables: [
                TestVar(name: "t", type: .short, values: raw, attributes: [
                    "scale_factor": .doubles([scale]), "add_offset": .doubles([offset]), "_FillValue": .shorts([-32767]),
                ]),
                // _Unsigned bytes: stored -56 means 200.
                TestVar(name: "u", type: .byte, values: [-56, 0, 1, -1, 100, -128], attributes: ["_Unsigned": .text("true"), "scale_factor": .floats([0.5])]),
            ])
            let d = try ClimateDataset.open(config([p], ["t", "u"]))
            let expected = raw.map { $0 == -32767 ? Double.nan : $0 * scale + offset }
            XCTAssertTrue(sameMissing(try readAll(d, channel: 0), expected, tolerance: 1e-12), format.rawValue)
            XCTAssertEqual(try readAll(d, channel: 1), [200, 0, 1, 255, 100, 128].map { Double($0) * 0.5 })
        }
    }

    /// Day of year (0 at 1 January 00:00) and year length P per calendar,
    /// against dates counted by hand.
    func testEveryCalendarGivesTheRightDayOfYearAndPeriod() throws {
        let cases: [(String, String, [Double], [Double], Double)] = [
            // calendar, units, stored times, expected day of year, P
            ("standard", "days since 2000-01-01", [59, 60, 366.5], [59, 60, 0.5], 365.2425),  // 2000 is leap: 03-01 is day 60
            ("gregorian", "hours since 1999-12-31 12:00", [12, 24 * 59 + 12], [0, 59], 365.2425),
            ("proleptic_gregorian", "days since 1582-10-04", [1], [277], 365.2425),  // 1582-10-05 exists
            ("standard", "days since 1582-10-04", [1], [277], 365.2425),  // next day is 1582-10-15, still day 277
            ("julian", "days since 1900-01-01", [59, 365], [59, 365], 365.25),  // 1900 is leap in Julian
            ("noleap", "days since 2000-01-01", [59, 365], [59, 0], 365),  // no 29 Feb: 03-01 is day 59
            ("365_day", "days since 2000-01-01", [364.25], [364.25], 365),
            ("all_leap", "days since 2001-01-01", [60, 366], [60, 0], 366),
            ("366_day", "days since 2001-01-01", [365], [365], 366),
            ("360_day", "days since 2000-01-01", [30.75, 59, 365], [30.75, 59, 5], 360),  // 12 x 30 days
        ]
        for (i, (cal, units, times, doy, period)) in cases.enumerated() {
            let p = "\(dir)/cal\(i).nc"
            try writeTestFile(p, times: times, timeUnits: units, calendar: cal, lat: lat, lon: lon, variables: [
                TestVar(name: "x", values: (0 ..< times.count * 6).map { Double($0) }),
            ])
            let d = try ClimateDataset.open(config([p], ["x"]))
            XCTAssertEqual((0 ..< times.count).map { d.time.dayOfYear($0) }, doy, "\(cal) \(units)")
            XCTAssertEqual(d.time.seasonPeriod, period, cal)
        }
        // The standard calendar jumps from 1582-10-04 to 1582-10-15.
        let std = CFCalendar.standard
        XCTAssertEqual(std.dayNumber(1582, 10, 15) - std.dayNumber(1582, 10, 4), 1)
        XCTAssertEqual(CFCalendar.prolepticGregorian.dayNumber(1582, 10, 15) - CFCalendar.prolepticGregorian.dayNumber(1582, 10, 4), 11)
    }

    func testWithoutTimeUnitsTauIsTheFrameIndexAndOverridesApply() throws {
        let p = "\(dir)/nounits.nc"
        try writeTestFile(p, times: [0, 6, 12], timeUnits: nil, lat: lat, lon: lon, variables: [TestVar(name: "x", values: (0 ..< 18).map(Double.init))])
        let d = try ClimateDataset.open(config([p], ["x"]))
        XCTAssertNil(d.time.times)
        XCTAssertEqual((0 ..< 3).map { d.time.dayOfYear($0) }, [0, 1, 2])
        XCTAssertEqual(d.time.seasonPeriod, 365.2425)
        // With data.time_units and data.calendar the stored hours become dates.
        let o = try ClimateDataset.open(config([p], ["x"]) { $0.timeUnits = "hours since 2001-12-31 12:00"; $0.calendar = "noleap" })
        XCTAssertEqual((0 ..< 3).map { o.time.dayOfYear($0) }, [364.5, 364.75, 0])
        XCTAssertEqual(o.time.seasonPeriod, 365)
        // Dates select frames in the data's calendar; indices work without units.
        let r = try ClimateDataset.open(config([p], ["x"]) { $0.timeUnits = "hours since 2001-12-31 12:00"; $0.timeRange = .dates("2002-01-01", "2002") })
        XCTAssertEqual(r.trainingFrames, [2 ..< 3])
        let ix = try ClimateDataset.open(config([p], ["x"]) { $0.timeRange = .indices(1, 2) })
        XCTAssertEqual(ix.trainingFrames, [1 ..< 3])
    }

    func testDescendingLatitudeKeepsFileOrderAndWeightsFollowRows() throws {
        let lats = [60.0, 30.0, 0.0, -30.0]
        let p = "\(dir)/desc.nc"
        try writeTestFile(p, times: [0], lat: lats, lon: lon, variables: [TestVar(name: "x", values: (0 ..< 12).map(Double.init))])
        let d = try ClimateDataset.open(config([p], ["x"]))
        let c = lats.map { cos($0 * Double.pi / 180) }
        let mean = c.reduce(0, +) / 4
        XCTAssertEqual(d.grid.latitudes, lats)
        for (w, e) in zip(d.grid.latitudeWeights, c.map { $0 / mean }) { XCTAssertEqual(w, e, accuracy: 1e-12) }
        XCTAssertEqual(try readAll(d, channel: 0), (0 ..< 12).map(Double.init))  // row 0 is 60N, as in the file
        XCTAssertFalse(d.grid.isGlobal)
        // A tile of rows 2..3 carries the weights of 0 and 30S (tile 2 x 3, stride 2: tiles at rows 0 and 2).
        let dd = try ClimateDataset.open(config([p], ["x"]) { $0.tileHeight = 2 })
        let space = try SampleSpace.training(dd)
        let reader = try BatchReader(dataset: dd, normalization: Normalization(channels: ["x"], mean: [0], std: [1]), space: space)
        let b = try reader.read([1])
        XCTAssertEqual(b.latitudeWeights.map(Double.init), [c[2] / mean, c[3] / mean].map { Double(Float($0)) })
        XCTAssertEqual(b.inputs, [6, 7, 8, 9, 10, 11])
    }

    func testFilesOfAVariableConcatenateInTimeOrder() throws {
        // Variable a in two files given in reverse order; variable b in one file.
        let grid = 6
        func vals(_ t0: Int, _ n: Int) -> [Double] { (t0 * grid ..< (t0 + n) * grid).map(Double.init) }
        try writeTestFile("\(dir)/a_2.nc", times: [5, 6, 7], lat: lat, lon: lon, variables: [TestVar(name: "a", values: vals(5, 3))])
        try writeTestFile("\(dir)/a_1.nc", format: .classic, times: [0, 1, 2, 3, 4], lat: lat, lon: lon, variables: [TestVar(name: "a", values: vals(0, 5))])
        try writeTestFile("\(dir)/b.nc", times: (0 ..< 8).map(Double.init), lat: lat, lon: lon, variables: [TestVar(name: "b", values: vals(0, 8).map { -$0 })])
        let d = try ClimateDataset.open(config(["\(dir)/a_2.nc", "\(dir)/a_1.nc", "\(dir)/b.nc"], ["b", "a"]))
        XCTAssertEqual(d.frameCount, 8)
        XCTAssertEqual(d.channelNames, ["b", "a"])
        // A read across the file boundary (frames 3..6).
        var out = [Double](repeating: 0, count: 4 * grid)
        try out.withUnsafeMutableBufferPointer { try d.read(channel: 1, frames: 3 ..< 7, rows: 0 ..< 2, columns: 0 ..< 3, into: $0.baseAddress!) }
        XCTAssertEqual(out, vals(3, 4))
        XCTAssertEqual(try readAll(d, channel: 0), vals(0, 8).map { -$0 })
        // Globs expand too.
        XCTAssertEqual(try ClimateDataset.open(config(["\(dir)/a_*.nc"], ["a"])).frameCount, 8)
    }

    func testLevelSelectionPicksLevelsByValueAsChannels() throws {
        let levels = [1000.0, 850, 500]
        // (time 2, lev 3, 2 x 3): value = 100 * t + 10 * lev + point.
        var raw: [Double] = []
        for t in 0 ..< 2 { for l in 0 ..< 3 { for p in 0 ..< 6 { raw.append(Double(100 * t + 10 * l + p)) } } }
        let p = "\(dir)/lev.nc"
        try writeTestFile(p, times: [0, 1], lat: lat, lon: lon, variables: [
            TestVar(name: "T", values: raw, levels: levels), TestVar(name: "q", values: (0 ..< 12).map(Double.init)),
        ])
        let d = try ClimateDataset.open(config([p], ["T", "q"]) { $0.levels = ["T": [500, 850]] })
        XCTAssertEqual(d.channelNames, ["T@500", "T@850", "q"])
        func expected(_ l: Int) -> [Double] { (0 ..< 2).flatMap { t in (0 ..< 6).map { Double(100 * t + 10 * l + $0) } } }
        XCTAssertEqual(try readAll(d, channel: 0), expected(2))
        XCTAssertEqual(try readAll(d, channel: 1), expected(1))
        XCTAssertEqual(try readAll(d, channel: 2), (0 ..< 12).map(Double.init))
        XCTAssertThrowsError(try ClimateDataset.open(config([p], ["T"]) { $0.levels = ["T": [700]] })) { e in
            XCTAssertEqual("\(e)", "\(p): variable 'T': no level 700 in 'lev' (levels: 1000, 850, 500)")
        }
        XCTAssertThrowsError(try ClimateDataset.open(config([p], ["T"]))) { e in XCTAssertTrue("\(e)".contains("data.levels"), "\(e)") }
    }

    func testGlobalGridIsDetectedAndTilesWrapAcrossTheDateLine() throws {
        let lons = (0 ..< 36).map { Double($0) * 10 }
        let lats = [-10.0, 0, 10]
        let p = "\(dir)/global.nc"
        // value = 1000 * row + column
        let raw = (0 ..< 3).flatMap { y in (0 ..< 36).map { Double(1000 * y + $0) } }
        try writeTestFile(p, times: [0], lat: lats, lon: lons, variables: [TestVar(name: "x", values: raw)])
        let d = try ClimateDataset.open(config([p], ["x"]) { $0.tileHeight = 3; $0.tileWidth = 12; $0.halo = 1 })
        XCTAssertTrue(d.grid.isGlobal)
        let space = try SampleSpace.training(d)
        // Interior 1 x 10 on 3 rows: rows 0,1,2 (last shifted in); columns wrap: origins 0,10,20,30.
        XCTAssertEqual(space.tiling.rowOrigins, [0, 1, 2])
        XCTAssertEqual(space.tiling.columnOrigins, [0, 10, 20, 30])
        let reader = try BatchReader(dataset: d, normalization: Normalization(channels: ["x"], mean: [0], std: [1]), space: space)
        // Sample 4: row origin 1, column origin 0: corner (0, -1): columns 35, 0, ..., 10.
        let b = try reader.read([4])
        let cols = [35] + Array(0 ... 10)
        let expected = (0 ..< 3).flatMap { y in cols.map { Float(1000 * y + $0) } }
        XCTAssertEqual(b.inputs, expected)
        // Mask: interior is row 1, columns 1..10 of the tile.
        let mask = (0 ..< 3).flatMap { y in (0 ..< 12).map { x in Float(y == 1 && (1 ... 10).contains(x) ? 1 : 0) } }
        XCTAssertEqual(b.mask, mask)
        // Sample 7 (row 1, column origin 30): columns 29..35, 0..4 wrap east.
        let b7 = try reader.read([7])
        XCTAssertEqual(Array(b7.inputs[12 ..< 24]), ([29, 30, 31, 32, 33, 34, 35, 0, 1, 2, 3, 4]).map { Float(1000 + $0) })
    }
}
