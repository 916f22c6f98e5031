#!/usr/bin/env bash
# The README's smoke test, as part of the suite: real data, 2 ranks,
# SIGTERM mid-run, resume, evaluate against the baselines (exit non-zero on
# any failure, including not beating the baselines).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/smoke.sh --ranks 2
