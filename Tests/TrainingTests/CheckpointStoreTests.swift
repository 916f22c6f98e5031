import Foundation
import Model
import TestSupport
import Training
import XCTest

/// `<run>/checkpoints/`: the commit protocol's files, retention, and resume
/// falling back past damaged files.
final class CheckpointStoreTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = makeTemporaryDirectory("ckptstore") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func files(_ store: CheckpointStore) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: store.directory)) ?? []).sorted()
    }

    func store(keepLast: Int = 3, keepEvery: Int = 0) -> CheckpointStore {
        var p = CheckpointPolicy()
        p.keepLast = keepLast
        p.keepEvery = keepEvery
        p.minFreeMB = 0
        return CheckpointStore(runDirectory: dir, policy: p)
    }

    @discardableResult
    func save(_ s: CheckpointStore, _ step: Int, _ model: ModelConfig = Fixtures.model(), file: StaticString = #filePath, line: UInt = #line) -> SavedCheckpoint? {
        switch s.save(Fixtures.state(model, step: step)) {
        case .saved(let c): return c
        case .failed(let why): XCTFail("save of step \(step) failed: \(why)", file: file, line: line); return nil
        }
    }

    func testFileNames() {
        XCTAssertEqual(CheckpointStore.fileName(step: 0), "ckpt-00000000.nc")
        XCTAssertEqual(CheckpointStore.fileName(step: 1234), "ckpt-00001234.nc")
        XCTAssertEqual(CheckpointStore.fileName(step: 123_456_789), "ckpt-123456789.nc")
        XCTAssertEqual(CheckpointStore.step(fileName: "ckpt-00001234.nc"), 1234)
        XCTAssertEqual(CheckpointStore.step(fileName: "ckpt-123456789.nc"), 123_456_789)
        for other in ["ckpt-00001234.nc.tmp", "ckpt-1234.nc", "ckpt-0000123a.nc", "latest", "ckpt-00001234.nc4", "xckpt-00001234.nc"] {
            XCTAssertNil(CheckpointStore.step(fileName: other), other)
        }
    }

    func testSaveCommitsTheFileAndLatest() throws {
        let s = store()
        XCTAssertEqual(s.directory, dir + "/checkpoints")
        let saved = try XCTUnwrap(save(s, 42))
        XCTAssertEqual(saved.path, dir + "/checkpoints/ckpt-00000042.nc")
        XCTAssertEqual(saved.step, 42)
        XCTAssertEqual(saved.bytes, try FileManager.default.attributesOfItem(atPath: saved.path)[.size] as? Int)
        XCTAssertEqual(saved.warnings, [])
        XCTAssertEqual(files(s), ["ckpt-00000042.nc", "latest"])
        XCTAssertEqual(try String(contentsOfFile: s.latestPath, encoding: .utf8), "ckpt-00000042.nc\n", "one line, the file name, no directory")
        XCTAssertEqual(s.latest(), "ckpt-00000042.nc")
        XCTAssertEqual(try CheckpointStore.load(saved.path).step, 42)
        XCTAssertTrue(SaveOutcome.saved(saved).message.hasPrefix("saved \(saved.path) ("), SaveOutcome.saved(saved).message)
    }

    /// keep_last 3, keep_every 4 over saves at steps 1 ... 14: after each save
    /// exactly the expected files remain, and the newest is always there.
    func testRetentionKeepsLastKAndEveryP() throws {
        let s = store(keepLast: 3, keepEvery: 4)
        var deletedTotal: [String] = []
        for step in 1 ... 14 {
            let saved = try XCTUnwrap(save(s, step))
            deletedTotal += saved.removed
            let multiples = stride(from: 4, through: step, by: 4)
            let expected = Set(multiples).union(max(1, step - 2) ... step).sorted()
            XCTAssertEqual(s.committed().map(\.step), expected, "after step \(step)")
            XCTAssertEqual(s.latest(), CheckpointStore.fileName(step: step))
        }
        XCTAssertEqual(deletedTotal.map { ($0 as NSString).lastPathComponent },
                       [1, 2, 3, 5, 6, 7, 9, 10, 11].map { CheckpointStore.fileName(step: $0) })
        XCTAssertEqual(files(s), ["ckpt-00000004.nc", "ckpt-00000008.nc", "ckpt-00000012.nc", "ckpt-00000013.nc", "ckpt-00000014.nc", "latest"])
    }

    func testKeepLastOneNeverDeletesTheNewestNorWhatLatestNames() throws {
        let s = store(keepLast: 1)
        for step in [10, 20, 30] { save(s, step) }
        XCTAssertEqual(s.committed().map(\.step), [30])
        // A lower step saved later (e.g. a rerun from an older checkpoint): by step, 30 stays
        // the newest; the new file is committed, so `latest` names it and retention keeps it too.
        save(s, 25)
        XCTAssertEqual(s.committed().map(\.step), [25, 30])
        XCTAssertEqual(s.latest(), "ckpt-00000025.nc")
    }

    func testStaleTemporariesAreIgnoredThenRemoved() throws {
        let s = store()
        save(s, 1)
        // A save killed half-way: a partial .tmp of step 2 and a stray latest.tmp.
        let partial = s.directory + "/ckpt-00000002.nc.tmp"
        try Data(repeating: 0x89, count: 5000).write(to: URL(fileURLWithPath: partial))
        try "ckpt-00000002.nc\n".write(toFile: s.directory + "/latest.tmp", atomically: false, encoding: .utf8)
        let scan = s.resumeCandidate()
        XCTAssertEqual(scan.found?.state.step, 1, "a .tmp is never a candidate")
        XCTAssertEqual(scan.skipped, [])
        XCTAssertEqual(s.latest(), "ckpt-00000001.nc")
        save(s, 3)
        XCTAssertEqual(files(s), ["ckpt-00000001.nc", "ckpt-00000003.nc", "latest"], "the next save cleaned up")
    }

    /// Newest first: damaged, truncated, missing a variable, incompatible
    /// config, each skipped with a warning naming the file and the problem,
    /// falling back to the next older valid checkpoint.
    func testResumeFallsBackPastInvalidCheckpoints() throws {
        let s = store(keepLast: 10)
        let model = Fixtures.model(.convlstm, hidden: 16)
        for step in 1 ... 4 { save(s, step, model) }
        var other = model
        other.hidden = 12
        save(s, 5, other)  // incompatible with `model`
        save(s, 6, model)
        let path = { (step: Int) in s.directory + "/" + CheckpointStore.fileName(step: step) }

        // 6: a bit flipped in the middle of the file (inside the big conv weights' data).
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path(6))[.size] as? Int)
        try Fixtures.flipBit(path(6), at: size / 2)
        // 4: truncated.
        try Fixtures.truncate(path(4), to: 0.5)
        // 3: a moment variable missing.
        try Fixtures.rewrite(path(3), to: path(3) + ".edit") { g, n in g == "adam_v" && n == "layers.0.conv.wx" ? .drop : .keep }
        try FileManager.default.removeItem(atPath: path(3))
        try FileManager.default.moveItem(atPath: path(3) + ".edit", toPath: path(3))

        let scan = s.resumeCandidate(expecting: model)
        XCTAssertEqual(scan.found?.path, path(2))
        XCTAssertEqual(scan.found?.state.step, 2)
        XCTAssertEqual(scan.skipped.map(\.path), [path(6), path(5), path(4), path(3)])
        XCTAssertEqual(scan.skipped.map(\.kind), [.corruptData, .incompatible, .cannotOpen, .missingVariable])
        XCTAssertTrue(scan.skipped[1].detail.contains("hidden: 12 in the checkpoint, 16 expected"), scan.skipped[1].detail)
        XCTAssertTrue(scan.skipped[3].detail.contains("missing variable /adam_v/layers.0.conv.wx"), scan.skipped[3].detail)
        XCTAssertEqual(scan.warnings.count, 5)
        for (w, step) in zip(scan.warnings, [6, 5, 4, 3]) {
            XCTAssertTrue(w.hasPrefix("skipping invalid checkpoint \(path(step)): "), w)
        }
        XCTAssertTrue(scan.warnings[4].contains("names ckpt-00000006.nc, but the newest valid checkpoint is ckpt-00000002.nc"), scan.warnings[4])

        // Without an expected config, 5 is the newest valid one.
        XCTAssertEqual(s.resumeCandidate().found?.state.step, 5)
        // Nothing valid: nothing found, every file named.
        let none = s.resumeCandidate(expecting: Fixtures.model(.faconvlstm))
        XCTAssertNil(none.found)
        XCTAssertEqual(none.skipped.count, 6)
    }

    /// A crash between the rename and the update of `latest`: latest is one
    /// behind; resume takes the newer, valid file and says so.
    func testLatestOneBehindTheNewestValidCheckpoint() throws {
        let s = store()
        save(s, 1)
        save(s, 2)
        try CheckpointFile.write(Fixtures.state(step: 3), to: s.directory + "/" + CheckpointStore.fileName(step: 3))
        XCTAssertEqual(s.latest(), "ckpt-00000002.nc")
        let scan = s.resumeCandidate(expecting: Fixtures.model())
        XCTAssertEqual(scan.found?.state.step, 3)
        XCTAssertEqual(scan.skipped, [])
        XCTAssertEqual(scan.notes.count, 1)
        XCTAssertTrue(scan.notes[0].contains("names ckpt-00000002.nc, but the newest valid checkpoint is ckpt-00000003.nc"), scan.notes[0])
        // latest missing altogether.
        try FileManager.default.removeItem(atPath: s.latestPath)
        XCTAssertEqual(s.resumeCandidate().found?.state.step, 3)
        XCTAssertTrue(s.resumeCandidate().notes[0].contains("latest is missing"))
    }

    func testEmptyOrMissingDirectoryHasNoCandidate() {
        let s = store()
        let scan = s.resumeCandidate()
        XCTAssertNil(scan.found)
        XCTAssertEqual(scan.warnings, [])
        XCTAssertEqual(s.committed().count, 0)
        XCTAssertNil(s.latest())
    }

    func testInvalidStateIsNotSavedAndChangesNothing() throws {
        let s = store()
        save(s, 1)
        var bad = Fixtures.state(step: 2)
        bad.parameters[3] = .infinity
        guard case .failed(let why) = s.save(bad) else { return XCTFail("saved a state with an infinity") }
        XCTAssertTrue(why.hasPrefix("checkpoint of step 2 not saved in \(s.directory): "), why)
        XCTAssertTrue(why.contains("invalid state: parameter layers.0.bottleneck.wx[3] = inf is not finite"), why)
        XCTAssertTrue(why.hasSuffix("previous checkpoints untouched"), why)
        XCTAssertEqual(files(s), ["ckpt-00000001.nc", "latest"])
        XCTAssertEqual(s.latest(), "ckpt-00000001.nc")
    }

    func testUncreatableDirectoryIsAFailureNotACrash() throws {
        try "a file".write(toFile: dir + "/checkpoints", atomically: true, encoding: .utf8)
        let s = store()
        guard case .failed(let why) = s.save(Fixtures.state()) else { return XCTFail("saved into a file") }
        XCTAssertTrue(why.contains("cannot create the directory"), why)
    }

    /// The free-space check refuses before writing when the margin cannot be met.
    func testFreeSpaceMarginRefusesBeforeWriting() throws {
        var s = store()
        s.policy.minFreeMB = Int.max / 2_097_152  // more than any disk
        guard case .failed(let why) = s.save(Fixtures.state()) else { return XCTFail("saved without the free space asked for") }
        XCTAssertTrue(why.contains("not enough free space"), why)
        XCTAssertEqual(files(s), [])
    }

    func testPhasesInOrder() throws {
        var s = store(keepLast: 1)
        save(s, 1)
        let seen = Phases()
        s.onPhase = { seen.append($0) }
        save(s, 2)
        let names = seen.all.map { p -> String in
            if case .wroteTemporary = p { return "chunk" }
            return "\(p)"
        }
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: s.directory + "/ckpt-00000002.nc")[.size] as? Int)
        XCTAssertEqual(seen.all.last { if case .wroteTemporary = $0 { return true }; return false }, .wroteTemporary(size))
        XCTAssertEqual(names.filter { $0 == "chunk" }.count, (size + 262_143) / 262_144, "one call per 256 KiB written")
        XCTAssertEqual(names.filter { $0 != "chunk" },
                       ["encoded", "syncedTemporary", "committed", "wroteLatestTemporary", "updatedLatest",
                        "removed(\"\(s.directory)/ckpt-00000001.nc\")"])
    }
}

final class Phases: @unchecked Sendable {
    private var list: [CheckpointStore.SavePhase] = []
    private let lock = NSLock()
    func append(_ p: CheckpointStore.SavePhase) { lock.lock(); list.append(p); lock.unlock() }
    var all: [CheckpointStore.SavePhase] { lock.lock(); defer { lock.unlock() }; return list }
}
