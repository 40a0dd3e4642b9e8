#!/usr/bin/env python3
"""A second, deliberately different generator of ground-truthed multi-light
scar sets, so that the measured-depth figures do not rest on one renderer
(`synth_scars.py`). Nothing is shared with it or with `synth_skin.py`:

  relief    scars with other profiles: Gaussian pits (ice-pick), flat
            floors with raised-cosine walls (box-car), cosine bowls
            (rolling), circular; skin lines as a lattice of crossing
            sinusoidal furrows and a cylindrical (not paraboloid) bend,
            with no pores;
  albedo    a skin colour set in CIELAB from a target ITA, with a Voronoi
            patchwork of slightly darker and lighter cells (not fractal
            chromophore noise);
  light     distant lights 30 degrees off the camera axis (the setting of
            an outside check) or near LEDs, Lambertian with cast shadows by
            a horizon march along each pixel's own light direction;
  camera    Poisson-Gaussian sensor noise in linear light, a pure 2.2
            gamma (not the sRGB curve the tool decodes with), 8-bit PNG,
            no JPEG, no blur.

Each set's truth lists the scars (type, centre, width at 10 % of the depth,
depth) in the format `dermascore evaluate --scars` reads.

Usage:
  python3 datasets/synth_relief_independent.py --out DIR [--per-tone 4] [--seed 777]
"""
import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

TONES = {"very_light": 62, "light": 48, "intermediate": 34, "tan": 18, "brown": -10, "dark": -42}
# Width at 10 % of the depth, as a multiple of each profile's size parameter.
GAUSS_W10 = 2 * np.sqrt(2 * np.log(10))          # times sigma
COS_T10 = np.arccos(-0.8) / np.pi                # raised cosine falls to 10 % here


def lab_to_linear(L, a, b):
    """CIELAB (D65) to linear sRGB primaries."""
    fy = (L + 16) / 116
    fx, fz = fy + a / 500, fy - b / 200
    inv = lambda t: np.where(t > 6 / 29, t ** 3, 3 * (6 / 29) ** 2 * (t - 4 / 29))
    X, Y, Z = 0.95047 * inv(fx), inv(fy), 1.08883 * inv(fz)
    m = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])
    return np.clip(m @ np.array([X, Y, Z]), 0.002, 1)


def skin_albedo(rng, h, w, px, ita):
    b = rng.uniform(14, 22)
    L = 50 + b * np.tan(np.radians(ita))
    base = lab_to_linear(L, rng.uniform(7, 13), b)
    # Voronoi cells 1-3 mm across, each a little darker or lighter.
    n = max(4, int(h * w / (px * px * rng.uniform(1, 9))))
    sites = rng.uniform(0, 1, (n, 2)) * [w, h]
    gain = np.exp(rng.normal(0, 0.05, n))
    yy, xx = np.mgrid[0:h, 0:w]
    best = np.full((h, w), np.inf)
    cell = np.zeros((h, w), int)
    for i, (sx, sy) in enumerate(sites):
        d = (xx - sx) ** 2 + (yy - sy) ** 2
        closer = d < best
        best[closer] = d[closer]
        cell[closer] = i
    return base[None, None, :] * gain[cell][..., None], float(np.degrees(np.arctan((L - 50) / b)))


def scar_depth(kind, r, p):
    """Depth (mm, >= 0) at radius r (mm)."""
    if kind == "ice_pick":
        return p["depth"] * np.exp(-r ** 2 / (2 * p["sigma"] ** 2))
    if kind == "boxcar":
        t = np.clip((r - p["floor_r"]) / p["wall"], 0, 1)
        return p["depth"] * 0.5 * (1 + np.cos(np.pi * t))
    t = np.clip(r / p["radius"], 0, 1)
    return p["depth"] * 0.5 * (1 + np.cos(np.pi * t))


def draw(rng, kind):
    if kind == "ice_pick":
        width = rng.uniform(0.8, 1.8)
        p = {"sigma": width / GAUSS_W10, "depth": rng.uniform(0.3, 0.9)}
    elif kind == "boxcar":
        wall = rng.uniform(0.1, 0.3)
        floor_r = rng.uniform(0.6, 1.8)
        width = 2 * (floor_r + COS_T10 * wall)
        p = {"floor_r": floor_r, "wall": wall, "depth": rng.uniform(0.1, 0.9)}
    else:
        radius = rng.uniform(3.0, 4.5)
        width = 2 * COS_T10 * radius
        p = {"radius": radius, "depth": rng.uniform(0.1, 0.45)}
    typ = kind if kind != "boxcar" else ("boxcar_deep" if p["depth"] > 0.5 else "boxcar_shallow")
    return typ, width, p


def relief(rng, size_mm, px):
    h = w = int(round(size_mm * px))
    yy, xx = np.mgrid[0:h, 0:w]
    x, y = (xx + 0.5) / px, (yy + 0.5) / px
    # Skin lines: furrows in two or three directions, 4-12 um deep.
    z = np.zeros((h, w))
    for _ in range(rng.integers(2, 4)):
        a = rng.uniform(0, np.pi)
        period = rng.uniform(0.4, 1.2)
        z += rng.uniform(0.004, 0.012) * np.cos(2 * np.pi * (x * np.cos(a) + y * np.sin(a)) / period + rng.uniform(0, 6.3))
    # A cylindrical bend of radius 40-200 mm about a random axis.
    a = rng.uniform(0, np.pi)
    u = (x - size_mm / 2) * np.cos(a) + (y - size_mm / 2) * np.sin(a)
    z -= u ** 2 / (2 * rng.uniform(40, 200))
    scars = []
    for _ in range(200):
        if len(scars) >= rng.integers(3, 6):
            break
        kind = ["ice_pick", "boxcar", "rolling"][rng.choice(3, p=[0.35, 0.4, 0.25])]
        typ, width, p = draw(rng, kind)
        m = width / 2 + 1.5
        cx, cy = rng.uniform(m, size_mm - m, 2)
        if any(np.hypot(cx - s["cx_mm"], cy - s["cy_mm"]) < (width + s["width_mm"]) / 2 + 1.0 for s in scars):
            continue
        z -= scar_depth(kind, np.hypot(x - cx, y - cy), p)
        scars.append({"type": typ, "cx_mm": float(cx), "cy_mm": float(cy),
                      "width_mm": float(width), "depth_mm": float(p["depth"])})
    return z, scars


def shadowed(z, px, lx, ly, lz):
    """True where relief between the pixel and the light blocks it: march
    towards the light in 0.5-pixel steps, comparing heights."""
    h, w = z.shape
    horiz = np.hypot(lx, ly)
    out = np.zeros((h, w), bool)
    if np.all(horiz < 1e-6):
        return out
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    climb = lz / np.maximum(horiz, 1e-6) / px      # mm per pixel travelled
    for step in np.arange(0.5, 3 * px, 0.5):      # up to 3 mm away
        sx = np.clip(np.round(xx + lx / np.maximum(horiz, 1e-6) * step).astype(int), 0, w - 1)
        sy = np.clip(np.round(yy + ly / np.maximum(horiz, 1e-6) * step).astype(int), 0, h - 1)
        out |= z[sy, sx] > z + climb * step
    return out


def render_set(rng, size_mm, px, tone, near):
    z, scars = relief(rng, size_mm, px)
    h, w = z.shape
    albedo, ita = skin_albedo(rng, h, w, px, TONES[tone] + rng.uniform(-4, 4))
    gy, gx = np.gradient(z, 1 / px)
    n = np.stack([-gx, -gy, np.ones_like(z)], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    yy, xx = np.mgrid[0:h, 0:w]
    k = 4 if not near else 6
    start = rng.uniform(0, 2 * np.pi)
    truth = {"px_per_mm": float(px), "size_mm": size_mm, "ita_deg": ita, "tone": tone, "scars": scars,
             "generator": "synth_relief_independent.py"}
    images, dirs, positions, intensities = [], [], [], []
    centre = np.array([rng.uniform(-80, 80), rng.uniform(-60, 60)]) if near else np.zeros(2)
    origin = centre - size_mm / 2
    for i in range(k):
        az = start + 2 * np.pi * i / k
        if near:
            d = rng.uniform(550, 750)
            pos = np.array([d * np.tan(np.radians(35)) * np.cos(az), d * np.tan(np.radians(35)) * np.sin(az), d])
            X, Y = origin[0] + (xx + 0.5) / px, origin[1] + (yy + 0.5) / px
            L = np.stack([pos[0] - X, pos[1] - Y, pos[2] - z], -1)
            r2 = np.sum(L * L, -1)
            L /= np.sqrt(r2)[..., None]
            power = rng.uniform(0.5, 1.5)
            irr = power * np.dot(pos, pos) / r2
            positions.append([float(v) for v in pos])
            intensities.append(float(power))
            dirs.append([float(v) for v in pos / np.linalg.norm(pos)])
        else:
            ld = np.array([np.sin(np.radians(30)) * np.cos(az), np.sin(np.radians(30)) * np.sin(az), np.cos(np.radians(30))])
            L = np.broadcast_to(ld, (h, w, 3))
            irr = np.ones((h, w))
            dirs.append([float(v) for v in ld])
        lc = L[h // 2, w // 2]
        ndl = np.clip(np.sum(n * L, -1), 0, None) * ~shadowed(z, px, lc[0], lc[1], lc[2])
        radiance = albedo * (ndl * irr)[..., None]
        images.append(radiance)
    # One exposure for the set; Poisson-Gaussian noise; gamma 2.2; 8 bits.
    gain = rng.uniform(0.55, 0.8) / max(np.percentile(im, 99) for im in images)
    full_well = rng.uniform(2000, 8000)
    out = []
    for im in images:
        e = np.clip(im * gain, 0, 1)
        e = rng.poisson(e * full_well) / full_well + rng.normal(0, 0.002, e.shape)
        out.append(Image.fromarray((np.clip(e, 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(np.uint8)))
    truth["lights"] = dirs
    if near:
        truth["light_pos_mm"] = positions
        truth["intensities"] = intensities
        truth["optical_centre_px"] = [float(-origin[0] * px), float(-origin[1] * px)]
    return out, truth


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--per-tone", type=int, default=4)
    ap.add_argument("--seed", type=int, default=777)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    index = []
    for tone in TONES:
        for i in range(args.per_tone):
            near = i % 2 == 1
            px = [10.0, 20.0][(i // 2) % 2]
            images, truth = render_set(rng, 30.0, px, tone, near)
            stem = f"ind_{tone}_{i:02d}"
            files = []
            for j, im in enumerate(images):
                im.save(args.out / f"{stem}_L{j}.png")
                files.append(f"{stem}_L{j}.png")
            truth["files"], truth["name"] = files, stem
            index.append(truth)
    (args.out / "truth.json").write_text(json.dumps({"seed": args.seed, "captures": index}, indent=1))
    print(f"wrote {len(index)} independent multi-light sets to {args.out}")


if __name__ == "__main__":
    main()
