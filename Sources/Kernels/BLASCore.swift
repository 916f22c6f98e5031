import COpenBLAS
#if canImport(Glibc)
import Glibc
#endif

/// Which kernels OpenBLAS runs.
///
/// OpenBLAS picks its kernels from the CPU model when the library loads. On
/// virtual CPUs that report a generic model it falls back to its SSE3
/// ("Prescott") kernels, measured 6x slower here than its AVX-512 ones. The
/// choice can only be forced by OPENBLAS_CORETYPE at load time, so
/// `ensureOptimizedKernels` re-executes the program with it set.
public enum BLASCore {
    /// OpenBLAS's name for the kernels in use, e.g. "SkylakeX", "Haswell", "Prescott".
    public static var name: String { String(cString: openblas_get_corename()) }

    /// The core type this CPU supports by its feature flags, nil if unknown.
    public static func supportedCoreType() -> String? {
        #if os(Linux)
        guard let f = fopen("/proc/cpuinfo", "r") else { return nil }
        defer { fclose(f) }
        var line: UnsafeMutablePointer<CChar>? = nil
        var cap = 0
        defer { free(line) }
        while getline(&line, &cap, f) > 0 {
            let s = String(cString: line!)
            guard s.hasPrefix("flags") else { continue }
            let flags = Set(s.split(separator: " ").map { $0.trimmingCharacters() })
            if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) { return "SkylakeX" }
            if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
            return nil
        }
        #endif
        return nil
    }

    /// If OpenBLAS chose generic kernels on a CPU with AVX2 or AVX-512 and
    /// OPENBLAS_CORETYPE is unset, re-executes this program with it set (same
    /// arguments, same process id, before any other work). Otherwise returns.
    public static func ensureOptimizedKernels() {
        #if os(Linux)
        guard getenv("OPENBLAS_CORETYPE") == nil else { return }
        let current = name.lowercased()
        guard ["prescott", "core2", "nehalem", "penryn", "dunnington", "atom"].contains(current),
              let better = supportedCoreType() else { return }
        // Exec the binary by its real path, not /proc/self/exe: the process
        // name (ps, pkill, top) is taken from the path and must stay "faconvlstm".
        var path = [CChar](repeating: 0, count: 4097)
        let n = readlink("/proc/self/exe", &path, 4096)
        guard n > 0 else { return }
        setenv("OPENBLAS_CORETYPE", better, 1)
        execv(path, CommandLine.unsafeArgv)
        // execv returned: keep running with the generic kernels.
        #endif
    }
}

private extension Substring {
    func trimmingCharacters() -> String {
        String(self.filter { !$0.isWhitespace })
    }
}
