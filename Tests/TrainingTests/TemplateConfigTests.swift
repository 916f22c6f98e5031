import Foundation
import Training
import XCTest

/// configs/template.toml documents every field: it must parse, and its
/// values must be the defaults (so the documentation cannot drift).
final class TemplateConfigTests: XCTestCase {
    func testTemplateParsesAndStatesTheDefaults() throws {
        let path = FileManager.default.currentDirectoryPath + "/configs/template.toml"
        let config = try RunConfig(path: path)
        var defaults = RunConfig()
        defaults.data = config.data  // the template's [data] is an example, not a default
        XCTAssertEqual(config.model, defaults.model)
        XCTAssertEqual(config.optimizer, defaults.optimizer)
        XCTAssertEqual(config.schedule, defaults.schedule)
        XCTAssertEqual(config.train, defaults.train)
        XCTAssertEqual(config.checkpoint, defaults.checkpoint)
        XCTAssertEqual(config.seed, defaults.seed)
        XCTAssertEqual(config.runDirectory, defaults.runDirectory)
    }

    /// Every field the resolved config writes appears in the template (commented or not).
    func testTemplateMentionsEveryResolvedField() throws {
        let template = try String(contentsOfFile: FileManager.default.currentDirectoryPath + "/configs/template.toml", encoding: .utf8)
        var config = RunConfig()
        config.data.files = ["x.nc"]
        config.data.variables = ["x"]
        for line in config.resolvedTOML.split(separator: "\n") where line.contains(" = ") {
            let key = line.split(separator: " ")[0]
            XCTAssertTrue(template.contains("\n\(key) =") || template.contains("# \(key) ="), "template lacks \(key)")
        }
    }
}
