#!/usr/bin/env python3
"""Can spectacle frames be told from a bare face by a ring around each eye?
The research check behind `face::spectacles` (docs/harm-on-real-skin.md).

Brown frames read as periorbital pigment and got a pigmentation plan; a rule
on the shape of pigment components inside the zones was not enough (a rim
crossing a zone's edge leaves a short sliver in it). A frame's rim is a
ring around the eye: darker than the skin just inside and just outside it
at most angles, below and beside the eye as well as at the brow. For each
eye this scores lens-shaped ellipses around the midpoint of its corners
(centre 0-6 mm below it and up to 2 mm aside, half-axes 20-30 x 13-21 mm):
at 120 angles, the log luma on the ellipse (mean over +-0.7 mm across it)
against the darker of the skin 3.5 mm inside and 3.5 mm outside; the
score is the share of angles where the ring is darker by more than 0.1
(about 10 %), the best ellipse's score per eye.

`draw` writes brown frames (rims 4 mm wide around 50 x 34 mm lenses
centred 3 mm below each eye) onto photos; `score` reads `analyze
--landmarks` records and prints each photo's two eye scores.

Usage (the outputs stay outside the repository; `tones/` is CC BY 4.0, Face
Research Lab London Set, DeBruine & Jones 2017,
https://doi.org/10.6084/m9.figshare.5047666.v5):
    P=../shared/photos
    dermascore analyze $P/tones/007_03.jpg $P/tones/045_03.jpg \
        $P/tones/119_03.jpg $P/faces/obama.jpg --landmarks > /tmp/lm.jsonl
    python3 datasets/spectacle_rings.py draw /tmp/lm.jsonl --out /tmp/framed
    dermascore analyze /tmp/framed $P/faces $P/distance/*.jpg $P/tones/*.jpg \
        $P/closeups/bioskin/1.jpg $P/closeups/bioskin/2.jpg --landmarks > /tmp/all.jsonl
    python3 datasets/spectacle_rings.py score /tmp/all.jsonl
"""
import argparse
import json
import os

import numpy as np
from PIL import Image

# Eye corners in the 468-point mesh: (outer, inner), subject's right then left.
EYES = ((33, 133), (263, 362))
FRAME_RGB = (105, 68, 42)


def records(path):
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("type") == "image" and (r.get("face") or {}).get("landmarks_px"):
                yield r


def eye_centre(lm, outer, inner):
    return (lm[outer][0] + lm[inner][0]) / 2, (lm[outer][1] + lm[inner][1]) / 2


def draw(args):
    os.makedirs(args.out, exist_ok=True)
    for r in records(args.records):
        lm, s = r["face"]["landmarks_px"], r["scale"]["px_per_mm"]
        img = np.array(Image.open(r["input"]["path"]).convert("RGB"))
        yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]].astype(np.float64)
        a, b, half = 25 * s, 17 * s, 2 * s
        for outer, inner in EYES:
            cx, cy = eye_centre(lm, outer, inner)
            dx, dy = xx - cx, yy - (cy + 3 * s)
            within = lambda ea, eb: (dx / ea) ** 2 + (dy / eb) ** 2 <= 1
            img[within(a + half, b + half) & ~within(a - half, b - half)] = FRAME_RGB
        name = os.path.splitext(os.path.basename(r["input"]["path"]))[0]
        Image.fromarray(img).save(os.path.join(args.out, f"{name}_framed.png"))


def bilinear(img, x, y):
    h, w = img.shape
    x, y = np.clip(x - 0.5, 0, w - 1.001), np.clip(y - 0.5, 0, h - 1.001)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    return ((img[y0, x0] * (1 - fx) + img[y0, x0 + 1] * fx) * (1 - fy)
            + (img[y0 + 1, x0] * (1 - fx) + img[y0 + 1, x0 + 1] * fx) * fy)


def ring_scores(path, lm, s):
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(np.float64)
    lum = np.log(0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2] + 1)
    theta = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    scores = []
    for outer, inner in EYES:
        cx0, cy0 = eye_centre(lm, outer, inner)
        best = 0.0
        for dy in (0, 2, 4, 6):
            for dx in (-2, 0, 2):
                for a in np.arange(20, 31, 2.5):
                    for b in np.arange(13, 22, 2):
                        cx, cy = cx0 + dx * s, cy0 + dy * s

                        def ring(offset):
                            return np.mean([bilinear(lum, cx + (a + offset + r) * s * np.cos(theta),
                                                     cy + (b + offset + r) * s * np.sin(theta))
                                            for r in (-0.7, 0, 0.7)], axis=0)

                        on = ring(0)
                        darker = np.minimum(ring(-3.5), ring(3.5)) - on
                        best = max(best, float(np.mean(darker > 0.1)))
        scores.append(best)
    return scores


def score(args):
    for r in records(args.records):
        scores = ring_scores(r["input"]["path"], r["face"]["landmarks_px"], r["scale"]["px_per_mm"])
        print(f"{r['input']['path']}\t" + "\t".join(f"{v:.2f}" for v in scores))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("draw")
    d.add_argument("records")
    d.add_argument("--out", required=True)
    sc = sub.add_parser("score")
    sc.add_argument("records")
    args = ap.parse_args()
    {"draw": draw, "score": score}[args.cmd](args)


if __name__ == "__main__":
    main()
