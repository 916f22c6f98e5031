#include "csignals.h"
#include <signal.h>
#include <string.h>

static volatile sig_atomic_t received = 0;

static void on_stop_signal(int signo) { received = signo; }

int csignals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    // Restart interrupted system calls: a read of a NetCDF file must not fail
    // with EINTR because a stop signal arrived; the trainer polls the flag.
    sa.sa_flags = SA_RESTART;
    const int signals[] = {SIGTERM, SIGUSR1, SIGUSR2};
    for (unsigned i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        if (sigaction(signals[i], &sa, NULL) != 0) return -1;
    }
    return 0;
}

int csignals_received(void) { return received; }

void csignals_reset(void) { received = 0; }
