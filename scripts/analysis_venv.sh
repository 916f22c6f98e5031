#!/usr/bin/env bash
# Creates (once) .venv-analysis/ with the packages of scripts/analysis-requirements.txt
# from PyPI, for scripts/plots.py and scripts/analysis_check.py. Prints the python path.
# Reinstalls when the requirements file changes.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-analysis
stamp="$venv/requirements.sha"
want=$(sha256sum scripts/analysis-requirements.txt | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "analysis venv: installing scripts/analysis-requirements.txt into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/analysis-requirements.txt >&2
    echo "$want" > "$stamp"
fi
echo "$(pwd)/$venv/bin/python"
