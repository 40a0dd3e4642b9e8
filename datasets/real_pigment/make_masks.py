#!/usr/bin/env python3
"""Rasterises the hand outlines in each region's outlines.json (one folder
per region: temple_macule/, cheek_freckles/) into masks of the region of
interest (ROI-sized PNGs, 255 inside, written beside it):

  spots.png      the outlined macules (the truth)
  dont_care.png  faint patches and a band of boundary_band_px along every
                 outline, left out of the scoring

Usage: python3 datasets/real_pigment/make_masks.py   (needs Pillow)
`dermascore evaluate --real-pigment datasets/real_pigment` scores the
pigment model against every region.
"""
import json
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent


def draw(shapes, size, origin, outline_only=False, width=1):
    img = Image.new("L", size, 0)
    d = ImageDraw.Draw(img)
    ox, oy = origin
    for s in shapes:
        if "polygon" in s:
            pts = [(x - ox, y - oy) for x, y in s["polygon"]]
            if outline_only:
                d.line(pts + pts[:1], fill=255, width=width)
            else:
                d.polygon(pts, fill=255)
        else:
            cx, cy, rx, ry = s["ellipse"]
            box = [cx - rx - ox, cy - ry - oy, cx + rx - ox, cy + ry - oy]
            if outline_only:
                d.ellipse(box, outline=255, width=width)
            else:
                d.ellipse(box, fill=255)
    return img


def main():
    for spec_path in sorted(HERE.glob("*/outlines.json")):
        region(spec_path.parent)


def region(here: Path):
    spec = json.loads((here / "outlines.json").read_text())
    x0, y0, x1, y1 = spec["roi"]
    size, origin = (x1 - x0, y1 - y0), (x0, y0)
    spots = draw(spec["spots"], size, origin)
    band = spec["boundary_band_px"]
    edges = draw(spec["spots"], size, origin, outline_only=True, width=1)
    edges = edges.filter(ImageFilter.MaxFilter(2 * band + 1))
    dont_care = ImageChops.lighter(draw(spec["dont_care"], size, origin), edges)
    spots.save(here / "spots.png", optimize=True)
    dont_care.save(here / "dont_care.png", optimize=True)
    n = sum(1 for p in spots.tobytes() if p)
    print(f"{here.name}/spots.png: {n} px ({n / spec['px_per_mm'] ** 2:.1f} mm²); dont_care.png written")


if __name__ == "__main__":
    main()
