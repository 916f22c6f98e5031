import ClimateData
import Foundation
import NetCDF
import TestSupport
import XCTest

/// Each bad input ends in one DataError naming the file and variable (or the
/// `data.` field): never a trap.
final class BadInputTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = makeTemporaryDirectory("bad") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    let lat = [0.0, 10], lon = [0.0, 1, 2]

    func open(_ c: DataConfig) throws -> (ClimateDataset, SampleSpace, Normalization) {
        let d = try ClimateDataset.open(c)
        let s = try SampleSpace.training(d)
        return (d, s, try Normalization.compute(d))
    }

    func expectError(_ c: DataConfig, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try open(c), file: file, line: line) { e in
            XCTAssertTrue(e is DataError, "\(type(of: e))", file: file, line: line)
            let text = "\(e)"
            XCTAssertTrue(text.contains(message), "got: \(text)", file: file, line: line)
            XCTAssertFalse(text.contains("\n"), file: file, line: line)
        }
    }

    func good(_ name: String = "good.nc", times: [Double] = [0, 1, 2], lat: [Double]? = nil, calendar: String? = nil, vars: [String] = ["a"]) throws -> String {
        let p = "\(dir)/\(name)"
        let l = lat ?? self.lat
        try writeTestFile(p, times: times, calendar: calendar, lat: l, lon: lon, variables: vars.map { TestVar(name: $0, values: (0 ..< times.count * l.count * 3).map(Double.init)) })
        return p
    }

    func testMissingFileAndEmptyGlob() throws {
        expectError(config(["\(dir)/absent.nc"], ["a"]), "data.files: '\(dir)/absent.nc': no such file")
        expectError(config(["\(dir)/none_*.nc"], ["a"]), "data.files: pattern '\(dir)/none_*.nc' matches no file")
    }

    func testVariableNotInFile() throws {
        let p = try good()
        expectError(config([p], ["a", "zz"]), "data.variables: variable 'zz' not found in \(p)")
    }

    func testGridsThatDifferBetweenVariables() throws {
        let a = try good("a.nc", vars: ["a"])
        let b = try good("b.nc", lat: [0, 10, 20], vars: ["b"])
        expectError(config([a, b], ["a", "b"]), "\(b): variable 'b': grid differs from variable 'a' in \(a) (3 x 3 vs 2 x 3)")
        let c = try good("c.nc", lat: [0, 11], vars: ["c"])
        expectError(config([a, c], ["a", "c"]), "\(c): variable 'c': grid differs from variable 'a' in \(a) (latitudes differ)")
    }

    func testTimeAxisThatIsNotIncreasing() throws {
        let p = try good("t.nc", times: [0, 2, 1])
        expectError(config([p], ["a"]), "\(p): variable 'time': time is not increasing (step 2: 2.0 then 1.0)")
        // Two files of one variable that overlap in time.
        let x = try good("x1.nc", times: [0, 1, 2])
        let y = try good("x2.nc", times: [2, 3, 4])
        expectError(config([x, y], ["a"]), "time is not increasing across files")
    }

    func testWindowLongerThanTheData() throws {
        let p = try good()
        expectError(config([p], ["a"]) { $0.window = 20 }, "data.window: 20 frames is longer than the training range (3 consecutive frames)")
    }

    func testTileLargerThanTheGrid() throws {
        let p = try good()
        expectError(config([p], ["a"]) { $0.tileHeight = 5 }, "data.tile_height: tile interior of 5 rows")
        expectError(config([p], ["a"]) { $0.tileWidth = 4 }, "data.tile_width: tile interior of 4 columns")
    }

    func testUnreadableAndTruncatedFiles() throws {
        let junk = "\(dir)/junk.nc"
        try Data("this is not a NetCDF file".utf8).write(to: URL(fileURLWithPath: junk))
        expectError(config([junk], ["a"]), "\(junk): cannot open as NetCDF: NetCDF: ")
        for format in [NetCDFFormat.classic, .netcdf4] {
            let p = "\(dir)/trunc-\(format.rawValue).nc"
            try writeTestFile(p, format: format, times: (0 ..< 50).map(Double.init), lat: (0 ..< 20).map(Double.init), lon: (0 ..< 20).map(Double.init),
                              variables: [TestVar(name: "a", values: (0 ..< 50 * 400).map { Double($0 % 97) })])
            let full = try Data(contentsOf: URL(fileURLWithPath: p))
            try full.prefix(full.count / 2).write(to: URL(fileURLWithPath: p))
            expectError(config([p], ["a"]), p)
        }
    }

    func testUnknownCalendar() throws {
        let p = try good(calendar: "martian")
        expectError(config([p], ["a"]), "\(p): variable 'time': unknown calendar \"martian\"")
        expectError(config([p], ["a"]) { $0.calendar = "lunar" }, "data.calendar: unknown calendar \"lunar\"")
    }

    func testInvalidConfigValues() throws {
        let p = try good()
        expectError(config([p], ["a"]) { $0.window = 0 }, "data.window: must be at least 1, got 0")
        expectError(config([p], ["a"]) { $0.halo = 3; $0.tileHeight = 6 }, "data.halo: 3 leaves no interior")
        expectError(config([p], ["a"]) { $0.timeRange = .dates("2000-13-01", "2001") }, "data.time_range: cannot read the date \"2000-13-01\"")
        expectError(config([p], ["a"]) { $0.timeRange = .indices(5, 9) }, "data.time_range: first frame 5 is past the data's last frame 2")
        expectError(config([p], ["a"]) { $0.validationRange = .indices(0, 2) }, "data.validation_range: covers the whole training range")
        expectError(config([p], ["a"]) { $0.timeUnits = "fortnights since 2000-01-01" }, "data.time_units: time units \"fortnights since 2000-01-01\": unit 'fortnights' is not supported")
        expectError(config([p], ["a", "a"]), "data.variables: 'a' is listed twice")
    }
}
