import ClimateData
import Distributed
import Foundation
import Kernels
import Logging
import Model

/// Where a run starts from (`--resume`, `--init-from`).
public enum ResumeMode: Equatable, Sendable {
    /// The newest valid checkpoint of the run directory, or a fresh start.
    case auto
    /// Always a fresh start (existing checkpoints are left alone, and newer ones will be written beside them).
    case never
    /// This checkpoint file (an error if it is invalid).
    case path(String)
}

/// Command-line choices of `faconvlstm train` that are not part of the run config.
public struct TrainOptions: Sendable {
    public var resume: ResumeMode = .auto
    /// Start a new run (step 0, fresh optimizer) from this checkpoint's parameters.
    public var initFrom: String? = nil
    /// Stop (checkpoint, exit 75) after this many minutes of wall time.
    public var exitAfterMinutes: Double? = nil
    /// Stop (checkpoint, exit 75) once this many updates are applied, as a
    /// preemption at an exact step would (tests of bit-exact resume).
    public var stopAfterSteps: Int? = nil
    /// Test-only fault injection: a NaN in this rank's batch at this iteration.
    public var injectNaN: (rank: Int, iteration: Int)? = nil
    /// Test-only fault injection: this rank sleeps inside a watched phase at this iteration.
    public var injectSleep: (rank: Int, iteration: Int, seconds: Double)? = nil
    public init() {}
}

/// Data-parallel training of one run (`faconvlstm train`), on every rank.
///
/// Each iteration consumes `global_batch` samples of the epoch's permutation
/// (the one global counter `samples_seen`); this rank's share is split into
/// micro-batches whose gradients accumulate; the global loss denominator is
/// all-reduced while the first forward runs (backward needs it, forward does
/// not); gradients are all-reduced in buckets while backward runs; then one
/// all-reduce agrees on loss, non-finite values and stop requests, so every
/// rank takes every decision identically.
public final class Trainer {
    public let config: RunConfig
    let comm: Communicator
    let options: TrainOptions
    let log = Logger(label: "faconvlstm")

    let data: ClimateDataset
    let normalization: Normalization
    let trainSpace: SampleSpace
    let validSpace: SampleSpace?
    let schedule: EpochSchedule
    let net: ThreadedNetwork<Float>
    let adam: AdamW?
    let sgd = SGD()
    let lrSchedule: LearningRateSchedule
    let reducer: GradientAllReducer
    let watchdog: Watchdog?
    let store: CheckpointStore
    let climatology: Climatology?
    let metrics: MetricsWriter?
    let sampleLog: SampleLog?

    /// Optimizer updates applied.
    public private(set) var step = 0
    /// Global training samples consumed (the data position).
    public private(set) var samplesSeen = 0
    var lastSaveTime = monotonicSeconds()
    var lastSavedStep = -1

    /// Builds everything on every rank: config (read by rank 0, broadcast),
    /// dataset, normalization, model, optimizer, resume state. Collective.
    public init(config initial: RunConfig, communicator comm: Communicator, options: TrainOptions) throws {
        self.comm = comm
        self.options = options
        let plan = try RunPlan(config: initial, ranks: comm.size, communicator: comm)
        let config = plan.config
        self.config = config
        let dataset = plan.dataset
        data = dataset
        trainSpace = plan.training
        validSpace = plan.validation
        schedule = plan.schedule
        store = CheckpointStore(runDirectory: config.runDirectory, policy: config.checkpoint)

        // Rank 0 owns the run directory: it makes it and records the resolved config.
        try Trainer.agreed(comm, exitCode: .failure) {
            guard comm.isRoot else { return }
            if let e = RunPlan.makeDirectories(config.runDirectory) {
                throw RunError(RunPlan.cannotCreate(config.runDirectory, e))
            }
            let path = config.runDirectory + "/config.resolved.toml"
            let tmp = path + ".tmp"
            guard FileManager.default.createFile(atPath: tmp, contents: Data(config.resolvedTOML.utf8)),
                  rename(tmp, path) == 0 else {
                throw RunError(RunPlan.cannotWrite(config.runDirectory, errno))
            }
        }

        // Resume: rank 0 answers the file-system question, everyone receives the state.
        let log = Logger(label: "faconvlstm")
        let (resumed, initFromState) = try plan.startState(options: options, communicator: comm, log: log)

        if let r = resumed {
            normalization = r.normalization
        } else {
            normalization = try Trainer.agreed(comm, exitCode: .badInput) {
                try Normalization.loadOrCompute(dataset, runDirectory: config.runDirectory, rank: comm.rank, ranks: comm.size) {
                    comm.allReduce(&$0, op: .sum)
                }.0
            }
        }
        if validSpace != nil && config.train.validateEvery > 0 {
            let norm = normalization, d = dataset
            climatology = try Trainer.agreed(comm, exitCode: .failure) {
                try Climatology.compute(d, normalization: norm, rank: comm.rank, ranks: comm.size) { comm.allReduce(&$0, op: .sum) }
            }
        } else {
            climatology = nil
        }

        let tiling = trainSpace.tiling
        // train.threads: the micro-batch's samples split across threads (0: one
        // thread, OpenBLAS's own default thread count).
        net = ThreadedNetwork<Float>(config: config.model, maxSamples: config.train.microBatch, steps: config.data.window,
                                     height: tiling.height, width: tiling.width, threads: max(1, config.train.threads))
        net.inputGradientsWanted = false   // the data's gradient is never used in training
        if config.train.threads > 0 { BLASThreads.set(net.blasThreads) }
        if comm.isRoot, let warning = threadBindingWarning(threads: net.replicas.count, allowedCPUs: allowedCPUCount()) {
            log.warning("\(warning)")
        }
        adam = config.optimizer.kind == .adamw
            ? AdamW(layout: net.layout, beta1: config.optimizer.beta1, beta2: config.optimizer.beta2,
                    eps: config.optimizer.eps, weightDecay: config.optimizer.weightDecay)
            : nil
        lrSchedule = config.learningRateSchedule

        if let r = resumed {
            Trainer.copy(r.parameters, into: net.params)
            if let a = adam {
                if let m = r.moments {
                    Trainer.copy(m.first, into: a.m)
                    Trainer.copy(m.second, into: a.v)
                } else if r.step > 0 {
                    log.warning("checkpoint has no AdamW moments (saved with SGD); AdamW starts with zero moments")
                }
                a.updates = r.step
            }
            step = r.step
            samplesSeen = r.samplesSeen
        } else if let p = initFromState {
            Trainer.copy(p, into: net.params)
        } else {
            // Rank 0's initial parameters are the run's (every rank would draw the same, but one source is simpler to trust).
            if comm.isRoot { net.initialize(seed: config.seed) }
            comm.broadcast(net.params)
        }

        reducer = GradientAllReducer(communicator: comm, buffer: net.grads, layerRanges: net.layout.layerRanges,
                                     headRange: net.layout.headRange,
                                     bucketBytes: max(4, Int(config.train.bucketMegabytes * 1_048_576)),
                                     mode: config.train.syncAllReduce ? .synchronous : .bucketed)
        watchdog = config.train.watchdogSeconds > 0 ? Watchdog(timeout: config.train.watchdogSeconds, communicator: comm) : nil
        if comm.isRoot {
            metrics = try MetricsWriter(path: config.runDirectory + "/metrics.jsonl", resumingAfterStep: resumed != nil ? step : nil)
            sampleLog = config.train.sampleLog
                ? try SampleLog(path: config.runDirectory + "/samples.log", resumingAtSamplesSeen: resumed != nil ? samplesSeen : 0)
                : nil
        } else {
            metrics = nil
            sampleLog = nil
        }
    }

    deinit {
        watchdog?.stop()
        data.close()
    }

    // MARK: the loop

    /// Trains until `train.steps` updates are applied (returns normally) or a
    /// stop is agreed (throws `RunError.stopped`, exit 75, after saving).
    public func run() throws {
        let c = config
        let G = c.train.globalBatch
        let rankShare = G / comm.size
        let microPerIteration = (rankShare + c.train.microBatch - 1) / c.train.microBatch
        let deadline = Deadline(minutes: options.exitAfterMinutes)
        let startIteration = samplesSeen / G
        let sched = schedule, rank = comm.rank, micro = microPerIteration
        let reader = try BatchReader(dataset: data, normalization: normalization, space: trainSpace)
        // Far more batches than the run needs: the stream is stopped at the end.
        let stream = BatchStream(reader: reader, count: Int(Int32.max), prefetch: c.data.prefetch, depth: max(2, micro)) { k in
            sched.microBatches(step: startIteration + k / micro, rank: rank)[k % micro]
        }
        defer { stream.stop() }

        if step >= c.train.steps {
            log.info("run already finished: step \(step) of \(c.train.steps); nothing to do")
            return
        }
        let layout = net.layout
        log.info("training \(c.model.cell.rawValue) (\(layout.totalCount) parameters) on \(comm.size) rank(s)\(net.replicas.count > 1 ? " x \(net.replicas.count) threads" : ""): step \(step) -> \(c.train.steps), global batch \(G) (\(rankShare) per rank in \(micro) micro-batch(es)), \(sched.stepsPerEpoch) steps per epoch")
        let progressDisplay = comm.isRoot ? ProgressDisplay(totalSteps: c.train.steps) : nil
        var window = IntervalTimes()
        var consecutiveSkips = 0
        var iteration = startIteration
        // The loss denominator's all-reduce buffer: it must outlive the request.
        let denominator = UnsafeMutableBufferPointer<Double>.allocate(capacity: 1)
        defer { denominator.deallocate() }

        while step < c.train.steps {
            let tStart = monotonicSeconds()
            watchdog?.begin(step: step, operation: "data read")
            var batches: [Batch<Float>] = []
            batches.reserveCapacity(micro)
            for _ in 0 ..< micro {
                guard let b = try stream.next() else { throw RunError("data stream ended early at iteration \(iteration)") }
                batches.append(b)
            }
            if let inj = options.injectNaN, inj.rank == rank, inj.iteration == iteration {
                batches[0].inputs[0] = .nan
                log.warning("injected a NaN into this rank's batch of iteration \(iteration) (test)")
            }
            let tData = monotonicSeconds()
            var localDen = 0.0
            for b in batches { localDen += b.lossDenominator(c.model.objective) }
            // Started now, awaited before the first backward: the ranks do not
            // line up on it after the data read, only after the forward.
            denominator[0] = localDen
            let denominatorRequest = comm.startAllReduce(denominator, op: .sum)

            if let inj = options.injectSleep, inj.rank == rank, inj.iteration == iteration {
                watchdog?.begin(step: step, operation: "forward (test sleep)")
                Thread.sleep(forTimeInterval: inj.seconds)
            }
            net.zeroGradients()
            reducer.beginStep()
            var numerator = 0.0, tForward = 0.0, tBackward = 0.0, tDenominator = 0.0
            var scale: Float = 0
            for (j, b) in batches.enumerated() {
                watchdog?.begin(step: step, operation: "forward")
                let t0 = monotonicSeconds()
                numerator += net.forward(b)
                tForward += monotonicSeconds() - t0
                if j == 0 {
                    watchdog?.begin(step: step, operation: "all-reduce of the loss denominator")
                    let tWait = monotonicSeconds()
                    denominatorRequest.wait()
                    scale = Float(denominator[0] > 0 ? 1 / denominator[0] : 0)
                    tDenominator = monotonicSeconds() - tWait
                }
                let t1 = monotonicSeconds()
                watchdog?.begin(step: step, operation: "backward")
                if j == batches.count - 1 {
                    let r = reducer
                    net.backward(scale: scale, ready: { r.blockReady($0) }, progress: { r.progress() })
                } else {
                    net.backward(scale: scale)
                }
                tBackward += monotonicSeconds() - t1
            }
            denominatorRequest.wait()   // already complete unless there was no micro-batch
            watchdog?.begin(step: step, operation: "gradient all-reduce")
            let timings = reducer.finish()
            let gradNorm = gradientNorm(net.grads)
            watchdog?.begin(step: step, operation: "step agreement all-reduce")
            // Gradients are already summed over ranks; a non-finite norm on any
            // rank still goes through the agreement (infinity sums to infinity).
            let local = StepReduction(lossNumerator: numerator, lossDenominator: localDen,
                                      gradNormSquared: gradNorm.isFinite ? 0 : .infinity,
                                      nonFinite: !numerator.isFinite,
                                      stop: options.stopAfterSteps.map { step + 1 >= $0 } == true ? .requested : StopSignal.localReason(deadline: deadline),
                                      stepSeconds: monotonicSeconds() - tStart)
            let agreed = comm.reduce(local)
            watchdog?.end()

            sampleLog?.record(iteration: iteration, samplesSeen: samplesSeen, samples: sched.globalSamples(step: iteration))
            let lr = lrSchedule.rate(step: step)
            let skip = agreed.nonFinite || !agreed.gradNormSquared.isFinite
            if skip {
                consecutiveSkips += 1
                if comm.isRoot {
                    let what = agreed.nonFinite ? "non-finite loss on \(agreed.nonFiniteRanks) of \(comm.size) rank(s)" : "non-finite gradients"
                    log.warning("step \(step) skipped by every rank: \(what) (iteration \(iteration), \(consecutiveSkips) in a row)")
                }
                if consecutiveSkips >= c.train.maxConsecutiveSkips {
                    throw RunError("stopping: \(consecutiveSkips) consecutive steps had non-finite loss or gradients (train.max_consecutive_skips = \(c.train.maxConsecutiveSkips)); lower optimizer.lr or check the data",
                                   exitCode: .failure, scope: .allRanks)
                }
            } else {
                consecutiveSkips = 0
                if c.optimizer.clipNorm > 0 && gradNorm > c.optimizer.clipNorm {
                    let f = Float(c.optimizer.clipNorm / gradNorm)
                    for i in 0 ..< net.grads.count { net.grads[i] *= f }
                }
                if let a = adam { a.step(params: net.params, grads: net.grads, lr: lr) } else { sgd.step(params: net.params, grads: net.grads, lr: lr) }
                step += 1
            }
            samplesSeen += G
            iteration += 1

            window.add(skipped: skip, loss: agreed.loss, gradNorm: gradNorm, lr: lr, samples: G, seconds: monotonicSeconds() - tStart,
                       forward: tForward, backward: tBackward, allReduce: timings.exposedSeconds + tDenominator,
                       hidden: timings.hiddenSeconds, dataWait: tData - tStart, slowest: agreed.stepSeconds)

            // Periodic work, decided identically on every rank.
            let finished = step >= c.train.steps
            var validation: [(key: String, value: Double)] = []
            if !skip {
                if c.train.checkParamsEvery > 0 && step % c.train.checkParamsEvery == 0 {
                    watchdog?.begin(step: step, operation: "parameter checksum")
                    try ParameterChecksum.verify(UnsafeBufferPointer(net.params), step: step, communicator: comm)
                    watchdog?.end()
                }
                if validSpace != nil && c.train.validateEvery > 0 && (step % c.train.validateEvery == 0 || finished) {
                    validation = try validate()
                }
            }
            if step % c.train.logEvery == 0 || finished || agreed.stop.isStop {
                try writeMetrics(&window, extra: validation, progress: progressDisplay)
            }
            if agreed.stop.isStop && !finished {
                try saveCheckpoint(reason: "stop requested (\(agreed.stop))")
                progressDisplay?.finish()
                logPeakMemory()
                throw RunError.stopped(agreed.stop, afterStep: step)
            }
            var due = false
            if !skip {
                let elapsed = c.checkpoint.everyMinutes > 0 ? comm.broadcast(monotonicSeconds() - lastSaveTime, root: 0) : 0
                due = c.checkpoint.saveDue(step: step, secondsSinceLastSave: elapsed) != nil
            }
            if due || finished { try saveCheckpoint(reason: finished ? "end of run" : "scheduled", final: finished) }
        }
        progressDisplay?.finish()
        logPeakMemory()
        log.info("finished: \(step) steps, \(samplesSeen) samples seen")
    }

    /// Collective: rank 0 logs every rank's peak resident memory so far
    /// (VmHWM), what `train --dry-run` estimates.
    func logPeakMemory() {
        let peaks = comm.allGather(Int64(ProcessMemory.current().peak))
        log.info("memory: peak resident (VmHWM) per rank: \(peaks.enumerated().map { "rank \($0.offset) \(mebibytes(Int($0.element)))" }.joined(separator: ", "))")
    }

    // MARK: validation

    /// Latitude-weighted RMSE per variable in physical units on the held-out
    /// range, with the persistence and climatology baselines; each rank a
    /// contiguous share of the validation samples, then one all-reduce.
    func validate() throws -> [(key: String, value: Double)] {
        guard let space = validSpace else { return [] }
        watchdog?.begin(step: step, operation: "validation")
        defer { watchdog?.end() }
        let n = space.count, r = comm.rank, size = comm.size
        let lo = r * n / size, hi = (r + 1) * n / size
        let reader = try BatchReader(dataset: data, normalization: normalization, space: space)
        let V = config.model.channels
        var totals = ErrorTotals(channels: V)
        var numerator = 0.0, denominator = 0.0, interrupted = 0.0
        var start = lo
        while start < hi {
            // A stop request ends validation early on this rank; the all-reduce below still happens on every rank.
            if StopSignal.requested { interrupted = 1; break }
            let ids = Array(start ..< min(hi, start + config.train.microBatch))
            let batch = try reader.read(ids)
            numerator += net.forward(batch)
            denominator += batch.lossDenominator(config.model.objective)
            totals.add(batch: batch, prediction: net.prediction, objective: config.model.objective,
                       normalization: normalization, climatology: climatology, space: space)
            start += ids.count
        }
        var sums = [numerator, denominator, interrupted] + totals.values
        comm.allReduce(&sums, op: .sum)
        if sums[2] > 0 { return [] }
        totals.values = Array(sums[3...])
        var out: [(key: String, value: Double)] = [("val_loss", sums[1] > 0 ? sums[0] / sums[1] : 0)]
        var line = "validation at step \(step): loss \(String(format: "%.5f", out[0].value))"
        for (v, name) in normalization.channels.enumerated() {
            let key = Trainer.metricName(name)
            out.append(("val_rmse_\(key)", totals.rmse(v)))
            out.append(("val_persistence_rmse_\(key)", totals.persistenceRMSE(v)))
            out.append(("val_climatology_rmse_\(key)", totals.climatologyRMSE(v)))
            line += String(format: "; %@ rmse %.4g (persistence %.4g, climatology %.4g)", name, totals.rmse(v),
                           totals.persistenceRMSE(v), totals.climatologyRMSE(v))
        }
        log.info("\(line)")
        return out
    }

    static func metricName(_ channel: String) -> String {
        String(channel.map { $0.isLetter || $0.isNumber ? $0 : "_" })
    }

    // MARK: metrics

    func writeMetrics(_ w: inout IntervalTimes, extra: [(key: String, value: Double)], progress: ProgressDisplay?) throws {
        defer { w = IntervalTimes() }
        guard comm.isRoot, w.steps > 0 else { return }
        let k = Double(w.steps), taken = Double(w.steps - w.skipped)
        let record = MetricsRecord(
            step: step, epoch: schedule.location(samplesSeen: samplesSeen).epoch, samplesSeen: samplesSeen,
            loss: taken > 0 ? w.loss / taken : .nan, lr: w.lr, gradNorm: taken > 0 ? w.gradNorm / taken : .nan,
            samplesPerSecond: w.seconds > 0 ? Double(w.samples) / w.seconds : 0, stepTime: w.seconds / k,
            timeForward: w.forward / k, timeBackward: w.backward / k, timeAllReduceExposed: w.allReduce / k,
            timeDataWait: w.dataWait / k, slowestRankStepTime: w.slowest / k,
            extra: [("time_allreduce_hidden_s", w.hidden / k)] + (w.skipped > 0 ? [("skipped_steps", Double(w.skipped))] : []) + extra)
        try metrics?.append(record)
        progress?.update(record)
    }

    // MARK: checkpoints

    /// Collective: rank 0 saves by the commit protocol, every rank learns the outcome.
    /// `final`: the end-of-run save, whose failure fails the run (exit 1), since
    /// nothing comes after it to save the trained model.
    func saveCheckpoint(reason: String, final: Bool = false) throws {
        guard lastSavedStep != step else { return }
        watchdog?.begin(step: step, operation: "checkpoint save")
        defer { watchdog?.end() }
        var message = ""
        var ok: Int32 = 1
        if comm.isRoot {
            let state = TrainingState(
                step: step, epoch: schedule.location(samplesSeen: samplesSeen).epoch, samplesSeen: samplesSeen,
                seed: config.seed, worldSize: comm.size, config: config.resolvedTOML, model: config.model,
                parameters: Array(net.params),
                moments: adam.map { AdamMoments(first: Array($0.m), second: Array($0.v)) },
                normalization: normalization)
            let outcome = store.save(state)
            message = outcome.message
            ok = outcome.succeeded ? 1 : 0
            if case .saved(let s) = outcome {
                log.info("checkpoint (\(reason)): \(outcome.message)")
                for w in s.warnings { log.warning("\(w)") }
            }
        }
        ok = comm.broadcast(ok, root: 0)
        lastSaveTime = monotonicSeconds()
        if ok == 1 {
            lastSavedStep = step
            return
        }
        message = comm.broadcast(string: message, root: 0)
        if config.checkpoint.stopOnFailure {
            throw RunError("\(message) (checkpoint.stop_on_failure = true)", exitCode: .failure, scope: .allRanks)
        }
        if final {
            throw RunError("\(message); this was the end-of-run checkpoint: fix the cause and run the same command again, it resumes from the newest saved checkpoint",
                           exitCode: .failure, scope: .allRanks)
        }
        if comm.isRoot { log.warning("\(message); training goes on, the next save is tried as scheduled") }
    }

    // MARK: setup helpers

    /// Rank 0 reads the config file and broadcasts its text; every rank parses
    /// the same text, so a bad config fails identically (and cleanly) everywhere.
    public static func loadConfig(path: String, overrides: [String], communicator comm: Communicator) throws -> RunConfig {
        let text: String = try agreed(comm, exitCode: .badInput) {
            guard comm.isRoot else { return "" }
            guard let d = FileManager.default.contents(atPath: path) else {
                throw ConfigFileError("config file \(path): cannot be read (missing or no permission)")
            }
            guard let t = String(data: d, encoding: .utf8) else { throw ConfigFileError("config file \(path): not UTF-8 text") }
            return t
        }
        let shared = comm.broadcast(string: text, root: 0)
        return try agreed(comm, exitCode: .badInput) { try RunConfig(text: shared, source: path, overrides: overrides) }
    }

    /// Runs `body` on every rank; if it fails anywhere, every rank throws the
    /// same error (exit code from the error, or `exitCode` for data/config errors).
    public static func agreed<T>(_ comm: Communicator, exitCode: RunExitCode, _ body: () throws -> T) throws -> T {
        try RunTermination.agreeing(comm) {
            do { return try body() } catch let e as RunError { throw e } catch let e as DataError {
                throw RunError(e.message, exitCode: e.atRunTime ? .failure : .badInput)
            } catch let e as ConfigFileError {
                throw RunError(e.message, exitCode: .badInput)
            } catch let e as ConfigError {
                throw RunError(e.message, exitCode: .badInput)
            } catch {
                throw RunError(String(describing: error), exitCode: exitCode)
            }
        }
    }

    static func copy(_ values: [Float], into buffer: UnsafeMutableBufferPointer<Float>) {
        precondition(values.count == buffer.count)
        _ = values.withUnsafeBufferPointer { buffer.baseAddress!.update(from: $0.baseAddress!, count: values.count) }
    }

    /// The resume state, decided by rank 0 and broadcast to all (nil: fresh start).
    static func findResumeState(config: RunConfig, comm: Communicator, options: TrainOptions,
                                store: CheckpointStore, log: Logger) throws -> TrainingState? {
        let found: TrainingState? = try agreed(comm, exitCode: .badInput) {
            guard comm.isRoot else { return nil }
            switch options.resume {
            case .never:
                return nil
            case .path(let p):
                let s = try CheckpointStore.load(p, expecting: config.model)
                log.info("resuming from \(p) (step \(s.step), \(s.samplesSeen) samples seen)")
                return s
            case .auto:
                let scan = store.resumeCandidate(expecting: config.model)
                for w in scan.warnings { log.warning("\(w)") }
                // Valid checkpoints of a different model are someone's work: never start
                // fresh over them (new files would replace theirs step by step).
                if scan.found == nil, let other = scan.skipped.first(where: { $0.kind == .incompatible }) {
                    throw RunError("run directory \(config.runDirectory) holds checkpoints of a different model (\(other)); use a new run_dir, or --resume never to start over beside them",
                                   exitCode: .badInput)
                }
                guard let f = scan.found else {
                    if !scan.skipped.isEmpty { log.warning("no valid checkpoint in \(store.directory); starting fresh") }
                    return nil
                }
                log.info("resuming from \(f.path) (step \(f.state.step), \(f.state.samplesSeen) samples seen)")
                return f.state
            }
        }
        return try broadcastState(found, comm: comm, config: config)
    }

    /// `--init-from`: the parameters of a checkpoint, for a new run (rank 0 reads, all receive).
    static func loadInitFrom(config: RunConfig, comm: Communicator, options: TrainOptions, resuming: Bool) throws -> [Float]? {
        guard let path = options.initFrom else { return nil }
        if resuming { return nil }  // a run that already has checkpoints continues from them
        let state: TrainingState? = try agreed(comm, exitCode: .badInput) {
            comm.isRoot ? try CheckpointStore.load(path, expecting: config.model) : nil
        }
        let count = ParameterLayout(config: config.model).totalCount
        var params = state?.parameters ?? [Float](repeating: 0, count: count)
        params.withUnsafeMutableBufferPointer { comm.broadcast($0, root: 0) }
        return params
    }

    /// Sends rank 0's checkpoint state (or its absence) to every rank.
    static func broadcastState(_ state: TrainingState?, comm: Communicator, config: RunConfig) throws -> TrainingState? {
        guard comm.size > 1 else { return state }
        let has: Int32 = comm.broadcast(state == nil ? 0 : 1, root: 0)
        guard has == 1 else { return nil }
        var header: [Int64] = state.map { [Int64($0.step), Int64($0.epoch), Int64($0.samplesSeen), Int64(bitPattern: $0.seed),
                                           $0.moments == nil ? 0 : 1] } ?? [Int64](repeating: 0, count: 5)
        header.withUnsafeMutableBufferPointer { comm.broadcast($0, root: 0) }
        let count = ParameterLayout(config: config.model).totalCount
        func bcast(_ v: [Float]?) -> [Float] {
            var a = v ?? [Float](repeating: 0, count: count)
            a.withUnsafeMutableBufferPointer { comm.broadcast($0, root: 0) }
            return a
        }
        let params = bcast(state?.parameters)
        let moments = header[4] == 1 ? AdamMoments(first: bcast(state?.moments?.first), second: bcast(state?.moments?.second)) : nil
        let names = comm.broadcast(string: state?.normalization.channels.joined(separator: ",") ?? "", root: 0)
        let mean = comm.broadcast(array: state?.normalization.mean ?? [], root: 0)
        let std = comm.broadcast(array: state?.normalization.std ?? [], root: 0)
        let configText = comm.broadcast(string: state?.config ?? "", root: 0)
        return TrainingState(step: Int(header[0]), epoch: Int(header[1]), samplesSeen: Int(header[2]),
                             seed: UInt64(bitPattern: header[3]), worldSize: comm.size, config: configText,
                             model: config.model, parameters: params, moments: moments,
                             normalization: Normalization(channels: names.split(separator: ",").map(String.init), mean: mean, std: std))
    }
}

/// Sums over the steps of one logging interval.
struct IntervalTimes {
    var steps = 0, samples = 0, skipped = 0
    var loss = 0.0, gradNorm = 0.0, lr = 0.0, seconds = 0.0
    var forward = 0.0, backward = 0.0, allReduce = 0.0, hidden = 0.0, dataWait = 0.0, slowest = 0.0

    /// A skipped step counts for time and samples, not for the mean loss and
    /// gradient norm (its NaN would hide the interval's real loss).
    mutating func add(skipped isSkipped: Bool, loss l: Double, gradNorm g: Double, lr r: Double, samples n: Int, seconds s: Double,
                      forward f: Double, backward b: Double, allReduce a: Double, hidden h: Double,
                      dataWait d: Double, slowest w: Double) {
        steps += 1
        samples += n
        if isSkipped {
            skipped += 1
        } else {
            loss += l
            gradNorm += g
        }
        lr = r
        seconds += s
        forward += f
        backward += b
        allReduce += a
        hidden += h
        dataWait += d
        slowest += w
    }
}

/// `<run>/samples.log`: one line per iteration with the global sample ids it
/// consumed (`train.sample_log`), to audit that resumes neither skip nor repeat.
/// On resume, lines at or after the checkpoint's position are dropped first.
final class SampleLog {
    let handle: FileHandle

    init(path: String, resumingAtSamplesSeen: Int) throws {
        var kept = ""
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                // "samples_seen=<n> iteration=<i> ids=..."
                guard let field = line.split(separator: " ").first, field.hasPrefix("samples_seen="),
                      let n = Int(field.dropFirst("samples_seen=".count)), n < resumingAtSamplesSeen else { continue }
                kept += line + "\n"
            }
        }
        guard FileManager.default.createFile(atPath: path, contents: Data(kept.utf8)),
              let h = FileHandle(forWritingAtPath: path) else {
            throw RunError("sample log \(path): cannot be written")
        }
        h.seekToEndOfFile()
        handle = h
    }

    func record(iteration: Int, samplesSeen: Int, samples: [Int]) {
        let line = "samples_seen=\(samplesSeen) iteration=\(iteration) ids=\(samples.map(String.init).joined(separator: ","))\n"
        handle.write(Data(line.utf8))
    }
}
