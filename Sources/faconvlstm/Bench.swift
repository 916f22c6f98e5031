import ArgumentParser
import Foundation
import Kernels
import Model
import Training

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time training steps (forward + backward + AdamW) on synthetic data.",
        discussion: """
            Builds the model in Float32, feeds it a synthetic window of moving patterns,
            runs --warmup untimed steps, then times --iterations steps and prints
            samples/s, milliseconds per step split into forward, backward and optimizer,
            achieved GFLOP/s (counted as `faconvlstm describe` does), the memory the
            model holds by estimate and the process's peak RSS (VmHWM).

            --threads N runs the B samples of the batch on min(N, B) threads, each with
            its own copy of the activations and one BLAS thread (what `train` does with
            train.threads); one MPI rank per core with one thread is the other layout.
            Wall-clock figures suffer on a shared machine; the CPU time of the main
            thread is printed too.

            Examples:
              faconvlstm bench
              faconvlstm bench --cell convlstm --threads 2 --iterations 5
              faconvlstm bench --json
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var window: WindowOptions
    @Option(help: "Threads: the batch's samples are split across them.") var threads = 1
    @Flag(name: .customLong("blas-threads-only"), help: .hidden) var blasThreadsOnly = false   // docs/performance.md: before/after
    @Option(help: "Timed training steps.") var iterations = 10
    @Option(help: "Untimed steps first (allocation, caches, BLAS warm-up).") var warmup = 2
    @Option(help: "Seed of the parameters and the synthetic data.") var seed: UInt64 = 1
    @Flag(help: "Print one JSON object instead of text.") var json = false
    @Option(name: .customLong("sgemm"), help: .hidden) var sgemmSize: Int?   // scripts/bench.sh: sgemm GFLOP/s of size^3 products
    @Option(name: .customLong("kernel"), help: .hidden) var kernel: String?   // docs/performance.md: one kernel alone (BenchKernel.swift)

    func validate() throws {
        if threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if iterations < 1 { throw ValidationError("--iterations must be at least 1, got \(iterations)") }
        if warmup < 0 { throw ValidationError("--warmup must be 0 or more, got \(warmup)") }
    }

    func run() throws {
        if let size = sgemmSize { return try runSGEMM(size: size) }
        if let kernel { return try runKernel(kernel) }
        let c = try model.resolve()
        let baselineRSS = ProcessMemory.current().resident   // runtime, libraries, OpenBLAS: before the model exists
        let (b, t, h, w) = (window.samples, window.steps, window.height, window.width)
        let sampleThreads = blasThreadsOnly ? 1 : threads
        let net = ThreadedNetwork<Float>(config: c, maxSamples: b, steps: t, height: h, width: w, threads: sampleThreads)
        let blasThreads = blasThreadsOnly ? threads : net.blasThreads
        BLASThreads.set(blasThreads)
        net.initialize(seed: seed)
        net.inputGradientsWanted = false   // as `train` does
        let adam = AdamW(layout: net.layout)
        let batch = Batch<Float>.movingPattern(samples: b, steps: t, channels: c.channels, height: h, width: w, seed: seed)
        let scale: Float = lossScale(denominator: batch.lossDenominator(c.objective))

        var fwd = 0.0, bwd = 0.0, opt = 0.0, cpu = 0.0, mainCPU = 0.0, best = Double.infinity
        var stepTimes: [Double] = []
        var loss = 0.0
        let clock = ContinuousClock()
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
        for i in 0 ..< warmup + iterations {
            net.zeroGradients()
            let c0 = processCPUSeconds(), m0 = threadCPUSeconds()
            let t0 = clock.now
            loss = net.forward(batch) * Double(scale)
            let t1 = clock.now
            net.backward(scale: scale)
            let t2 = clock.now
            adam.step(params: net.params, grads: net.grads, lr: 1e-3)
            let t3 = clock.now
            if i >= warmup {
                fwd += seconds(t1 - t0); bwd += seconds(t2 - t1); opt += seconds(t3 - t2)
                cpu += processCPUSeconds() - c0
                mainCPU += threadCPUSeconds() - m0
                best = min(best, seconds(t3 - t0))
                stepTimes.append(seconds(t3 - t0))
            }
        }
        let n = Double(iterations)
        let stepSeconds = (fwd + bwd + opt) / n
        let samplesPerSecond = Double(b) / stepSeconds
        let flops = FLOPCount(config: c, steps: t, height: h, width: w)
        let gflops = flops.training * Double(b) / stepSeconds / 1e9
        let mem = MemoryEstimate(config: c, samples: b, steps: t, height: h, width: w, threads: sampleThreads)
        let rss = ProcessMemory.current().peak
        let median = stepTimes.sorted()[stepTimes.count / 2]
        if json {
            let obj: [String: Any] = [
                "cell": c.cell.rawValue, "samples": b, "steps": t, "height": h, "width": w, "threads": threads,
                "iterations": iterations, "samples_per_second": samplesPerSecond,
                "ms_per_step": stepSeconds * 1e3, "ms_forward": fwd / n * 1e3, "ms_backward": bwd / n * 1e3,
                "ms_optimizer": opt / n * 1e3, "gflops_per_second": gflops, "cpu_ms_per_step": cpu / n * 1e3, "best_ms_per_step": best * 1e3, "best_samples_per_second": Double(b) / best,
                "median_ms_per_step": median * 1e3, "median_samples_per_second": Double(b) / median,
                "memory_estimate": ["parameters": mem.parameters, "gradients": mem.gradients, "optimizer": mem.optimizer,
                                    "activations": mem.activations, "scratch": mem.scratch], "main_thread_cpu_ms_per_step": mainCPU / n * 1e3,
                "training_flops_per_sample": flops.training, "parameters": net.layout.totalCount,
                "estimated_bytes": mem.total, "peak_rss_bytes": rss, "baseline_rss_bytes": baselineRSS, "final_loss": loss,
            ]
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("bench: cell \(c.cell.rawValue), B \(b), T \(t), \(h)x\(w), \(threads) thread(s) (\(net.replicas.count) sample replica(s) x \(blasThreads) BLAS), \(iterations) steps after \(warmup) warm-up")
            print(String(format: "  %.1f samples/s, %.2f ms/step (forward %.2f, backward %.2f, optimizer %.2f)",
                         samplesPerSecond, stepSeconds * 1e3, fwd / n * 1e3, bwd / n * 1e3, opt / n * 1e3))
            print(String(format: "  fastest step %.2f ms (%.1f samples/s), median %.2f ms (%.1f samples/s)",
                         best * 1e3, Double(b) / best, median * 1e3, Double(b) / median))
            print(String(format: "  %.2f GFLOP/s (%.1f MFLOP per sample per step)", gflops, flops.training / 1e6))
            print(String(format: "  CPU time per step: %.2f ms this thread, %.2f ms whole process (on a busy machine these show the work better than wall time)",
                         mainCPU / n * 1e3, cpu / n * 1e3))
            print(String(format: "  memory: estimate %.1f MiB (activations %.1f, scratch %.1f, parameters+gradients+AdamW %.1f), peak RSS %.1f MiB (%.1f MiB before the model: runtime, libraries)",
                         Double(mem.total) / 1048576, Double(mem.activations) / 1048576, Double(mem.scratch) / 1048576,
                         Double(mem.parameters + mem.gradients + mem.optimizer) / 1048576, Double(rss) / 1048576, Double(baselineRSS) / 1048576))
            print(String(format: "  loss after the last step: %.6f", loss))
        }
    }
}

extension Bench {
    /// GFLOP/s of C = A B with square Float matrices of `size` (the machine's
    /// GEMM rate, the yardstick of the achieved GFLOP/s): --warmup untimed and
    /// --iterations timed products, median and best reported.
    func runSGEMM(size n: Int) throws {
        BLASThreads.set(threads)
        let a = UnsafeMutablePointer<Float>.allocate(capacity: n * n), bm = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
        let cm = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
        defer { a.deallocate(); bm.deallocate(); cm.deallocate() }
        var rng = CounterRNG(seed: seed)
        for i in 0 ..< n * n { a[i] = Float(rng.uniform(-1, 1)); bm[i] = Float(rng.uniform(-1, 1)) }
        cm.initialize(repeating: 0, count: n * n)
        let clock = ContinuousClock()
        var times: [Double] = []
        for i in 0 ..< warmup + iterations {
            let t0 = clock.now
            Float.gemm(transA: false, transB: false, m: n, n: n, k: n, alpha: 1, a: a, lda: n, b: bm, ldb: n, beta: 0, c: cm, ldc: n)
            let d = (clock.now - t0).components
            if i >= warmup { times.append(Double(d.seconds) + Double(d.attoseconds) * 1e-18) }
        }
        let flop = 2 * Double(n) * Double(n) * Double(n)
        let median = times.sorted()[times.count / 2], best = times.min()!
        if json {
            let obj: [String: Any] = ["sgemm_size": n, "threads": threads, "iterations": iterations, "blas_core": BLASCore.name,
                                      "gflops_median": flop / median / 1e9, "gflops_best": flop / best / 1e9]
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(String(format: "sgemm %d^3, %d thread(s), OpenBLAS %@: median %.1f GFLOP/s, best %.1f GFLOP/s",
                         n, threads, BLASCore.name, flop / median / 1e9, flop / best / 1e9))
        }
    }
}

/// CPU seconds used by this process so far, all threads (to see through a busy machine).
func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// CPU seconds used by the calling thread so far.
func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

