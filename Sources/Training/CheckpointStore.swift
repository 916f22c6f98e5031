import Foundation
import Model

/// The checkpoints of one run, `<run>/checkpoints/`, saved by the commit
/// protocol of CHECKPOINT.md so that a kill at any instant leaves only
/// complete `ckpt-*.nc` files and a `latest` that names one of them:
///
/// 1. write `ckpt-<step>.nc.tmp` (the file image is built in memory first), fsync, close;
///    rename to `ckpt-<step>.nc`; fsync the directory;
/// 2. write `latest.tmp` (one line, the file name), fsync, rename to `latest`, fsync the directory;
/// 3. retention deletes old checkpoints (never the newest, never the one `latest` names).
///
/// Only `.tmp` files can be partial; readers ignore them and the next save removes them.
/// Resume takes the valid checkpoint with the highest step, not `latest`.
/// No MPI here: rank 0 calls this and broadcasts the outcome.
public struct CheckpointStore: Sendable {
    /// The checkpoints directory (created on the first save).
    public let directory: String
    /// Retention (`keepLast`, `keepEvery`) and the free-space margin (`minFreeMB`).
    public var policy: CheckpointPolicy
    /// Called at each step of a save (tests interrupt saves here). Nil in training.
    public var onPhase: (@Sendable (SavePhase) -> Void)?

    public init(directory: String, policy: CheckpointPolicy = CheckpointPolicy()) {
        self.directory = directory
        self.policy = policy
    }

    /// The store of a run directory: `<runDirectory>/checkpoints`.
    public init(runDirectory: String, policy: CheckpointPolicy = CheckpointPolicy()) {
        self.init(directory: (runDirectory as NSString).appendingPathComponent("checkpoints"), policy: policy)
    }

    /// The points of a save, in order, at which `onPhase` is called.
    public enum SavePhase: Equatable, Sendable {
        /// The file image is built in memory (nothing on disk yet).
        case encoded
        /// This many bytes of the `.tmp` file are written (after each 256 KiB).
        case wroteTemporary(Int)
        /// The `.tmp` file is complete, fsynced and closed; not renamed yet.
        case syncedTemporary
        /// Renamed to `ckpt-<step>.nc` and the directory fsynced; `latest` not updated yet.
        case committed
        /// `latest.tmp` written and fsynced, not yet renamed.
        case wroteLatestTemporary
        /// `latest` names the new checkpoint; retention not run yet.
        case updatedLatest
        /// Retention deleted this file.
        case removed(String)
    }

    // MARK: Names

    /// `ckpt-<step, zero-padded to 8 digits or more>.nc`.
    public static func fileName(step: Int) -> String {
        let digits = String(step)
        return "ckpt-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".nc"
    }

    /// The step of a committed checkpoint's file name, or nil for any other name.
    public static func step(fileName name: String) -> Int? {
        guard name.hasPrefix("ckpt-"), name.hasSuffix(".nc") else { return nil }
        let digits = name.dropFirst(5).dropLast(3)
        guard digits.count >= 8, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }

    public var latestPath: String { path("latest") }

    private func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// Committed checkpoints (`ckpt-<step>.nc`, not `.tmp`), oldest first.
    public func committed() -> [(step: Int, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { n in CheckpointStore.step(fileName: n).map { ($0, path(n)) } }.sorted { $0.step < $1.step }
    }

    /// The file name `latest` holds, or nil when there is none.
    public func latest() -> String? {
        guard let d = FileManager.default.contents(atPath: latestPath),
              let s = String(data: d, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), !s.isEmpty
        else { return nil }
        return s
    }

    // MARK: Saving

    /// Saves `state` by the commit protocol. Never throws: a failure before the
    /// commit leaves the previous checkpoints and `latest` untouched and no
    /// partial file behind, and is reported as `.failed`.
    public func save(_ state: TrainingState) -> SaveOutcome {
        let start = Date()
        let name = CheckpointStore.fileName(step: state.step)
        let final = path(name), tmp = final + ".tmp"
        func failed(_ why: String) -> SaveOutcome {
            .failed("checkpoint of step \(state.step) not saved in \(directory): \(why); previous checkpoints untouched")
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            return failed("cannot create the directory: \(FileSystem.reason(error))")
        }
        removeTemporaries()

        let bytes: Data
        do {
            bytes = try CheckpointFile.encode(state, name: tmp)  // refuses an invalid state (NaN, wrong lengths)
        } catch {
            return failed((error as? CheckpointError)?.detail ?? "\(error)")
        }
        onPhase?(.encoded)
        if let free = FileSystem.availableBytes(directory) {
            let need = bytes.count + policy.minFreeMB * 1_048_576
            if free < need {
                return failed("not enough free space: \(FileSystem.mib(free)) available, need \(FileSystem.mib(need)) (file \(FileSystem.mib(bytes.count)) + min_free_mb \(policy.minFreeMB))")
            }
        }
        do {
            try FileSystem.writeDurably(tmp, bytes, chunk: 256 * 1024, progress: onPhase.map { hook in { hook(.wroteTemporary($0)) } })
            onPhase?(.syncedTemporary)
            try FileSystem.rename(tmp, final)
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            var why = "\(error)"
            if let free = FileSystem.availableBytes(directory), free < bytes.count {
                why += " (the file system is full: \(FileSystem.mib(free)) available)"
            }
            return failed(why)
        }
        // Committed: from here on the checkpoint exists; trouble is a warning.
        var warnings: [String] = []
        do { try FileSystem.fsync(directory, isDirectory: true) } catch {
            warnings.append("\(directory): fsync after committing \(name) failed: \(error) (the file may not survive a power loss)")
        }
        onPhase?(.committed)
        do {
            try writeLatest(name)
        } catch {
            try? FileManager.default.removeItem(atPath: latestPath + ".tmp")
            warnings.append("\(latestPath): not updated to \(name): \(error) (resume still finds \(name): it takes the highest valid step)")
        }
        let removed = applyRetention(&warnings)
        return .saved(SavedCheckpoint(path: final, step: state.step, bytes: bytes.count, seconds: Date().timeIntervalSince(start),
                                      removed: removed, warnings: warnings))
    }

    /// `latest.tmp` with one line, fsync, rename over `latest`, fsync the directory.
    private func writeLatest(_ name: String) throws {
        let tmp = latestPath + ".tmp"
        try FileSystem.writeDurably(tmp, Data((name + "\n").utf8))
        onPhase?(.wroteLatestTemporary)
        try FileSystem.rename(tmp, latestPath)
        try FileSystem.fsync(directory, isDirectory: true)
        onPhase?(.updatedLatest)
    }

    /// Deletes committed checkpoints beyond the policy; never the newest, never
    /// the one `latest` names. Returns the deleted paths.
    private func applyRetention(_ warnings: inout [String]) -> [String] {
        let all = committed()
        var protected = Set<Int>()
        if let l = latest(), let s = CheckpointStore.step(fileName: l) { protected.insert(s) }
        let keep = policy.retainedSteps(all.map(\.step), protected: protected)
        var removed: [String] = []
        for c in all where !keep.contains(c.step) {
            do {
                try FileManager.default.removeItem(atPath: c.path)
                removed.append(c.path)
                onPhase?(.removed(c.path))
            } catch {
                warnings.append("\(c.path): retention could not delete it: \(FileSystem.reason(error))")
            }
        }
        if !removed.isEmpty { try? FileSystem.fsync(directory, isDirectory: true) }
        return removed
    }

    /// Removes `.tmp` leftovers of interrupted saves (`ckpt-*.nc.tmp`, `latest.tmp`).
    @discardableResult
    public func removeTemporaries() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let stale = names.filter { ($0.hasPrefix("ckpt-") && $0.hasSuffix(".nc.tmp")) || $0 == "latest.tmp" }
        for n in stale { try? FileManager.default.removeItem(atPath: path(n)) }
        return stale.map(path)
    }

    // MARK: Resuming

    /// Finds the checkpoint to resume from: committed files, highest step
    /// first, each fully validated (`CheckpointFile.read`: attributes, every
    /// variable and shape, all data so Fletcher32 is verified, no NaN, and
    /// the model equal to `expecting` when given). Returns the first valid one
    /// and every invalid file skipped on the way. `latest` is not consulted
    /// (it can be one behind), only reported on when it disagrees.
    public func resumeCandidate(expecting model: ModelConfig? = nil) -> ResumeScan {
        var skipped: [CheckpointError] = []
        var found: ResumePoint? = nil
        for c in committed().reversed() {
            do {
                found = ResumePoint(path: c.path, state: try CheckpointFile.read(c.path, expecting: model))
                break
            } catch let e as CheckpointError {
                skipped.append(e)
            } catch {
                skipped.append(CheckpointError(c.path, .cannotOpen, "\(error)"))
            }
        }
        var notes: [String] = []
        if let f = found {
            let name = (f.path as NSString).lastPathComponent
            switch latest() {
            case nil: notes.append("\(latestPath) is missing; resuming from \(name), the newest valid checkpoint")
            case let l? where l != name:
                notes.append("\(latestPath) names \(l), but the newest valid checkpoint is \(name) (a save was interrupted before updating latest, or \(l) is invalid); resuming from \(name)")
            default: break
            }
        }
        return ResumeScan(found: found, skipped: skipped, notes: notes)
    }

    /// Reads one checkpoint (`--resume PATH`, `--init-from PATH`), validated
    /// as by `resumeCandidate`.
    public static func load(_ path: String, expecting model: ModelConfig? = nil) throws -> TrainingState {
        try CheckpointFile.read(path, expecting: model)
    }
}

/// What `CheckpointStore.save` did.
public enum SaveOutcome: Equatable, Sendable {
    /// The checkpoint is committed (maybe with warnings about `latest` or retention).
    case saved(SavedCheckpoint)
    /// Nothing was committed; the previous checkpoints and `latest` are untouched.
    /// One line naming the directory, the step and the cause.
    case failed(String)

    public var succeeded: Bool {
        if case .saved = self { return true }
        return false
    }

    /// One line for the log.
    public var message: String {
        switch self {
        case .saved(let s):
            return "saved \(s.path) (\(FileSystem.mib(s.bytes)) in \(String(format: "%.2f", s.seconds)) s)"
                + (s.removed.isEmpty ? "" : ", removed \(s.removed.map { ($0 as NSString).lastPathComponent }.joined(separator: ", "))")
        case .failed(let why):
            return why
        }
    }
}

public struct SavedCheckpoint: Equatable, Sendable {
    public let path: String
    public let step: Int
    public let bytes: Int
    public let seconds: Double
    /// Older checkpoints retention deleted.
    public let removed: [String]
    /// The checkpoint is committed, but something after the commit failed
    /// (directory fsync, `latest`, retention).
    public let warnings: [String]
}

public struct ResumePoint: Sendable {
    public let path: String
    public let state: TrainingState
}

/// The result of scanning for a resume point.
public struct ResumeScan: Sendable {
    /// The valid checkpoint with the highest step, or nil.
    public let found: ResumePoint?
    /// Invalid committed files newer than `found` (or all, when nil), newest first.
    public let skipped: [CheckpointError]
    /// Remarks on `latest` (missing, or behind the checkpoint found).
    public let notes: [String]

    /// One line per skipped file and note, for the log.
    public var warnings: [String] {
        skipped.map { "skipping invalid checkpoint \($0)" } + notes
    }
}
