import ArgumentParser
import Foundation
import Model

struct Describe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the model's parameters, their count and the FLOPs of a training step.",
        discussion: """
            Lists every parameter by its checkpoint name and shape (MODEL.md), the total
            count, and the forward + backward FLOPs per sample of one window, for the
            chosen cell, then the same totals for the other cell.

            FLOPs count 2 per multiply-add of every matrix product and convolution
            (1x1 and k x k convs, depthwise mixing, attention products, head products)
            from the spec's shapes; elementwise work (gate math, activations, softmax,
            means, loss) is not counted. Backward is counted as 2 x forward (input and
            weight gradients), so a training step is 3 x forward.

            Examples:
              faconvlstm describe
              faconvlstm describe --cell convlstm --height 64 --width 64
              faconvlstm describe --config run.toml --set model.hidden=64
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var window: WindowOptions

    func run() throws {
        let c = try model.resolve()
        let layout = ParameterLayout(config: c)
        let h = window.height, w = window.width, t = window.steps
        print("model: cell \(c.cell.rawValue), objective \(c.objective.rawValue), V \(c.channels), layers \(c.layers), Ch \(c.hidden), k \(c.kernel)"
              + (c.cell == .faconvlstm ? ", r \(c.resolvedBottleneck), q \(c.squeezeChannels), dilations \(c.dilations), s \(c.attnStride), dk \(c.attnDk)" : "")
              + ", de \(c.embedDim)")
        let nameWidth = layout.entries.map(\.name.count).max() ?? 10
        for e in layout.entries {
            let shape = "[" + e.shape.map(String.init).joined(separator: ", ") + "]"
            print(e.name.padding(toLength: nameWidth + 2, withPad: " ", startingAt: 0)
                  + shape.padding(toLength: 18, withPad: " ", startingAt: 0) + String(e.count))
        }
        let flops = FLOPCount(config: c, steps: t, height: h, width: w)
        print("total parameters: \(grouped(layout.totalCount))")
        print("FLOPs per sample (T \(t), \(h)x\(w)): forward \(formatFLOPs(flops.forward)), backward \(formatFLOPs(flops.backward)), training step \(formatFLOPs(flops.training))")
        let mem = MemoryEstimate(config: c, samples: 1, steps: t, height: h, width: w)
        print(String(format: "activation memory per sample (Float32): %.2f MiB", Double(mem.activations) / 1048576))

        var other = c
        other.cell = c.cell == .faconvlstm ? .convlstm : .faconvlstm
        let otherCount = ParameterLayout(config: other).totalCount
        let otherFlops = FLOPCount(config: other, steps: t, height: h, width: w)
        let pr = String(format: "%.2f", Double(otherCount) / Double(layout.totalCount))
        let fr = String(format: "%.2f", otherFlops.training / flops.training)
        print("compared with \(other.cell.rawValue): \(grouped(otherCount)) parameters (\(pr)x of this), "
              + "training step \(formatFLOPs(otherFlops.training)) (\(fr)x of this)")
    }
}
