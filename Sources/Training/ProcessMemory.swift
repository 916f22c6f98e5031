import Foundation

/// This process's memory as Linux reports it in `/proc/self/status`, in bytes
/// (all zero where there is no such file).
///
/// `resident` (VmRSS) is what is in RAM now: anonymous memory, file pages
/// (library code, mapped files) and shared memory (MPI's shared-memory
/// transport). `peak` (VmHWM) is the highest `resident` so far: what a batch
/// system's memory limit compares against.
public struct ProcessMemory: Equatable, Sendable {
    public var resident = 0
    public var peak = 0
    public var anonymous = 0
    public var file = 0
    public var shared = 0

    public init() {}

    /// Reads `/proc/self/status` now.
    public static func current() -> ProcessMemory {
        guard let text = procSelfStatus() else { return ProcessMemory() }
        return ProcessMemory(status: text)
    }

    /// Parses the text of a `/proc/<pid>/status` file (values in kB).
    public init(status text: String) {
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count >= 2, let kb = Int(parts[1]) else { continue }
            switch parts[0] {
            case "VmRSS:": resident = kb * 1024
            case "VmHWM:": peak = kb * 1024
            case "RssAnon:": anonymous = kb * 1024
            case "RssFile:": file = kb * 1024
            case "RssShmem:": shared = kb * 1024
            default: break
            }
        }
    }
}

/// The text of `/proc/self/status` now (memory, affinity), nil where there is none.
func procSelfStatus() -> String? {
    try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)
}

/// Bytes as MiB with one decimal, e.g. "91.0 MiB".
public func mebibytes(_ bytes: Int) -> String {
    String(format: "%.1f MiB", Double(bytes) / 1_048_576)
}
