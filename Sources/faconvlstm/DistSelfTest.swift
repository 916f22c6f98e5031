import ArgumentParser
import Distributed
import Foundation
import Kernels
import Model
import Training

/// Hidden: scenarios of the Distributed machinery, run under mpirun by the
/// tests in Tests/CLITests/DistributedTests.swift. Rank 0 prints `key=value`
/// results; test-only randomness comes from CounterRNG keyed by rank.
struct DistSelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dist-selftest", abstract: "Exercise the distributed machinery across ranks (for tests).",
        shouldDisplay: false)

    enum Scenario: String, ExpressibleByArgument, CaseIterable {
        case allreduce, overlap, watchdog, signal, checksum, error
    }

    @Option(help: "Which scenario to run.") var scenario: Scenario
    @Option(help: "allreduce: floats in the gradient buffer.") var count = 15000
    @Option(help: "allreduce: gradient blocks the buffer is cut into.") var blocks = 4
    @Option(help: "All-reduce bucket size in bytes.") var bucketBytes = GradientAllReducer.defaultBucketBytes
    @Option(help: "Seed of the test data.") var seed: UInt64 = 1
    @Option(help: "overlap: hidden channels of the model whose layout is used.") var hidden = 32
    @Option(help: "overlap: layers of that model.") var layers = 2
    @Option(help: "overlap: simulated backward time per step, milliseconds.") var backwardMs = 200.0
    @Option(help: "overlap: simulated time steps per block (progress() after each).") var timeSteps = 8
    @Option(help: "Steps to run (overlap: measured steps per mode; signal: at most).") var steps = 10
    @Option(help: "watchdog: the rank that gets stuck (-1: none).") var sleepRank = -1
    @Option(help: "watchdog: timeout in seconds.") var timeout = 3.0
    @Option(help: "signal: time per simulated step, milliseconds.") var stepMs = 50.0
    @Option(help: "signal: directory where each rank writes rank-R.pid once it is in the loop.") var pidDir: String?
    @Option(help: "signal: --exit-after-minutes equivalent, in seconds.") var exitAfterSeconds: Double?
    @Option(help: "checksum: the rank whose parameters drift.") var divergeRank = 1
    @Option(help: "checksum: the step at which they drift.") var divergeStep = 3
    @Option(help: "error: the rank whose checkpoint write fails.") var failRank = 1
    @Flag(help: "error: raise it as a local error (MPI_Abort) instead of agreeing on it.") var local = false

    func run() throws {
        let comm = try Communicator.world()
        do {
            switch scenario {
            case .allreduce: try allReduce(comm)
            case .overlap: overlap(comm)
            case .watchdog: watchdog(comm)
            case .signal: try signal(comm)
            case .checksum: try checksum(comm)
            case .error: try failure(comm)
            }
        } catch {
            RunTermination.exit(error, communicator: comm)
        }
        comm.finalize()
    }

    /// Rank r's test gradient: values spread over 2^-20 ... 2^20 so that
    /// summation order shows in the last bits.
    static func gradient(seed: UInt64, rank: Int, count: Int) -> [Float] {
        var rng = CounterRNG(seed: seed, stream: UInt64(rank))
        return (0 ..< count).map { _ in
            let scale = Double.pow2(Int(rng.nextInt(below: 41)) - 20)
            return Float(rng.normal() * scale)
        }
    }

    static func evenBlocks(count: Int, blocks: Int) -> [Range<Int>] {
        let k = max(1, min(blocks, count))
        let layout = (0 ..< k).map { i in (i * count / k) ..< ((i + 1) * count / k) }
        return Array(layout.reversed())  // ready order: the end of the buffer first
    }

    func allReduce(_ comm: Communicator) throws {
        let blockList = DistSelfTest.evenBlocks(count: count, blocks: blocks)
        let mine = DistSelfTest.gradient(seed: seed, rank: comm.rank, count: count)
        // Reference on every rank from every rank's known seed: Double sum, and
        // the sum of magnitudes that bounds Float rounding.
        var reference = [Double](repeating: 0, count: count), magnitude = [Double](repeating: 0, count: count)
        for r in 0 ..< comm.size {
            let g = DistSelfTest.gradient(seed: seed, rank: r, count: count)
            for i in 0 ..< count { reference[i] += Double(g[i]); magnitude[i] += abs(Double(g[i])) }
        }
        func reduced(_ mode: GradientAllReducer.Mode) -> [Float] {
            var buf = mine
            buf.withUnsafeMutableBufferPointer { b in
                let reducer = GradientAllReducer(communicator: comm, buffer: b, blocks: blockList, bucketBytes: bucketBytes, mode: mode)
                reducer.beginStep()
                for block in blockList {
                    reducer.progress()
                    reducer.blockReady(block)
                }
                reducer.finish()
            }
            return buf
        }
        let bucketed = reduced(.bucketed), sync = reduced(.synchronous)
        var whole = mine
        comm.allReduce(&whole, op: .sum)  // blocking MPI_Allreduce: informational only
        let bitwise = zip(bucketed, sync).allSatisfy { $0.bitPattern == $1.bitPattern }
        let wholeDiffers = zip(bucketed, whole).filter { $0.bitPattern != $1.bitPattern }.count
        var worst = 0.0
        for i in 0 ..< count where magnitude[i] > 0 {
            worst = max(worst, abs(Double(bucketed[i]) - reference[i]) / magnitude[i])
        }
        let agree = bucketed.withUnsafeBufferPointer { b in
            (try? ParameterChecksum.verify(b, step: 0, communicator: comm)) != nil
        }
        // The step reduction: rank r contributes (r+1, 2, r, nonFinite on the last rank, step time r).
        let last = comm.size - 1
        let s = comm.reduce(StepReduction(lossNumerator: Double(comm.rank + 1), lossDenominator: 2,
                                          gradNormSquared: Double(comm.rank), nonFinite: comm.rank == last,
                                          stop: comm.rank == last ? .deadline : .none, stepSeconds: Double(comm.rank)))
        let n = Double(comm.size)
        let stepOK = s.lossNumerator == n * (n + 1) / 2 && s.lossDenominator == 2 * n
            && s.gradNormSquared == n * (n - 1) / 2 && s.nonFiniteRanks == 1 && s.stop == .deadline
            && s.stepSeconds == Double(last)
        let anyOK = comm.anyRank(comm.rank == last) && comm.allRanks(comm.rank == last) == (comm.size == 1)
            && comm.allRanks(true) && !comm.anyRank(false)
        let plan = BucketPlan(blocks: blockList, maxBucketBytes: bucketBytes)
        if comm.isRoot {
            print("allreduce: ranks=\(comm.size) count=\(count) buckets=\(plan.buckets.count) "
                + "bucketed_vs_sync_bitwise=\(bitwise) ranks_agree=\(agree) max_err_over_abs_sum=\(worst) "
                + "whole_buffer_blocking_allreduce_differs=\(wholeDiffers) step_reduction_ok=\(stepOK) any_all_ok=\(anyOK)")
        }
        guard bitwise, agree, worst <= 1e-6, stepOK, anyOK else {
            throw RunError("allreduce scenario failed", exitCode: .failure, scope: .allRanks)
        }
    }

    func overlap(_ comm: Communicator) {
        var config = ModelConfig()
        config.hidden = hidden
        config.layers = layers
        let layout = ParameterLayout(config: config)
        let grads = UnsafeMutableBufferPointer<Float>.allocate(capacity: layout.totalCount)
        defer { grads.deallocate() }
        // Backward's cost per block: the head is cheap, the layers share the rest.
        let blockList = BucketPlan.readyOrder(layerRanges: layout.layerRanges, headRange: layout.headRange)
        let weights = [0.5] + Array(repeating: 1.0, count: layers)
        let perStep = weights.map { backwardMs / 1000 * $0 / weights.reduce(0, +) / Double(timeSteps) }
        var sink: Double = 0
        // Per step: the all-reduce time left after the slowest rank's backward
        // ended (ranks of one node share CLOCK_MONOTONIC), so that load skew
        // between ranks on this shared machine does not count as communication.
        func measure(_ mode: GradientAllReducer.Mode) -> (exposed: Double, minExposed: Double, inFlight: Double, hidden: Double, backward: Double) {
            let reducer = GradientAllReducer(communicator: comm, buffer: grads, layerRanges: layout.layerRanges,
                                             headRange: layout.headRange, bucketBytes: bucketBytes, mode: mode)
            var exposed: [Double] = [], inFlight: [Double] = [], hiddenFraction: [Double] = [], backward: [Double] = []
            for step in 0 ... steps {  // step 0 warms up and is not counted
                for i in 0 ..< grads.count { grads[i] = Float(i % 7) }
                comm.barrier()
                reducer.beginStep()
                let t0 = monotonicSeconds()
                for (b, block) in blockList.enumerated() {
                    for _ in 0 ..< timeSteps {
                        sink += DistSelfTest.busy(seconds: perStep[b])
                        reducer.progress()
                    }
                    reducer.blockReady(block)
                }
                let t1 = monotonicSeconds()
                let t = reducer.finish()
                let t2 = monotonicSeconds()
                let slowestEnd = comm.allGather(t1).max()!
                if step > 0 {
                    exposed.append(comm.allReduce(max(0, t2 - slowestEnd), op: .max))
                    inFlight.append(comm.allReduce(t.inFlightSeconds, op: .max))
                    hiddenFraction.append(comm.allReduce(t.hiddenFraction, op: .min))
                    backward.append(comm.allReduce(t1 - t0, op: .max))
                }
            }
            func median(_ v: [Double]) -> Double { let s = v.sorted(); return s.isEmpty ? 0 : s[s.count / 2] }
            return (median(exposed), exposed.min() ?? 0, median(inFlight), median(hiddenFraction), median(backward))
        }
        let sync = measure(.synchronous), bucketed = measure(.bucketed)
        if comm.isRoot {
            let plan = BucketPlan(blocks: blockList, maxBucketBytes: bucketBytes)
            // Medians over the steps; the minima are the least disturbed steps on a shared machine.
            let hiddenShare = sync.exposed > 0 ? max(0, 1 - bucketed.exposed / sync.exposed) : 0
            let hiddenShareMin = sync.minExposed > 0 ? max(0, 1 - bucketed.minExposed / sync.minExposed) : 0
            func ms(_ s: Double) -> String { String(format: "%.3f", s * 1000) }
            print("overlap: ranks=\(comm.size) floats=\(layout.totalCount) buckets=\(plan.buckets.count) "
                + "backward_ms=\(ms(bucketed.backward)) sync_exposed_ms=\(ms(sync.exposed)) "
                + "bucketed_exposed_ms=\(ms(bucketed.exposed)) bucketed_in_flight_ms=\(ms(bucketed.inFlight)) "
                + "hidden_share=\(String(format: "%.3f", hiddenShare)) sync_exposed_min_ms=\(ms(sync.minExposed)) "
                + "bucketed_exposed_min_ms=\(ms(bucketed.minExposed)) hidden_share_min=\(String(format: "%.3f", hiddenShareMin)) "
                + "in_flight_hidden_fraction=\(String(format: "%.3f", bucketed.hidden))"
                + (sink == 42 ? " " : ""))
        }
    }

    /// Compute-bound work for about `seconds` (no MPI calls, no allocation).
    static func busy(seconds: Double) -> Double {
        let end = monotonicSeconds() + seconds
        var x = 1.0
        repeat {
            for _ in 0 ..< 2000 { x = x * 1.000001 + 1e-9 }
        } while monotonicSeconds() < end
        return x
    }

    func watchdog(_ comm: Communicator) {
        let dog = Watchdog(timeout: timeout, communicator: comm, resolution: 0.1)
        for step in 0 ..< steps {
            dog.phase(step: step, "data read") {
                if comm.rank == sleepRank && step == 2 {
                    Thread.sleep(forTimeInterval: timeout + 60)  // stuck: the watchdog must end the job first
                } else {
                    // The healthy ranks read for a while before they wait for the stuck one.
                    Thread.sleep(forTimeInterval: step == 2 ? 1.0 : 0.02)
                }
            }
            _ = dog.phase(step: step, "allreduce") { comm.allReduce(Double(step), op: .sum) }
        }
        dog.stop()
        if comm.isRoot { print("watchdog: ranks=\(comm.size) steps=\(steps) finished") }
    }

    func signal(_ comm: Communicator) throws {
        StopSignal.install()
        let deadline = Deadline(minutes: exitAfterSeconds.map { $0 / 60 })
        for step in 0 ..< steps {
            Thread.sleep(forTimeInterval: stepMs / 1000)
            let agreed = comm.reduce(StepReduction(stop: StopSignal.localReason(deadline: deadline), stepSeconds: stepMs / 1000))
            if step == 0, let dir = pidDir {
                // Every rank has passed one collective with its handler installed: ready for signals.
                try "\(getpid())\n".write(toFile: "\(dir)/rank-\(comm.rank).pid", atomically: true, encoding: .utf8)
            }
            if agreed.stop.isStop {
                print("signal: rank \(comm.rank) stops after step \(step): \(agreed.stop); local=\(StopSignal.localReason(deadline: deadline))")
                throw RunError.stopped(agreed.stop, afterStep: step)
            }
        }
        if comm.isRoot { print("signal: ranks=\(comm.size) ran all \(steps) steps without a stop request") }
    }

    func checksum(_ comm: Communicator) throws {
        var config = ModelConfig()
        config.hidden = hidden
        let layout = ParameterLayout(config: config)
        var params = [Float](repeating: 0, count: layout.totalCount)
        params.withUnsafeMutableBufferPointer { layout.initialize($0, seed: seed) }
        for step in 0 ..< steps {
            if step == divergeStep && comm.rank == divergeRank {
                params[params.count / 2] = params[params.count / 2].nextUp  // one ulp in one parameter
            }
            try params.withUnsafeBufferPointer { try ParameterChecksum.verify($0, step: step, communicator: comm) }
        }
        if comm.isRoot { print("checksum: ranks=\(comm.size) parameters identical for \(steps) steps") }
    }

    /// A local failure on one rank: agreed (every rank exits 1 after a barrier,
    /// one message) or, with --local, raised alone (MPI_Abort, exit 1).
    func failure(_ comm: Communicator) throws {
        let dog = Watchdog(timeout: 20, communicator: comm)
        dog.begin(step: 5, operation: "checkpoint save")
        func save() throws {
            if comm.rank == failRank { throw RunError("checkpoint /run/ckpt-5.nc: cannot write: No space left on device") }
        }
        do {
            if local {
                try save()
                _ = comm.allReduce(1.0, op: .sum)  // the others wait here for the failed rank
            } else {
                try RunTermination.agreeing(comm, save)
            }
        } catch {
            RunTermination.exit(error, communicator: comm, watchdog: dog)
        }
        dog.stop()
        if comm.isRoot { print("error: no rank failed") }
    }
}

extension Double {
    static func pow2(_ e: Int) -> Double { Double(sign: .plus, exponent: e, significand: 1) }
}
