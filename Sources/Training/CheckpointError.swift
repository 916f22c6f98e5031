/// Why a checkpoint file cannot be written or used: one line naming the file
/// and what is wrong (`kind` lets callers and tests tell the cases apart).
public struct CheckpointError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        /// NetCDF/HDF5 cannot open it (missing, truncated, not NetCDF).
        case cannotOpen
        /// Opens, but `format` is not "faconvlstm-checkpoint".
        case notACheckpoint
        /// A `format_version` this program does not know.
        case unsupportedVersion
        case missingAttribute
        /// An attribute of the wrong type or with a value out of range.
        case badAttribute
        case missingGroup
        case missingVariable
        /// A variable the model does not have.
        case unexpectedVariable
        case wrongType
        case wrongShape
        /// A variable written without the Fletcher32 checksum filter.
        case noChecksum
        /// Reading the data failed: Fletcher32 mismatch or other HDF5 error.
        case corruptData
        /// NaN or infinity in parameters, moments or normalization.
        case nonFinite
        /// The model hyperparameters differ from the expected configuration.
        case incompatible
        /// The state to write is inconsistent (lengths, NaN, ranges).
        case invalidState
        /// Creating or writing the file failed (disk full, permissions, I/O).
        case writeFailed
    }

    public let path: String
    public let kind: Kind
    /// What is wrong, without the path.
    public let detail: String

    public init(_ path: String, _ kind: Kind, _ detail: String) {
        self.path = path
        self.kind = kind
        self.detail = detail
    }

    public var description: String { "\(path): \(detail)" }
}
