#!/usr/bin/env python3
"""How the hand-outlined real macules (outlines.json in each folder) differ
from the skin 0.5-2 mm around them: area, luminance contrast (1 - the
spot's mean relative luminance over the surround's), delta L*, a*, b*,
and the melanin and haemoglobin indices of dermascore's colour separation
(the optical-density vectors of src/measure/colour.rs). These are the
figures the pigment rules are set against (src/measure/pigment.rs:
RED_DELTA_A; docs/harm-on-real-skin.md, thirteenth session).

Usage: python3 datasets/real_pigment/contrast.py   (needs Pillow, numpy,
scipy: the training venv, models/train/requirements.txt; reads the photos
from ../shared/photos beside the repository)
"""
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

HERE = Path(__file__).resolve().parent
PHOTOS = HERE.parents[2] / "shared" / "photos"
MELANIN_OD = np.array([0.4143, 0.3570, 0.8372])
HAEMOGLOBIN_OD = np.array([0.2988, 0.6838, 0.6657])
SEPARATION = np.linalg.inv(np.stack([MELANIN_OD, HAEMOGLOBIN_OD, np.ones(3)], 1))


def linear(c):
    c = c / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def lab(lin):
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def shape_mask(shape, size, origin):
    img = Image.new("L", size, 0)
    d = ImageDraw.Draw(img)
    ox, oy = origin
    if "polygon" in shape:
        d.polygon([(x - ox, y - oy) for x, y in shape["polygon"]], fill=255)
    else:
        cx, cy, rx, ry = shape["ellipse"]
        d.ellipse([cx - rx - ox, cy - ry - oy, cx + rx - ox, cy + ry - oy], fill=255)
    return np.asarray(img) > 0


def main():
    print("region, spot: area mm2 | contrast | dL* da* db* | d melanin, d haemoglobin")
    for spec_path in sorted(HERE.glob("*/outlines.json")):
        spec = json.loads(spec_path.read_text())
        x0, y0, x1, y1 = spec["roi"]
        rgb = np.asarray(Image.open(PHOTOS / spec["image"]).convert("RGB"))[y0:y1, x0:x1].astype(float)
        lin = linear(rgb)
        y = lin @ np.array([0.2126, 0.7152, 0.0722])
        lab_px = lab(lin)
        chrom = -np.log(np.maximum(lin, 1e-4)) @ SEPARATION.T
        ppm = spec["px_per_mm"]
        masks = [(s.get("name", "?"), shape_mask(s, (x1 - x0, y1 - y0), (x0, y0))) for s in spec["spots"]]
        every = np.any([m for _, m in masks], axis=0)
        for name, m in masks:
            inner = ndimage.binary_dilation(m, iterations=int(round(0.5 * ppm)))
            outer = ndimage.binary_dilation(m, iterations=int(round(2.0 * ppm)))
            ring = outer & ~inner & ~every
            d_lab = lab_px[m].mean(0) - lab_px[ring].mean(0)
            d_chrom = chrom[m].mean(0) - chrom[ring].mean(0)
            contrast = 1 - y[m].mean() / y[ring].mean()
            print(
                f"{spec_path.parent.name}, {name}: {m.sum() / ppm**2:.1f} | {contrast:.3f} | "
                f"{-d_lab[0]:.2f} darker, {d_lab[1]:+.2f} {d_lab[2]:+.2f} | {d_chrom[0]:+.3f} {d_chrom[1]:+.3f}"
            )


if __name__ == "__main__":
    main()
