import Dispatch
import Kernels

/// Threads inside one rank: the micro-batch's samples are split across K
/// replicas of the network, one per thread, each with BLAS on one thread.
///
/// Why not more BLAS threads: the FAConvLSTM's GEMMs are small (K = r = 16,
/// N = B*H*W) and half of its step is elementwise, attention and depthwise
/// code, so a second BLAS thread speeds a step up by ~1% (docs/performance.md);
/// samples are independent until the gradient sum, so K replicas scale with K.
///
/// Replica 0 owns the parameters and the gradients the optimizer reads; the
/// others read replica 0's parameters and keep their own gradients, which are
/// added into replica 0's block by block (in replica order, so a run is
/// deterministic for a given K) as soon as every replica has finished that
/// block, and only then is the caller's `ready` called: the gradient
/// all-reduce still overlaps backward. Replica 0 runs on the calling thread, so
/// `ready` and `progress` (MPI, the watchdog) are only ever called from it.
///
/// With K = 1 this is a plain `Network` with `blasThreads` BLAS threads.
public final class ThreadedNetwork<T: KernelScalar>: @unchecked Sendable {
    /// The replicas; `replicas[0]` owns `params` and `grads`.
    public let replicas: [Network<T>]
    /// OpenBLAS threads each replica should run with (the caller sets them).
    public let blasThreads: Int
    public var params: UnsafeMutableBufferPointer<T> { replicas[0].params }
    public var grads: UnsafeMutableBufferPointer<T> { replicas[0].grads }
    public var layout: ParameterLayout { replicas[0].layout }
    public var config: ModelConfig { replicas[0].config }
    public let maxSamples: Int

    private var parts: [Batch<T>] = []
    private var shares: [Range<Int>] = []
    private let blockDone: [DispatchSemaphore]
    private let predictionBuffer: UnsafeMutableBufferPointer<T>
    private let numerators: UnsafeMutableBufferPointer<Double>   // [K] loss numerator of each replica's share

    /// How `threads` per rank are used for micro-batches of `maxSamples`:
    /// K = min(threads, maxSamples) replicas, each with threads / K BLAS threads.
    public static func split(threads: Int, maxSamples: Int) -> (replicas: Int, blasThreads: Int) {
        let k = max(1, min(threads, maxSamples))
        return (k, max(1, threads / k))
    }

    public init(config: ModelConfig, maxSamples: Int, steps: Int, height: Int, width: Int, threads: Int) {
        let (k, blas) = ThreadedNetwork.split(threads: threads, maxSamples: maxSamples)
        let perReplica = (maxSamples + k - 1) / k
        let first = Network<T>(config: config, maxSamples: perReplica, steps: steps, height: height, width: width)
        var all = [first]
        for _ in 1 ..< k {
            all.append(Network<T>(config: config, maxSamples: perReplica, steps: steps, height: height, width: width,
                                  sharedParameters: first.params))
        }
        replicas = all
        blasThreads = blas
        self.maxSamples = maxSamples
        blockDone = (0 ..< k).map { _ in DispatchSemaphore(value: 0) }
        numerators = .allocate(capacity: k)
        let targetFrames = config.objective.targetSteps(steps)
        predictionBuffer = .allocate(capacity: k > 1 ? targetFrames * config.channels * maxSamples * height * width : 0)
    }

    deinit {
        predictionBuffer.deallocate()
        numerators.deallocate()
    }

    public func initialize(seed: UInt64) { replicas[0].initialize(seed: seed) }

    /// `Network.inputGradientsWanted` of every replica.
    public var inputGradientsWanted: Bool {
        get { replicas[0].inputGradientsWanted }
        set { for r in replicas { r.inputGradientsWanted = newValue } }
    }
    public func zeroGradients() { replicas[0].zeroGradients() }

    /// Elements the replicas hold (what `MemoryEstimate(threads:)` predicts).
    public var cacheElements: Int { replicas.reduce(0) { $0 + $1.cacheElements } }
    public var scratchElements: Int { replicas.reduce(0) { $0 + $1.scratchElements } }

    /// Runs `others(k)` for active replicas 1 ..< K on Dispatch threads and
    /// `first` (replica 0's work) on this thread, and waits for all of them.
    private func onReplicas(others: @escaping @Sendable (Int) -> Void, first: () -> Void) {
        let group = DispatchGroup()
        for k in 1 ..< shares.count {
            DispatchQueue.global().async(group: group) { others(k) }
        }
        first()
        group.wait()
    }

    /// `Network.forward` over the whole batch: each replica runs its share of
    /// the samples. Returns the summed loss numerator.
    @discardableResult
    public func forward(_ batch: Batch<T>) -> Double {
        let k = replicas.count
        guard k > 1 else { return replicas[0].forward(batch) }
        precondition(batch.samples >= 1 && batch.samples <= maxSamples, "batch of \(batch.samples) samples, network built for at most \(maxSamples)")
        let active = min(k, batch.samples)
        shares = (0 ..< active).map { i in (i * batch.samples / active) ..< ((i + 1) * batch.samples / active) }
        if parts.count != active || zip(parts, shares).contains(where: { $0.samples != $1.count || $0.steps != batch.steps }) {
            parts = shares.map { Batch<T>(samples: $0.count, steps: batch.steps, channels: batch.channels, height: batch.height, width: batch.width) }
        }
        for i in 0 ..< active { parts[i].copySamples(shares[i], of: batch) }
        let run: @Sendable (Int) -> Void = { [self] i in numerators[i] = replicas[i].forward(parts[i]) }
        onReplicas(others: run, first: { run(0) })
        return numerators[0 ..< active].reduce(0, +)   // replica order: deterministic
    }

    /// `Network.backward`: grads += scale * d numerator / d param over the
    /// whole batch; `ready` per block once all replicas' shares are summed in.
    public func backward(scale: T, ready: (Range<Int>) -> Void = { _ in }, progress: () -> Void = {}) {
        guard replicas.count > 1 else { return replicas[0].backward(scale: scale, ready: ready, progress: progress) }
        let active = shares.count
        precondition(active > 0, "backward before forward")
        for i in 1 ..< active { replicas[i].zeroGradients() }
        let mine = replicas[0].grads.baseAddress!
        onReplicas(others: { [self] i in
            replicas[i].backward(scale: scale, ready: { _ in self.blockDone[i].signal() })
        }, first: {
            replicas[0].backward(scale: scale, ready: { range in
                for i in 1 ..< active {
                    blockDone[i].wait()   // replica i has finished this block (blocks come in the same order)
                    let theirs = replicas[i].grads.baseAddress!
                    for j in range { mine[j] += theirs[j] }
                }
                ready(range)
            }, progress: progress)
        })
    }

    /// `Network.prediction` of the whole batch [Ttarget, V, B, H, W].
    public var prediction: UnsafeBufferPointer<T> {
        guard replicas.count > 1 else { return replicas[0].prediction }
        let b = shares.last!.upperBound, plane = replicas[0].height * replicas[0].width
        let frames = replicas[0].prediction.count / (shares[0].count * plane)   // Ttarget * V
        for (i, share) in shares.enumerated() {
            let part = replicas[i].prediction.baseAddress!
            for f in 0 ..< frames {
                (predictionBuffer.baseAddress! + (f * b + share.lowerBound) * plane)
                    .update(from: part + f * share.count * plane, count: share.count * plane)
            }
        }
        return UnsafeBufferPointer(start: predictionBuffer.baseAddress!, count: frames * b * plane)
    }
}
