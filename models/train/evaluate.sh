#!/usr/bin/env bash
# Reproduces every accuracy figure in the README and models/manifest.json:
# generates the held-out synthetic evaluation set (seed 12345, not used in
# training), then runs `dermascore evaluate` on it and on the real labelled
# close-up in ../shared/photos/pores. Its scale, 12.6 px/mm, is dermascore's
# own interpupillary estimate for that photo (its eyes are closed).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/venv-train
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r models/train/requirements.txt
fi
rm -rf target/synth-eval
"$venv/bin/python" datasets/synth_skin.py eval --out target/synth-eval --per-cell 8 --seed 12345
cargo build --release --quiet
target/release/dermascore evaluate --synthetic target/synth-eval \
  --real-pores ../shared/photos/pores --real-px-per-mm 12.6 --json models/evaluation.json
