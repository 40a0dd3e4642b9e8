#!/usr/bin/env bash
# Regenerates the README's pictures from the demo: docs/report-demo.jpg (the
# top of P002's patient report, headless Chromium at 1100 px wide, JPEG q85)
# and docs/relief-demo.png (the S001 capture set's height map as
# `--overlays` writes it). Needs Debian's chromium and python3 with Pillow.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
./target/release/dermascore analyze datasets/demo --out "$out" --plan --report --overlays -q
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
  --user-data-dir="$out/profile" --window-size=1100,1500 \
  --screenshot="$out/report.png" "file://$out/report/P002.html" 2>/dev/null
python3 - "$out/report.png" docs/report-demo.jpg <<'PY'
import sys
from PIL import Image
img = Image.open(sys.argv[1]).convert("RGB")
img.resize((img.width * 3 // 4, img.height * 3 // 4), Image.LANCZOS).save(sys.argv[2], quality=85)
PY
cp "$out"/overlays/*S001*_relief.png docs/relief-demo.png 2>/dev/null \
  || cp "$out"/overlays/*cheek_L0_relief.png docs/relief-demo.png
echo "wrote docs/report-demo.jpg and docs/relief-demo.png"
