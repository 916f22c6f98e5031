/// A problem with the data or its description, found by this module: one line
/// naming the file and variable, or the `data.` field. Bad input (exit code 2)
/// unless `atRunTime` (an I/O failure while training: exit code 1).
public struct DataError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let atRunTime: Bool
    public init(_ message: String, atRunTime: Bool = false) {
        self.message = message
        self.atRunTime = atRunTime
    }
    public var description: String { message }
}
