import Model

/// `[checkpoint]` of the run config: every field of `CheckpointPolicy`, snake_case.
extension CheckpointPolicy {
    public init(section s: ConfigSection) throws {
        self.init()
        if let v = try s.int("every_steps") { everySteps = v }
        if let v = try s.double("every_minutes") { everyMinutes = v }
        if let v = try s.int("keep_last") { keepLast = v }
        if let v = try s.int("keep_every") { keepEvery = v }
        if let v = try s.bool("stop_on_failure") { stopOnFailure = v }
        if let v = try s.int("min_free_mb") { minFreeMB = v }
        try s.finish()
        do { try validate() } catch let e as ConfigError {
            throw ConfigFileError("\(s.source): \(e.message)")
        }
    }

    /// Writes every field, defaults resolved.
    public func write(to w: inout TOMLWriter) {
        w.section("checkpoint")
        w.set("every_steps", everySteps)
        w.set("every_minutes", everyMinutes)
        w.set("keep_last", keepLast)
        w.set("keep_every", keepEvery)
        w.set("stop_on_failure", stopOnFailure)
        w.set("min_free_mb", minFreeMB)
    }
}
