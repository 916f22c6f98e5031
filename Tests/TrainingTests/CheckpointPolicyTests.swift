import Training
import XCTest

/// `[checkpoint]`: reading, validation naming the field, writing back; the
/// save decision and retention as pure functions.
final class CheckpointPolicyTests: XCTestCase {
    func testSectionReadsEveryFieldAndRoundTrips() throws {
        var doc = try ConfigDocument(tomlText: """
            [checkpoint]
            every_steps = 500
            every_minutes = 12.5
            keep_last = 4
            keep_every = 10000
            stop_on_failure = true
            """, source: "run.toml")
        try doc.applyOverride("checkpoint.min_free_mb=2048")
        let p = try CheckpointPolicy(section: doc.section("checkpoint"))
        XCTAssertEqual(p.everySteps, 500)
        XCTAssertEqual(p.everyMinutes, 12.5)
        XCTAssertEqual(p.keepLast, 4)
        XCTAssertEqual(p.keepEvery, 10000)
        XCTAssertTrue(p.stopOnFailure)
        XCTAssertEqual(p.minFreeMB, 2048)

        var w = TOMLWriter()
        p.write(to: &w)
        XCTAssertEqual(try CheckpointPolicy(section: ConfigDocument(tomlText: w.text, source: "resolved").section("checkpoint")), p)
        // Absent section: the defaults.
        XCTAssertEqual(try CheckpointPolicy(section: ConfigDocument(tomlText: "seed = 1\n", source: "x").section("checkpoint")), CheckpointPolicy())
        // every_minutes may be an integer in TOML.
        XCTAssertEqual(try CheckpointPolicy(section: ConfigDocument(tomlText: "[checkpoint]\nevery_minutes = 5\n", source: "x").section("checkpoint")).everyMinutes, 5)
    }

    func testUnknownFieldsAndBadValuesAreNamed() throws {
        func error(_ body: String) -> String {
            do {
                _ = try CheckpointPolicy(section: ConfigDocument(tomlText: "[checkpoint]\n" + body + "\n", source: "run.toml").section("checkpoint"))
                return "no error"
            } catch { return "\(error)" }
        }
        XCTAssertEqual(error("keep_lats = 3"), "run.toml: unknown field 'checkpoint.keep_lats'")
        XCTAssertEqual(error("keep_last = 0"), "run.toml: checkpoint.keep_last: must be at least 1 (the newest checkpoint is always kept), got 0")
        XCTAssertEqual(error("every_steps = -1"), "run.toml: checkpoint.every_steps: must be 0 (off) or positive, got -1")
        XCTAssertEqual(error("every_minutes = -0.5"), "run.toml: checkpoint.every_minutes: must be 0 (off) or a positive number, got -0.5")
        XCTAssertEqual(error("every_minutes = nan"), "run.toml: checkpoint.every_minutes: must be 0 (off) or a positive number, got nan")
        XCTAssertEqual(error("keep_every = -2"), "run.toml: checkpoint.keep_every: must be 0 (off) or positive, got -2")
        XCTAssertEqual(error("min_free_mb = -1"), "run.toml: checkpoint.min_free_mb: must be 0 or positive, got -1")
        XCTAssertEqual(error("stop_on_failure = 1"), "run.toml: checkpoint.stop_on_failure must be true or false, got an integer")
        XCTAssertEqual(error("every_steps = \"100\""), "run.toml: checkpoint.every_steps must be an integer, got a string")
    }

    func testSaveDueByStepsAndByTime() {
        var p = CheckpointPolicy()
        p.everySteps = 100
        p.everyMinutes = 10
        XCTAssertNil(p.saveDue(step: 0, secondsSinceLastSave: 1e9), "never at step 0")
        XCTAssertNil(p.saveDue(step: 99, secondsSinceLastSave: 599.9))
        XCTAssertEqual(p.saveDue(step: 100, secondsSinceLastSave: 0), .steps)
        XCTAssertEqual(p.saveDue(step: 101, secondsSinceLastSave: 600), .time)
        XCTAssertEqual(p.saveDue(step: 200, secondsSinceLastSave: 600), .steps, "steps reported first")
        p.everySteps = 0
        XCTAssertNil(p.saveDue(step: 100, secondsSinceLastSave: 1))
        p.everyMinutes = 0
        XCTAssertNil(p.saveDue(step: 100, secondsSinceLastSave: 1e9), "both off: never")
        // Pure: the same arguments give the same answer (what every rank relies on).
        p.everySteps = 7
        p.everyMinutes = 0.5
        let answers = (0 ..< 3).map { _ in (1 ... 50).map { p.saveDue(step: $0, secondsSinceLastSave: Double($0)) } }
        XCTAssertEqual(answers[0], answers[1])
        XCTAssertEqual(answers[0], answers[2])
        XCTAssertEqual(answers[0].compactMap { $0 }.count, 4 + 21, "7, 14, 21, 28 by steps; then all of 30 ... 50 (by time, or steps at 35, 42, 49)")
    }

    func testRetainedSteps() {
        var p = CheckpointPolicy()
        p.keepLast = 2
        p.keepEvery = 0
        XCTAssertEqual(p.retainedSteps([]), [])
        XCTAssertEqual(p.retainedSteps([5]), [5])
        XCTAssertEqual(p.retainedSteps([3, 1, 2, 9]), [3, 9])
        p.keepEvery = 4
        XCTAssertEqual(p.retainedSteps(Array(1 ... 13)), [4, 8, 12, 13])
        XCTAssertEqual(p.retainedSteps(Array(1 ... 13), protected: [7]), [4, 7, 8, 12, 13])
        XCTAssertEqual(p.retainedSteps([0, 1, 2, 3], protected: [99]), [0, 2, 3], "step 0 is a multiple of 4; an absent protected step adds nothing")
        p.keepLast = 1
        p.keepEvery = 0
        XCTAssertEqual(p.retainedSteps([10, 20, 30]), [30], "the newest is always kept")
    }
}
