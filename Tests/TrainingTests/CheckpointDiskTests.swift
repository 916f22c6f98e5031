import Foundation
import Model
import TestSupport
import Training
import XCTest

/// Saves that fail on a real file system: a small tmpfs filled up (before and
/// during the write), and a read-only one. After each failure the previous
/// checkpoint is still valid, `latest` is unchanged, no `ckpt-*.nc` is
/// half-written and no `.tmp` is left. Needs root (mount); it fails, not
/// skips, without it.
final class CheckpointDiskTests: XCTestCase {
    var dir = ""
    var mountPoint = ""
    var mounted = false

    override func setUp() {
        dir = makeTemporaryDirectory("ckptdisk")
        mountPoint = dir + "/fs"
        try? FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
    }

    override func tearDown() {
        if mounted {
            let (status, out) = Fixtures.shell(["umount", mountPoint])
            if status != 0 { _ = Fixtures.shell(["umount", "-l", mountPoint]); XCTFail("umount: \(out)") }
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    func mountTmpfs(megabytes: Int) throws {
        let (status, out) = Fixtures.shell(["mount", "-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", mountPoint])
        guard status == 0 else { throw MountFailed(message: "cannot mount a tmpfs (these tests need root): \(out)") }
        mounted = true
    }

    func store() -> CheckpointStore {
        var p = CheckpointPolicy()
        p.keepLast = 2
        p.minFreeMB = 0
        return CheckpointStore(runDirectory: mountPoint, policy: p)
    }

    func available() -> Int { Self.available(mountPoint) }

    static func available(_ path: String) -> Int {
        var s = statvfs()
        statvfs(path, &s)
        return Int(s.f_bavail) * Int(s.f_frsize)
    }

    /// Writes zeros to `path` until only `leave` bytes are free (or the disk is full).
    static func fill(_ path: String, leaving leave: Int = 0) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        defer { close(fd) }
        let block = [UInt8](repeating: 0, count: 4096)
        while available(path) > leave {
            if write(fd, block, block.count) <= 0 { break }
        }
    }

    /// The state of the store after a failed save of step 2: exactly the old files, all valid.
    func assertUntouched(_ s: CheckpointStore, _ model: ModelConfig = Fixtures.model(), file: StaticString = #filePath, line: UInt = #line) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: s.directory)) ?? []).sorted()
        XCTAssertEqual(names, ["ckpt-00000001.nc", "latest"], "no .tmp, no half-written ckpt", file: file, line: line)
        XCTAssertEqual(s.latest(), "ckpt-00000001.nc", file: file, line: line)
        let scan = s.resumeCandidate(expecting: model)
        XCTAssertEqual(scan.found?.state.step, 1, file: file, line: line)
        XCTAssertEqual(scan.warnings, [], file: file, line: line)
    }

    func failure(_ outcome: SaveOutcome, file: StaticString = #filePath, line: UInt = #line) -> String {
        guard case .failed(let why) = outcome else {
            XCTFail("the save succeeded: \(outcome.message)", file: file, line: line)
            return ""
        }
        XCTAssertFalse(why.contains("\n"), file: file, line: line)
        return why
    }

    func testFullDiskIsRefusedBeforeWriting() throws {
        try mountTmpfs(megabytes: 4)
        let s = store()
        XCTAssertTrue(s.save(Fixtures.state(step: 1)).succeeded)
        Self.fill(mountPoint + "/filler", leaving: 64 * 1024)
        let why = failure(s.save(Fixtures.state(step: 2)))
        XCTAssertTrue(why.hasPrefix("checkpoint of step 2 not saved in \(s.directory): not enough free space: "), why)
        assertUntouched(s)
    }

    /// Another process fills the disk while the checkpoint is being written:
    /// the write fails half-way, the partial `.tmp` is removed, and its space
    /// is given back (no file handle leaked by the failed close).
    func testDiskFillingUpDuringTheWrite() throws {
        try mountTmpfs(megabytes: 8)
        var s = store()
        let big = Fixtures.model(.convlstm, hidden: 24)  // ~1 MiB: several 256 KiB chunks
        XCTAssertTrue(s.save(Fixtures.state(big, step: 1)).succeeded)
        let filler = mountPoint + "/filler"
        let filled = Flag()
        s.onPhase = { phase in
            if case .wroteTemporary = phase, filled.set() { Self.fill(filler) }
        }
        let why = failure(s.save(Fixtures.state(big, step: 2)))
        XCTAssertTrue(filled.isSet, "the hook ran")
        XCTAssertTrue(why.hasPrefix("checkpoint of step 2 not saved in \(s.directory): "), why)
        XCTAssertTrue(why.contains("file system is full") || why.contains("No space left"), why)
        try FileManager.default.removeItem(atPath: filler)
        assertUntouched(s, big)
        // The space of the failed write is free again: the next save fits and succeeds.
        let ckptSize = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: s.directory + "/ckpt-00000001.nc")[.size] as? Int)
        XCTAssertGreaterThan(available(), 8 * 1_048_576 - ckptSize - 256 * 1024, "space of the partial file released")
        s.onPhase = nil
        XCTAssertTrue(s.save(Fixtures.state(big, step: 2)).succeeded)
        XCTAssertEqual(s.resumeCandidate().found?.state.step, 2)
    }

    func testReadOnlyFileSystem() throws {
        try mountTmpfs(megabytes: 4)
        let s = store()
        XCTAssertTrue(s.save(Fixtures.state(step: 1)).succeeded)
        let (status, out) = Fixtures.shell(["mount", "-o", "remount,ro", mountPoint])
        XCTAssertEqual(status, 0, out)
        let why = failure(s.save(Fixtures.state(step: 2)))
        XCTAssertTrue(why.contains("Read-only file system") || why.contains("Permission denied"), why)
        assertUntouched(s)
        XCTAssertEqual(Fixtures.shell(["mount", "-o", "remount,rw", mountPoint]).0, 0)
        XCTAssertTrue(s.save(Fixtures.state(step: 2)).succeeded)
    }
}

struct MountFailed: Error { let message: String }

/// Set once, from the save hook (which is @Sendable).
final class Flag: @unchecked Sendable {
    private var value = false
    private let lock = NSLock()
    /// True the first time only.
    func set() -> Bool { lock.lock(); defer { lock.unlock() }; if value { return false }; value = true; return true }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
