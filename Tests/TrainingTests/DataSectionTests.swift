import ClimateData
import Training
import XCTest

final class DataSectionTests: XCTestCase {
    func testDataSectionReadsEveryKeyAndRoundTrips() throws {
        var doc = try ConfigDocument(tomlText: """
            [data]
            files = ["a/*.nc", "b.nc"]
            variables = ["T", "u"]
            levels = { T = [500, 850.5] }
            time_range = ["1979-01-01", "2010-12-31"]
            validation_range = [100, 120]
            time_units = "hours since 1996-01-05 00:00"
            calendar = "noleap"
            tile_height = 32
            tile_width = 48
            halo = 4
            tile_stride = [12, 20]
            window = 6
            window_stride = 2
            prefetch = false
            """, source: "run.toml")
        try doc.applyOverride("data.window=7")
        let c = try DataConfig(section: doc.section("data"))
        XCTAssertEqual(c.files, ["a/*.nc", "b.nc"])
        XCTAssertEqual(c.levels, ["T": [500, 850.5]])
        XCTAssertEqual(c.timeRange, .dates("1979-01-01", "2010-12-31"))
        XCTAssertEqual(c.validationRange, .indices(100, 120))
        XCTAssertEqual(c.calendar, "noleap")
        XCTAssertEqual(c.tileStride, [12, 20])
        XCTAssertEqual(c.window, 7)
        XCTAssertEqual(c.prefetch, false)
        var w = TOMLWriter()
        c.write(to: &w)
        XCTAssertEqual(try DataConfig(section: ConfigDocument(tomlText: w.text, source: "resolved").section("data")), c)
        // One file and one stride may be given without brackets.
        let short = try DataConfig(section: ConfigDocument(tomlText: "[data]\nfiles = \"x.nc\"\nvariables = \"t\"\ntile_stride = 4\n", source: "r").section("data"))
        XCTAssertEqual(short.files, ["x.nc"])
        XCTAssertEqual(short.tileStride, [4, 4])
    }

    func testBadDataFieldsAreNamed() throws {
        let cases: [(String, String)] = [
            ("windw = 3", "run.toml: unknown field 'data.windw'"),
            ("window = 0", "run.toml: data.window: must be at least 1, got 0"),
            ("calendar = \"martian\"", "run.toml: data.calendar: unknown calendar \"martian\""),
            ("time_range = [1, 2, 3]", "run.toml: data.time_range must be a pair of dates"),
            ("window = \"eight\"", "run.toml: data.window must be an integer, got a string"),
            ("levels = { T = \"x\" }", "run.toml: data.levels 'T' must be an array of level values"),
        ]
        for (line, message) in cases {
            let doc = try ConfigDocument(tomlText: "[data]\nfiles = \"x.nc\"\nvariables = [\"T\"]\n\(line)\n", source: "run.toml")
            XCTAssertThrowsError(try DataConfig(section: doc.section("data")), line) { e in
                XCTAssertTrue("\(e)".hasPrefix(message), "\(line): \(e)")
            }
        }
    }
}
