import XCTest
import Model
import Training

final class ConfigDocumentTests: XCTestCase {
    func testModelSectionReadsFieldsAndRoundTrips() throws {
        var doc = try ConfigDocument(tomlText: """
            seed = 3
            [model]
            cell = "convlstm"
            hidden = 16
            dilations = [1, 3]
            conv_algorithm = "winograd"
            recompute_gates = true
            """, source: "run.toml")
        try doc.applyOverride("model.layers=3")
        let m = try ModelConfig(section: doc.section("model"))
        XCTAssertEqual(m.cell, .convlstm)
        XCTAssertEqual(m.hidden, 16)
        XCTAssertEqual(m.layers, 3)
        XCTAssertEqual(m.dilations, [1, 3])
        XCTAssertEqual(m.kernel, 3)
        XCTAssertEqual(m.convAlgorithm, .winograd)
        XCTAssertTrue(m.recomputeGates)

        var w = TOMLWriter()
        m.write(to: &w)
        let again = try ModelConfig(section: ConfigDocument(tomlText: w.text, source: "resolved").section("model"))
        var expected = m
        expected.bottleneck = m.resolvedBottleneck
        expected.seasonPeriodDays = m.resolvedSeasonPeriod
        XCTAssertEqual(again, expected)
    }

    func testUnknownFieldIsNamed() throws {
        let doc = try ConfigDocument(tomlText: "[model]\nhiden = 3\n", source: "run.toml")
        XCTAssertThrowsError(try ModelConfig(section: doc.section("model"))) { e in
            XCTAssertEqual("\(e)", "run.toml: unknown field 'model.hiden'")
        }
    }

    func testBadValuesAreNamed() throws {
        let even = try ConfigDocument(tomlText: "[model]\nkernel = 4\n", source: "run.toml")
        XCTAssertThrowsError(try ModelConfig(section: even.section("model"))) { e in
            XCTAssertTrue("\(e)".contains("model.kernel"), "\(e)")
        }
        let cell = try ConfigDocument(tomlText: "[model]\ncell = \"gru\"\n", source: "run.toml")
        XCTAssertThrowsError(try ModelConfig(section: cell.section("model"))) { e in
            XCTAssertTrue("\(e)".contains("model.cell = \"gru\""), "\(e)")
        }
        let winograd5 = try ConfigDocument(tomlText: "[model]\nkernel = 5\nconv_algorithm = \"winograd\"\n", source: "run.toml")
        XCTAssertThrowsError(try ModelConfig(section: winograd5.section("model"))) { e in
            XCTAssertEqual("\(e)", "run.toml: model.conv_algorithm: winograd computes 3 x 3 convolutions only, but kernel is 5 (use im2col)")
        }
        let algorithm = try ConfigDocument(tomlText: "[model]\nconv_algorithm = \"fft\"\n", source: "run.toml")
        XCTAssertThrowsError(try ModelConfig(section: algorithm.section("model"))) { e in
            XCTAssertTrue("\(e)".contains("model.conv_algorithm = \"fft\""), "\(e)")
        }
        XCTAssertThrowsError(try ConfigDocument(tomlText: "[model\n", source: "run.toml")) { e in
            XCTAssertTrue("\(e)".hasPrefix("run.toml: TOML syntax error at line 1"), "\(e)")
        }
    }
}
