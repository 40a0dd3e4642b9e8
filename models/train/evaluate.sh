#!/usr/bin/env bash
# Reproduces every accuracy figure in the README and models/manifest.json:
# generates the held-out synthetic evaluation sets (pores and pigment: seed
# 12345; acne scars: seed 424242; neither used in training), then runs
# `dermascore evaluate` on them and on the real labelled close-up in
# ../shared/photos/pores. Its scale, 12.6 px/mm, is dermascore's own
# interpupillary estimate for that photo (its eyes are closed). The same
# pore and pigment scenes are also written at 16 bits per channel without
# JPEG (--bits 16) and evaluated into models/evaluation_16bit.json. The
# pigment model is also scored against hand outlines of real macules
# (datasets/real_pigment: crops of ../shared/photos/closeups/bioskin/2.jpg and 1.jpg).
# Measured relief is also checked on near-field rig sets per skin tone
# (synth_scars.py near, seed 515151) and on sets from an independent
# generator (synth_relief_independent.py, seed 777), into
# models/evaluation_relief_near.json and models/evaluation_relief_independent.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/venv-train
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r models/train/requirements.txt
fi
rm -rf target/synth-eval target/synth-eval-16bit target/scar-eval target/scar-near target/scar-independent
"$venv/bin/python" datasets/synth_skin.py eval --out target/synth-eval --per-cell 8 --seed 12345
"$venv/bin/python" datasets/synth_skin.py eval --out target/synth-eval-16bit --per-cell 8 --seed 12345 --bits 16
"$venv/bin/python" datasets/synth_scars.py eval --out target/scar-eval --per-px 10 --seed 424242
"$venv/bin/python" datasets/synth_scars.py near --out target/scar-near --per-tone 6 --seed 515151
"$venv/bin/python" datasets/synth_relief_independent.py --out target/scar-independent --per-tone 4 --seed 777
cargo build --release --quiet
target/release/dermascore evaluate --synthetic target/synth-eval --scars target/scar-eval \
  --real-pores ../shared/photos/pores --real-px-per-mm 12.6 --real-faces ../shared/photos/faces \
  --real-pigment datasets/real_pigment --json models/evaluation.json
target/release/dermascore evaluate --synthetic target/synth-eval-16bit --json models/evaluation_16bit.json
target/release/dermascore evaluate --scars target/scar-near --json models/evaluation_relief_near.json
target/release/dermascore evaluate --scars target/scar-independent --json models/evaluation_relief_independent.json
"$venv/bin/python" models/train/record_measured.py
