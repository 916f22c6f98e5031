/// The small, fast run on Debian's storm set that the CLI and analysis tests
/// train (hidden 8, 12 x 12 tiles, halo 1, window 4, global batch 12 in
/// micro-batches of 2). scripts/lib/storm_test_config.sh writes the same run for
/// the script tests.
public enum StormTestRun {
    public static let files = ["U", "V", "T", "P"].map { "/usr/share/ncarg/data/cdf/\($0)storm.cdf" }

    /// The config text. `train`: lines added to the [train] table after
    /// steps, global_batch and micro_batch; `extra`: text after the
    /// [checkpoint] table (checkpoints off).
    public static func config(runDir: String, objective: String = "forecast", variables: [String] = ["u", "v", "t", "p"],
                              steps: Int, train: String, extra: String = "") -> String {
        """
        seed = 5
        run_dir = "\(runDir)"
        [model]
        hidden = 8
        layers = 2
        embed_dim = 4
        attn_stride = 2
        objective = "\(objective)"
        [data]
        files = [\(files.map { "\"\($0)\"" }.joined(separator: ", "))]
        variables = [\(variables.map { "\"\($0)\"" }.joined(separator: ", "))]
        time_units = "hours since 1996-01-05 00:00"
        validation_range = [56, 63]
        tile_height = 12
        tile_width = 12
        halo = 1
        window = 4
        [optimizer]
        lr = 0.003
        [train]
        steps = \(steps)
        global_batch = 12
        micro_batch = 2
        \(train)
        [checkpoint]
        every_steps = 0
        every_minutes = 0
        \(extra)
        """
    }
}

/// A test precondition that did not hold (training failed, no checkpoint):
/// thrown so that the test fails with the message, never skips.
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
