#!/usr/bin/env python3
"""Quick check of a pigment model candidate, in Python (the figures of record
come from `dermascore evaluate`): on a synthetic evaluation set, the worst
relative change of each patch's pigmented area under x0.85 / x1.15 exposure
and a colour cast (R x1.06, B x0.94), applied in linear light and re-encoded
to 8 bits, plus pixel Dice; and the pigmented area read on the test fixture.
It mirrors the pipeline closely (canonical 4 px/mm, interquartile-mean normalisation,
threshold 0.5, 8-connected spots >= 1.5 mm²) but not bit for bit.

It also prints, for several borderline-share limits, how the patches
marked steady by that limit moved: the pipeline's BORDERLINE_SHARE_LIMIT
(src/measure/pigment.rs) is the largest limit at which no validation patch
marked steady moved by 10 % or more.

Usage (the figures in train_skin_models.py's docstring):
    python3 datasets/synth_skin.py eval --out target/synth-val --seed 1111
    python3 models/train/pigment_stability.py target/synth-val MODEL.onnx [MODEL.onnx ...]
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image
from scipy import ndimage, stats

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "datasets"))
import synth_skin as synth  # noqa: E402

CANONICAL = synth.PIGMENT_CANONICAL_PX_PER_MM
CASTS = ([0.85] * 3, [1.15] * 3, [1.06, 1.0, 0.94])


BORDERLINE = (0.3, 0.7)
MIN_SPOT_MM2 = 1.5


def interquartile_mean(pixels):
    """Per-channel mean of ranks n/4 .. 3n/4: the pigment model's input
    reference in the pipeline (`segment::Reference::InterquartileMean`)."""
    s = np.sort(pixels, axis=0)
    n = len(s)
    lo = int(n * 0.25)
    return s[lo:max(lo + 1, int(np.ceil(n * 0.75)))].mean(axis=0)


def spots(session, rgb, px_per_mm, borderline=None):
    size = int(round(rgb.shape[1] / px_per_mm * CANONICAL))
    size += size % 2
    filt = Image.BILINEAR if px_per_mm < 2 * CANONICAL else Image.BOX
    lin = synth.srgb_to_linear(np.asarray(Image.fromarray(rgb).resize((size, size), filt), np.float64) / 255.0)
    x = (lin / np.maximum(interquartile_mean(lin.reshape(-1, 3)), 1e-4) - 1).astype(np.float32)
    prob = session.run(None, {"image": np.ascontiguousarray(x.transpose(2, 0, 1)[None])})[0][0, 0]
    if borderline is not None:
        borderline.append(((prob > BORDERLINE[0]) & (prob < BORDERLINE[1])).sum() / CANONICAL ** 2)
    labels, _ = ndimage.label(prob > 0.5, structure=np.ones((3, 3)))
    keep = np.bincount(labels.ravel()) >= 1.5 * CANONICAL ** 2
    keep[0] = False
    return keep[labels]


def main():
    eval_dir, models = Path(sys.argv[1]), sys.argv[2:]
    truth = json.loads((eval_dir / "truth.json").read_text())["patches"]
    fixture = np.asarray(Image.open(ROOT / "tests/fixtures/spots_6pxmm.png").convert("RGB"))
    for model in models:
        s = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        worst, dice, shares = [], [], []
        for t in (t for t in truth if t["kind"] == "spots"):
            rgb = np.asarray(Image.open(eval_dir / t["file"]).convert("RGB"))
            border = []
            m = spots(s, rgb, t["px_per_mm"], border)
            lab = Image.open(eval_dir / t["file"].replace(".png", "_label.png")).convert("L")
            lab = np.asarray(lab.resize(m.shape[::-1], Image.BILINEAR)) >= 128
            dice.append(2 * (m & lab).sum() / max(1, m.sum() + lab.sum()))
            if t["light"]["exposure"] == 1.0 and m.sum():
                worst.append(100 * max(abs(spots(s, synth.relight(rgb, g), t["px_per_mm"]).sum() - m.sum()) / m.sum()
                                       for g in CASTS))
                area = m.sum() / CANONICAL ** 2
                shares.append(border[0] / area if border[0] >= MIN_SPOT_MM2 else 0.0)
        area = spots(s, fixture, 6.0).sum() / CANONICAL ** 2
        print(f"{model}: worst change median {np.median(worst):.1f} %, 75th {np.percentile(worst, 75):.1f} %, "
              f"90th {np.percentile(worst, 90):.1f} %, max {max(worst):.1f} % ({len(worst)} patches); "
              f"Dice median {np.median(dice):.3f}, mean {np.mean(dice):.3f}; fixture {area:.0f} mm²")
        rho = stats.spearmanr(shares, worst).statistic
        print(f"  Spearman correlation of the borderline share with the worst change: {rho:.2f}")
        for limit in (0.2, 0.25, 0.3, 0.35, 0.4, 0.5):
            steady = [w for w, sh in zip(worst, shares) if sh <= limit]
            print(f"  borderline share limit {limit:.2f}: {len(steady)} patches marked steady, "
                  f"max change {max(steady, default=0):.1f} %, {sum(w >= 10 for w in steady)} at 10 % or more")


if __name__ == "__main__":
    main()
