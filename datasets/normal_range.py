#!/usr/bin/env python3
"""Upper limits of normal for dermascore's zone severities, from its own
readings of real normal skin (the negative controls in ../shared/photos:
no acne, no scars, no melasma).

No published normal range exists for these readings (Flament 2015 gives
pore density and size on cheeks under its own dermatoscope and threshold,
not ours), so the protocol's `[normal_limit]` is this measurement's
reference limit: the highest zone severity seen on normal skin, rounded up
to the next multiple of 5. As a check that the limits are not just the
photos they came from, limits derived from `tones/` alone are applied to
the other photos (faces, distance, close-ups) and the exceedances counted.

Usage:
    P=../shared/photos
    dermascore analyze $P/faces $P/distance/*.jpg $P/tones/*.jpg \
        $P/closeups/bioskin/{1,2,1_spec,2_spec}.jpg $P/pores/cheek_input.png \
        --out /tmp/normal
    python3 datasets/normal_range.py /tmp/normal/results.jsonl
"""
import json
import math
import sys
from collections import defaultdict

CONCERNS = ("pores", "pigmentation")
ZONES = ("forehead", "nose", "right_cheek", "left_cheek", "chin", "perioral",
         "right_periorbital", "left_periorbital", "patch")


def readings(path):
    """(concern, zone) -> [(severity, photo, group)]"""
    out = defaultdict(list)
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("type") != "image" or r.get("status") != "ok":
                continue
            photo = r["input"]["path"].split("photos/")[-1]
            group = "tones" if photo.startswith("tones/") else "other"
            for c in CONCERNS:
                m = r.get(c) or {}
                if not m.get("measured"):
                    continue
                for z in m["zones"]:
                    if z.get("metrics"):
                        out[(c, z["zone"])].append(
                            (z["metrics"]["severity"]["value"], photo, group))
    return out


def limit(values):
    return min(100.0, 5.0 * math.ceil(max(values) / 5.0)) if values else 100.0


def main(path):
    data = readings(path)
    print("concern       zone                 n  median  max   limit  "
          "held-out (limit from tones/ only)")
    toml = defaultdict(dict)
    for c in CONCERNS:
        for z in ZONES:
            rows = data.get((c, z), [])
            values = sorted(v for v, _, _ in rows)
            lim = limit(values)
            toml[c][z] = lim
            tones = [v for v, _, g in rows if g == "tones"]
            other = [(v, p) for v, p, g in rows if g == "other"]
            held = "no tones/ readings"
            if tones:
                lt = limit(tones)
                over = [f"{p} {v:.0f}" for v, p in other if v > lt]
                held = f"{len(over)} of {len(other)} above {lt:.0f}" + (
                    f" ({', '.join(over)})" if over else "")
            med = values[len(values) // 2] if values else float("nan")
            mx = values[-1] if values else float("nan")
            print(f"{c:13} {z:18} {len(values):3}  {med:6.1f} {mx:6.1f}  "
                  f"{lim:5.0f}  {held}")
    print("\n# protocol snippet")
    for c in CONCERNS:
        print(f"[normal_limit.{c}]")
        for z in ZONES:
            print(f"{z} = {toml[c][z]:.1f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
