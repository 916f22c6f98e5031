// Stop-signal flag for faconvlstm. A signal handler may only touch
// async-signal-safe state, so the handler and its flag live in C: Swift code
// in a handler could allocate or take a lock (both undefined in a handler).
#ifndef FACONVLSTM_CSIGNALS_H
#define FACONVLSTM_CSIGNALS_H

/// Installs (sigaction, SA_RESTART) a handler for SIGTERM, SIGUSR1 and SIGUSR2
/// that records the signal number and does nothing else. Returns 0, or -1 if
/// a sigaction call failed.
int csignals_install(void);

/// The number of the last stop signal received since install/reset, or 0.
int csignals_received(void);

/// Clears the flag (tests; a new run in the same process).
void csignals_reset(void);

#endif
