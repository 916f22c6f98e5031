import Foundation

/// Writes `text` to file descriptor 2 with write(2): unbuffered (nothing is
/// lost when the process is aborted next) and usable from any thread.
public func writeToStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { buf in
        var offset = 0
        while offset < buf.count {
            let n = write(STDERR_FILENO, buf.baseAddress! + offset, buf.count - offset)
            if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { return }
        }
    }
}

/// True when stderr is a terminal (progress bar) rather than a file or pipe.
public var standardErrorIsTerminal: Bool { isatty(STDERR_FILENO) != 0 }
