#!/usr/bin/env bash
# Issue #24: is libjpeg-turbo >= 1.3x faster than the image crate's decoder
# on a 12 MP 4:2:0 camera JPEG? Times both on the analyze bench's photo
# (target/face_12mp_420.jpg: run `cargo bench --bench analyze` first),
# alternating three rounds so that machine load moves both alike.
# libjpeg-turbo is the one bundled in the `simplejpeg` wheel (PyPI), in a
# venv under target/; dermascore itself does not use it (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
photo=target/face_12mp_420.jpg
[ -f "$photo" ] || { echo "no $photo: run cargo bench --bench analyze first" >&2; exit 1; }
venv=target/venv-jpeg
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'simplejpeg==1.9.0'
fi
cargo build --release --quiet --example jpeg_decode_time
for round in 1 2 3; do
  echo "round $round:"
  target/release/examples/jpeg_decode_time "$photo"
  "$venv/bin/python" - "$photo" <<'PY'
import statistics, sys, time
import simplejpeg
data = open(sys.argv[1], "rb").read()
ms = []
for _ in range(15):
    t = time.perf_counter()
    simplejpeg.decode_jpeg(data, colorspace="RGB")
    ms.append((time.perf_counter() - t) * 1000)
print("libjpeg-turbo (simplejpeg %s): median %.1f ms, min %.1f ms"
      % (simplejpeg.__version__, statistics.median(ms), min(ms)))
PY
done
