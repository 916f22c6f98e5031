import CMPI

/// How one flat gradient buffer is cut into all-reduce buckets.
///
/// `blocks` are the flat ranges whose gradients become final together, in the
/// order they do (`readyOrder`: head, then layer L-1, ..., layer 0). Each block
/// is cut into near-equal buckets of at most `maxBucketElements`, from its end
/// toward its start (reverse layout order). A bucket never spans two blocks, so
/// it can start the moment its block is final.
public struct BucketPlan: Equatable, Sendable {
    public let blocks: [Range<Int>]
    /// In start order: the buckets of blocks[0], then of blocks[1], ...
    public let buckets: [Range<Int>]
    /// Indices into `buckets` of each block's buckets (parallel to `blocks`).
    public let bucketsOfBlock: [Range<Int>]
    public let maxBucketElements: Int

    /// `maxBucketBytes` is rounded down to whole elements (at least one).
    public init(blocks: [Range<Int>], maxBucketBytes: Int, elementBytes: Int = MemoryLayout<Float>.stride) {
        precondition(maxBucketBytes > 0 && elementBytes > 0)
        let sorted = blocks.filter { !$0.isEmpty }.sorted { $0.lowerBound < $1.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) {
            precondition(a.upperBound <= b.lowerBound, "gradient blocks \(a) and \(b) overlap")
        }
        // MPI counts are Int32.
        let maxElements = min(max(1, maxBucketBytes / elementBytes), Int(Int32.max))
        var buckets: [Range<Int>] = []
        var ofBlock: [Range<Int>] = []
        for block in blocks {
            let first = buckets.count
            let n = block.count
            if n > 0 {
                let k = (n + maxElements - 1) / maxElements
                // Bucket j (from the block's end) gets n/k elements, the first n%k one more.
                var upper = block.upperBound
                for j in 0 ..< k {
                    let size = n / k + (j < n % k ? 1 : 0)
                    buckets.append(upper - size ..< upper)
                    upper -= size
                }
            }
            ofBlock.append(first ..< buckets.count)
        }
        self.blocks = blocks
        self.buckets = buckets
        self.bucketsOfBlock = ofBlock
        self.maxBucketElements = maxElements
    }

    /// The order in which the model's backward finishes blocks (docs/design.md):
    /// head (+ decoder), then layers from last to first.
    public static func readyOrder(layerRanges: [Range<Int>], headRange: Range<Int>) -> [Range<Int>] {
        [headRange] + layerRanges.reversed()
    }

    /// True when the blocks tile `0 ..< count` exactly (every element is reduced once).
    public func covers(count: Int) -> Bool {
        let sorted = blocks.filter { !$0.isEmpty }.sorted { $0.lowerBound < $1.lowerBound }
        var next = 0
        for b in sorted {
            if b.lowerBound != next { return false }
            next = b.upperBound
        }
        return next == count
    }
}

/// Where the all-reduce time of one step went.
public struct AllReduceTimings: Sendable, Equatable {
    /// Time `finish()` waited: the all-reduce time backward did not hide,
    /// including any wait for a rank whose backward ended later.
    public var exposedSeconds: Double = 0
    /// From the first bucket's start to the moment all were seen complete.
    /// Completion is only observed in `progress()`/`finish()`, so this is an
    /// upper bound when the last bucket finished between two `progress()` calls.
    public var inFlightSeconds: Double = 0
    /// Time spent inside `progress()` (MPI_Testall), paid during backward.
    public var progressSeconds: Double = 0
    public var buckets: Int = 0

    public init() {}

    public var hiddenSeconds: Double { max(0, inFlightSeconds - exposedSeconds) }
    /// Share of the in-flight time that overlapped backward (0 when nothing ran).
    public var hiddenFraction: Double { inFlightSeconds > 0 ? hiddenSeconds / inFlightSeconds : 0 }
}

/// Sums one flat `Float` gradient buffer over all ranks, in buckets that start
/// while backward is still running.
///
/// Per step: `beginStep()`; backward calls `blockReady(range)` as each block's
/// gradients become final (this starts `MPI_Iallreduce` (SUM, in place) on
/// that block's buckets) and `progress()` between time steps (MPI_Testall:
/// Open MPI moves non-blocking collectives only inside MPI calls); then
/// `finish()` waits for the rest. Afterwards the buffer holds the sum over ranks.
///
/// `.synchronous` (`--sync-allreduce`) makes the very same MPI calls, all at
/// `finish()`: nothing overlaps, and the result is bitwise identical to
/// `.bucketed`. (One blocking `MPI_Allreduce` of the whole buffer would not be:
/// with 3 ranks Open MPI 4.1's blocking and non-blocking all-reduce sum in
/// different orders, measured 10% of elements differing in the last bit.)
///
/// Every rank must make the same calls in the same order (the model's backward
/// does). With one rank, or the `.serial` communicator, every call returns at once.
/// Not thread-safe: the training thread alone drives it.
public final class GradientAllReducer {
    public enum Mode: String, Sendable, CaseIterable {
        case bucketed
        case synchronous
    }

    public let plan: BucketPlan
    public let mode: Mode
    public let communicator: Communicator
    /// False with one rank: all calls are no-ops.
    public let isActive: Bool

    private let buffer: UnsafeMutablePointer<Float>?  // nil only for an empty buffer (never active)
    private let count: Int
    /// Requests in start order; `[completed, started)` are pending.
    private let requests: UnsafeMutablePointer<MPI_Request?>
    private var blockIsReady: [Bool]
    private let blockIndex: [Int: Int]  // block lowerBound -> index in plan.blocks
    private var started = 0
    private var completed = 0
    private var inStep = false
    private var firstStart = 0.0
    private var lastCompletion = 0.0
    private var timings = AllReduceTimings()

    public static let defaultBucketBytes = 4 << 20

    /// `blocks` in ready order must tile `0 ..< buffer.count`. The buffer must
    /// outlive the reducer and not be touched between a bucket's start and `finish()`.
    public init(communicator: Communicator, buffer: UnsafeMutableBufferPointer<Float>, blocks: [Range<Int>],
                bucketBytes: Int = GradientAllReducer.defaultBucketBytes, mode: Mode = .bucketed) {
        let plan = BucketPlan(blocks: blocks, maxBucketBytes: bucketBytes)
        precondition(plan.covers(count: buffer.count), "gradient blocks must tile the buffer of \(buffer.count) elements")
        self.plan = plan
        self.mode = mode
        self.communicator = communicator
        self.isActive = communicator.usesMPI && communicator.size > 1 && buffer.count > 0
        self.buffer = buffer.baseAddress
        self.count = buffer.count
        requests = .allocate(capacity: max(1, plan.buckets.count))
        requests.initialize(repeating: Optional(cmpi_request_null()), count: max(1, plan.buckets.count))
        blockIsReady = Array(repeating: false, count: blocks.count)
        var index: [Int: Int] = [:]
        for (i, b) in blocks.enumerated() where !b.isEmpty { index[b.lowerBound] = i }
        blockIndex = index
    }

    /// For a model's flat gradient buffer: blocks in the order backward finishes them.
    public convenience init(communicator: Communicator, buffer: UnsafeMutableBufferPointer<Float>,
                            layerRanges: [Range<Int>], headRange: Range<Int>,
                            bucketBytes: Int = GradientAllReducer.defaultBucketBytes, mode: Mode = .bucketed) {
        self.init(communicator: communicator, buffer: buffer,
                  blocks: BucketPlan.readyOrder(layerRanges: layerRanges, headRange: headRange),
                  bucketBytes: bucketBytes, mode: mode)
    }

    deinit {
        // Pending requests would write into freed memory: finish() first.
        precondition(started == completed, "GradientAllReducer released with all-reduces in flight")
        requests.deallocate()
    }

    public func beginStep() {
        precondition(!inStep, "beginStep() twice without finish()")
        inStep = true
        for i in blockIsReady.indices { blockIsReady[i] = false }
        started = 0
        completed = 0
        timings = AllReduceTimings()
    }

    /// Backward's `ready` callback: `range` (exactly one block) holds final gradients.
    public func blockReady(_ range: Range<Int>) {
        precondition(inStep, "blockReady() outside beginStep()/finish()")
        guard !range.isEmpty else { return }
        guard let b = blockIndex[range.lowerBound], plan.blocks[b] == range else {
            preconditionFailure("blockReady(\(range)): not a block of the plan \(plan.blocks)")
        }
        precondition(!blockIsReady[b], "blockReady(\(range)) twice in one step")
        blockIsReady[b] = true
        guard isActive, mode == .bucketed else { return }
        for k in plan.bucketsOfBlock[b] { start(bucket: k) }
    }

    /// Backward's `progress` callback: lets MPI move the buckets in flight.
    public func progress() {
        guard isActive, completed < started else { return }
        let t0 = monotonicSeconds()
        var flag: Int32 = 0
        MPI_Testall(Int32(started - completed), requests + completed, &flag, cmpi_statuses_ignore())
        let t1 = monotonicSeconds()
        timings.progressSeconds += t1 - t0
        if flag != 0 {
            completed = started
            lastCompletion = t1
        }
    }

    /// Waits until every bucket is summed over all ranks; ends the step.
    @discardableResult
    public func finish() -> AllReduceTimings {
        precondition(inStep, "finish() without beginStep()")
        inStep = false
        guard isActive else { return AllReduceTimings() }
        let t0 = monotonicSeconds()
        switch mode {
        case .bucketed:
            precondition(blockIsReady.indices.allSatisfy { blockIsReady[$0] || plan.blocks[$0].isEmpty },
                         "finish(): a gradient block was never reported ready")
        case .synchronous:
            for k in plan.buckets.indices { start(bucket: k) }
        }
        if completed < started {
            MPI_Waitall(Int32(started - completed), requests + completed, cmpi_statuses_ignore())
            completed = started
            lastCompletion = monotonicSeconds()
        }
        timings.exposedSeconds = monotonicSeconds() - t0
        timings.inFlightSeconds = started > 0 ? lastCompletion - firstStart : 0
        timings.buckets = started
        return timings
    }

    private func start(bucket k: Int) {
        let r = plan.buckets[k]
        if started == 0 { firstStart = monotonicSeconds() }
        MPI_Iallreduce(cmpi_in_place(), buffer! + r.lowerBound, Int32(r.count), cmpi_float(), cmpi_sum(),
                       cmpi_comm_world(), requests + started)
        started += 1
    }
}
