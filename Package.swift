// swift-tools-version:6.0
// faconvlstm: data-parallel FAConvLSTM training on NetCDF climate data over MPI.
//
// Modules depend one way:
//   C shims (CMPI, COpenBLAS, CNetCDF) -> Kernels -> Model -> NetCDF, ClimateData
//   -> Distributed -> Training -> Analysis -> faconvlstm (CLI)
import Foundation
import PackageDescription

// Generic kernels (Float for training, Double for gradient checks) must be
// specialized across module boundaries, or every element goes through a
// witness table (measured 10x slower). Whole-package CMO does that.
// The vector width of the elementwise loops (gate math, softmax, mixing) is
// the build machine's: AVX-512 (16 lanes) where /proc/cpuinfo shows it, else
// AVX2 + FMA (8 lanes), else the x86-64 baseline (SSE2, 4 lanes). The binary is
// built where it runs (scripts/setup.sh); FACONVLSTM_TARGET_CPU overrides
// (e.g. x86-64 for a portable build).
let targetCPU: String = {
    if let forced = ProcessInfo.processInfo.environment["FACONVLSTM_TARGET_CPU"], !forced.isEmpty { return forced }
    #if arch(x86_64)
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flagsLine = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return "x86-64" }
    let flags = Set(flagsLine.split(separator: " ").map(String.init))
    if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]) { return "skylake-avx512" }
    if flags.isSuperset(of: ["avx2", "fma", "bmi2"]) { return "haswell" }
    return "x86-64"
    #else
    return ""
    #endif
}()

// The register blocks of the hand-written kernels (Kernels/Scalar.swift, RegisterBlocking) follow
// the register file: 32 vector registers with AVX-512, 16 below.
let targetHasAVX512 = targetCPU.contains("avx512") || ["x86-64-v4", "icelake-server", "icelake-client", "sapphirerapids",
                                                        "cascadelake", "cooperlake", "tigerlake", "znver4", "znver5"].contains(targetCPU)

let fast: [SwiftSetting] = [
    .unsafeFlags(["-cross-module-optimization", "-enforce-exclusivity=unchecked"], .when(configuration: .release)),
] + (targetCPU.isEmpty ? [] : [.unsafeFlags(["-target-cpu", targetCPU], .when(platforms: [.linux], configuration: .release))])
  + (targetHasAVX512 ? [.define("FACONVLSTM_AVX512", .when(platforms: [.linux], configuration: .release))] : [])

let package = Package(
    name: "faconvlstm",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "faconvlstm", targets: ["faconvlstm"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // 1.16: LogHandler.log(event:) (Training/Log.swift implements it).
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // C libraries from Debian, each behind its own shim.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CNetCDF", pkgConfig: "netcdf", providers: [.apt(["libnetcdf-dev", "netcdf-bin"])]),
        // The stop-signal handler and its sig_atomic_t flag (a handler must not run Swift code).
        .target(name: "CSignals"),

        // Tensors and kernels (forward + backward), BLAS wrapper, deterministic RNG.
        .target(name: "Kernels", dependencies: ["COpenBLAS", .product(name: "RealModule", package: "swift-numerics")], swiftSettings: fast),
        // The model of MODEL.md: cells, head, decoder, loss, parameters, optimizers.
        .target(name: "Model", dependencies: ["Kernels"], swiftSettings: fast),
        // Thin Swift layer over NetCDF-C.
        .target(name: "NetCDF", dependencies: ["CNetCDF"], swiftSettings: fast),
        // Datasets, CF decoding, normalization, sampler, prefetching reader, synthetic data.
        .target(name: "ClimateData", dependencies: ["Model", "NetCDF", "Kernels"], swiftSettings: fast),
        // Thin Swift layer over MPI, bucketed all-reduce, watchdog, signals.
        .target(name: "Distributed", dependencies: ["CMPI", "CSignals"], swiftSettings: fast),
        // Run config, trainer, checkpoints, metrics.
        .target(name: "Training", dependencies: [
            "Model", "ClimateData", "Distributed", "NetCDF",
            .product(name: "TOMLKit", package: "TOMLKit"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: fast),
        // What a scientist gets out: embed, predict, evaluate, cluster.
        .target(name: "Analysis", dependencies: ["Training", "ClimateData", "Model", "Kernels", "NetCDF", "Distributed"], swiftSettings: fast),
        .executableTarget(name: "faconvlstm", dependencies: [
            "Training", "Analysis",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: fast),

        // Runs the release binary (directly or under mpirun) from tests.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Kernels", "TestSupport"]),
        .testTarget(name: "ClimateDataTests", dependencies: ["ClimateData", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "Training"]),
        // embed, predict, evaluate, cluster, attention: metrics against references, the commands end to end.
        .testTarget(name: "AnalysisTests", dependencies: ["Analysis", "Training", "ClimateData", "Model", "Kernels", "NetCDF", "TestSupport"]),
    ]
)
