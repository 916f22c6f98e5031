#!/usr/bin/env bash
# PNG figures of a run and its analysis outputs (see scripts/plots.py --help),
# with matplotlib from PyPI in .venv-analysis/ (made on first use).
#   bash scripts/plots.sh --out plots --metrics runs/storm/metrics.jsonl \
#       --embeddings emb.nc --labels labels.nc --maps maps.nc --attention att.nc
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PY=$(bash "$here/analysis_venv.sh")
exec "$PY" "$here/plots.py" "$@"
