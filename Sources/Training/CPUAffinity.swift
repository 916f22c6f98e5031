import Foundation

/// How many CPUs this process may run on: its affinity mask (Cpus_allowed_list
/// in /proc/self/status), which mpirun's binding (`--bind-to core`, the default
/// for 1-2 ranks), `taskset` or a batch system set; nil where it cannot be read.
public func allowedCPUCount() -> Int? {
    guard let text = procSelfStatus(),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else { return nil }
    return cpuCount(list: line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces))
}

/// The number of CPUs in a Linux CPU list ("0-3,8,10-11" -> 7); nil if malformed.
public func cpuCount(list: String) -> Int? {
    var count = 0
    for part in list.split(separator: ",") {
        let ends = part.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
        switch ends.count {
        case 1: guard ends[0] != nil else { return nil }; count += 1
        case 2: guard let a = ends[0], let b = ends[1], b >= a else { return nil }; count += b - a + 1
        default: return nil
        }
    }
    return count > 0 ? count : nil
}

/// The warning for a rank whose threads outnumber the CPUs it may run on (they
/// would share them and run no faster than one), nil when they fit.
public func threadBindingWarning(threads: Int, allowedCPUs: Int?) -> String? {
    guard let cpus = allowedCPUs, cpus > 0, threads > cpus else { return nil }
    return "\(threads) threads per rank but rank 0 may run on \(cpus) CPU(s) (its affinity: mpirun binds each rank to one core "
        + "by default, taskset or the batch system may too): the threads share \(cpus == 1 ? "it" : "them") and run no faster; "
        + "give each rank its cores (mpirun --map-by ppr:RANKS:node:PE=\(threads) --bind-to core, or --bind-to none; docs/cluster.md)"
}
