#!/usr/bin/env bash
# Runs every check of the PyTorch peer: its own tests (gradients against finite
# differences, spec conventions, checkpoint format, crosscheck verdicts), then
# the cross-check against the Swift binary. Exits non-zero if anything fails.
# Not called by scripts/test.sh: it installs torch (several GB from PyPI) first.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/peers/setup.sh
.venv-peer/bin/python -m pytest -q scripts/peers
bash scripts/peers/crosscheck.sh
