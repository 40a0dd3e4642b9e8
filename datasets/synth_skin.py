#!/usr/bin/env python3
"""Ground-truthed synthetic skin for training and evaluating the pore and
pigmentation models.

Skin is rendered with a two-chromophore optical model (Tsumura et al., JOSA A
1999): linear RGB = illumination * exp(-(base + m*MELANIN + h*HAEMOGLOBIN)),
with the base colour drawn by ITA (very light to dark, Chardon 1991) and
melanin / haemoglobin varying at several spatial scales. On top come

  * pores: irregular elliptical cavities with known diameter in mm; those of
    nominal diameter >= 0.25 mm (the detection threshold, Flament 2015) are
    labelled, smaller ones are rendered as unlabelled distractors;
  * pigmented spots: irregular blobs of known area (mm^2) and melanin
    contrast (optical density); spots below the labelling threshold
    (SPOT_MIN_MELANIN_OD) are rendered but not labelled; haemoglobin (red)
    patches are distractors that must not be called pigment. The threshold
    is faint by eye: 0.06 OD makes a colour difference of dE*ab 0.6-1.3
    against the skin (ITA -40 to 60; `compare_real_skin.py`), under the
    just-noticeable difference of about 2.3; the background mottling, which
    is unlabelled, is about as strong as a real cheek's (same script);

rendered at twice the camera's resolution, reduced to the camera's px/mm,
then degraded by lighting (exposure, colour cast, gradient, specular
highlights), blur, sensor noise and JPEG compression, and finally resampled
to the model's canonical px/mm exactly as the Rust pipeline does. Labels are
drawn analytically at the canonical resolution, so they are exact.

Usage:
  python3 datasets/synth_skin.py eval --out DIR     # evaluation set at camera resolution
Training draws patches in memory (models/train/train_skin_models.py).
"""
import argparse
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

MELANIN = np.array([0.4143, 0.3570, 0.8372])     # optical-density direction (R, G, B)
HAEMOGLOBIN = np.array([0.2988, 0.6838, 0.6657])

PORE_CANONICAL_PX_PER_MM = 16.0
PIGMENT_CANONICAL_PX_PER_MM = 4.0
PORE_MIN_DIAMETER_MM = 0.25
SPOT_MIN_MELANIN_OD = 0.06


# ---------------------------------------------------------------- colour
def srgb_to_linear(c):
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c):
    c = np.clip(c, 0.0, None)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)


def relight_unrounded(rgb, gains):
    """An sRGB photo (0-255) under other per-channel gains in linear light
    (exposure, white balance), clipped but not rounded: sRGB values 0-255."""
    lin = srgb_to_linear(np.asarray(rgb, np.float64) / 255.0) * np.asarray(gains)
    return np.clip(linear_to_srgb(np.clip(lin, 0.0, 1.0)), 0.0, 1.0) * 255


def relight(rgb_u8, gains):
    """The same 8-bit sRGB photo under other per-channel gains in linear light
    (exposure, white balance), re-encoded to 8 bits as a camera would."""
    return (relight_unrounded(rgb_u8, gains) + 0.5).astype(np.uint8)


D65_WHITE = np.array([0.95047, 1.0, 1.08883])   # CIE XYZ of the sRGB white point


def lab_to_linear_rgb(L, a, b):
    fy = (L + 16) / 116
    fx, fz = fy + a / 500, fy - b / 200
    d = 6 / 29
    finv = lambda t: np.where(t > d, t ** 3, 3 * d * d * (t - 4 / 29))
    xyz = D65_WHITE * np.array([finv(fx), finv(fy), finv(fz)])
    m = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])
    return np.clip(m @ xyz, 1e-4, 1.0)


def linear_rgb_to_lab(rgb):
    """CIELAB (L*, a*, b*) of linear sRGB colours (channels last): the
    inverse of lab_to_linear_rgb (up to its clipping)."""
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    t = np.asarray(rgb) @ m.T / D65_WHITE
    d = 6 / 29
    f = np.where(t > d ** 3, np.cbrt(t), t / (3 * d * d) + 4 / 29)
    x, y, z = f[..., 0], f[..., 1], f[..., 2]
    return np.stack([116 * y - 16, 500 * (x - y), 200 * (y - z)], -1)


def base_skin(rng, ita_range=(-50, 70)):
    """A skin colour with ITA from very light (> 55) to dark (< -30)."""
    ita = rng.uniform(*ita_range)
    b = rng.uniform(12, 24)
    L = np.clip(50 + b * np.tan(np.radians(ita)), 22, 82)
    a = rng.uniform(5, 15)
    return lab_to_linear_rgb(L, a, b), float(np.degrees(np.arctan((L - 50) / b)))


# ---------------------------------------------------------------- fields
def smooth_noise(rng, h, w, sigma_px):
    """Gaussian-filtered white noise, scaled to unit standard deviation for an
    infinite field (so scales larger than the patch stay gentle)."""
    n = rng.standard_normal((h, w))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    g = np.exp(-2 * (np.pi * sigma_px) ** 2 * (fx ** 2 + fy ** 2))
    out = np.real(np.fft.ifft2(np.fft.fft2(n) * g))
    # Variance of white noise through a Gaussian of sigma s is 1 / (4 pi s^2).
    return out * max(1.0, 2 * np.sqrt(np.pi) * sigma_px)


def fbm(rng, h, w, px_per_mm, scales_mm, weights):
    return sum(wt * smooth_noise(rng, h, w, s * px_per_mm) for s, wt in zip(scales_mm, weights))


def blob_window(h, w, cx, cy, extent_mm, px):
    """Pixel window (slices) covering a blob of the given extent."""
    x0 = max(0, int((cx - extent_mm) * px))
    x1 = min(w, int((cx + extent_mm) * px) + 2)
    y0 = max(0, int((cy - extent_mm) * px))
    y1 = min(h, int((cy + extent_mm) * px) + 2)
    return slice(y0, max(y0, y1)), slice(x0, max(x0, x1))


def blob_mask(rng, h, w, cx, cy, rx, ry, angle, wobble, px, window=None):
    """Irregular ellipse as a radius-normalised distance field (1 on the
    nominal boundary), over `window` (slices) or the whole grid."""
    sy, sx = window or (slice(0, h), slice(0, w))
    yy, xx = np.mgrid[sy, sx]
    x = (xx + 0.5) / px - cx
    y = (yy + 0.5) / px - cy
    c, s = np.cos(angle), np.sin(angle)
    u = (c * x + s * y) / rx
    v = (-s * x + c * y) / ry
    r = np.sqrt(u * u + v * v)
    theta = np.arctan2(v, u)
    k = rng.integers(2, 5)
    phase = rng.uniform(0, 2 * np.pi, size=k)
    amp = rng.uniform(0, wobble, size=k)
    deform = 1 + sum(a * np.sin((i + 2) * theta + p) for i, (a, p) in enumerate(zip(amp, phase)))
    return r / deform


# ---------------------------------------------------------------- rendering
class Photo16:
    """A camera image kept at 16 bits per channel (no JPEG), as a raw
    converter writes it: `.size` and `.save(path)` as PIL's, since PIL cannot
    hold 16-bit RGB."""

    def __init__(self, rgb_u16):
        self.rgb = rgb_u16

    @property
    def size(self):
        return self.rgb.shape[1], self.rgb.shape[0]

    def save(self, path):
        h, w, _ = self.rgb.shape
        rows = self.rgb.astype(">u2").reshape(h, w * 3).view(np.uint8)
        raw = np.hstack([np.zeros((h, 1), np.uint8), rows]).tobytes()  # filter 0 per row

        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)  # 16-bit RGB
        Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                               + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def degrade_and_resample(rng, lin, src_px, canonical_px, render_scale, light, bits=8):
    """Lighting, camera resolution, blur, noise, JPEG; then canonical
    resampling. With `bits=16` every step keeps its fractions and the result
    is a 16-bit `Photo16` without JPEG (the same random draws, so the same
    scene)."""
    h, w, _ = lin.shape
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    gx, gy = rng.uniform(-light["gradient"], light["gradient"], 2)
    illum = light["exposure"] * (1 + gx * (xx - 0.5) + gy * (yy - 0.5))
    img = lin * illum[..., None] * np.asarray(light["white_balance"])[None, None, :]
    # Specular glints (oily skin): small bright spots.
    for _ in range(rng.poisson(light["glints"])):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(1, 4) * render_scale
        img += rng.uniform(0.05, 0.3) * np.exp(-((yy * max(h, w) - cy) ** 2 + (xx * max(h, w) - cx) ** 2) / (2 * r * r))[..., None]
    srgb = linear_to_srgb(img)
    # Camera sampling: the scene was rendered at render_scale x the camera's px/mm.
    cam = (max(1, round(w / render_scale)), max(1, round(h / render_scale)))
    if bits == 16:
        arr = np.stack([np.asarray(Image.fromarray((np.clip(srgb[..., ch], 0, 1) * 255).astype(np.float32), "F")
                                   .resize(cam, Image.BOX)) for ch in range(3)], axis=-1).astype(np.float64)
    else:
        pil = Image.fromarray((np.clip(srgb, 0, 1) * 255 + 0.5).astype(np.uint8))
        arr = np.asarray(pil.resize(cam, Image.BOX)).astype(np.float64)
    if light["blur_px"] > 0.05:
        for ch in range(3):
            arr[..., ch] = gaussian(arr[..., ch], light["blur_px"])
    arr += rng.normal(0, light["noise"], arr.shape)
    if bits == 16:
        return Photo16((np.clip(arr, 0, 255) / 255 * 65535 + 0.5).astype(np.uint16))
    pil = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=int(light["jpeg_quality"]))
    camera = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return camera


def gaussian(a, sigma):
    h, w = a.shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    g = np.exp(-2 * (np.pi * sigma) ** 2 * (fx ** 2 + fy ** 2))
    return np.real(np.fft.ifft2(np.fft.fft2(a) * g))


def to_canonical(camera, src_px, canonical_px, size_px):
    """Resample a camera image to the canonical grid (size_px square)."""
    return camera.resize((size_px, size_px), Image.BILINEAR if src_px < canonical_px * 2 else Image.BOX)


def random_light(rng, exposure=None):
    return {
        "exposure": float(exposure if exposure is not None else rng.uniform(0.6, 1.4)),
        "white_balance": [float(g) for g in rng.uniform(0.88, 1.12, 3)],
        "gradient": float(rng.uniform(0, 0.3)),
        "glints": float(rng.uniform(0, 2)),
        "blur_px": float(rng.uniform(0, 1.0)),
        "noise": float(rng.uniform(0, 4)),
        "jpeg_quality": int(rng.integers(60, 96)),
    }


def skin_field(rng, h, w, px, ita_range=(-50, 70)):
    base, ita = base_skin(rng, ita_range)
    mel = 0.04 * fbm(rng, h, w, px, [0.3, 1.5, 5.0], [0.3, 0.5, 0.8])
    hem = 0.05 * fbm(rng, h, w, px, [1.0, 4.0], [0.6, 0.8])
    relief = 0.015 * fbm(rng, h, w, px, [0.04, 0.12], [0.6, 0.8])
    return base, ita, mel, hem, relief


def compose(base, mel, hem, shade):
    od = -np.log(base)[None, None, :] + mel[..., None] * MELANIN + hem[..., None] * HAEMOGLOBIN
    return np.exp(-od) * shade[..., None]


def render_pores(rng, size_mm, src_px, light=None, density_per_cm2=None, bits=8):
    """One pore patch. Returns (camera image, truth dict)."""
    render_scale = 2
    px = src_px * render_scale
    h = w = int(round(size_mm * px))
    base, ita, mel, hem, relief = skin_field(rng, h, w, px)
    shade = 1 + relief
    # Light specks (corneocyte flakes / sebum highlights) that are not pores.
    specks = smooth_noise(rng, h, w, 0.03 * px)
    shade += 0.04 * np.clip(specks - 2.0, 0, None)
    density = density_per_cm2 if density_per_cm2 is not None else rng.uniform(20, 160)
    n = rng.poisson(density * (size_mm / 10) ** 2)
    pores = []
    for _ in range(n):
        d = float(np.exp(rng.normal(np.log(0.27), 0.35)))   # nominal diameter, mm
        d = float(np.clip(d, 0.1, 0.8))
        aspect = rng.uniform(1.0, 1.8)
        rx, ry = d / 2 * np.sqrt(aspect), d / 2 / np.sqrt(aspect)
        cx, cy = rng.uniform(0, size_mm), rng.uniform(0, size_mm)
        angle = rng.uniform(0, np.pi)
        win = blob_window(h, w, cx, cy, 2.5 * max(rx, ry), px)
        r = blob_mask(rng, h, w, cx, cy, rx, ry, angle, 0.15, px, win)
        depth = rng.uniform(0.05, 0.22)
        profile = np.clip(1 - r, 0, 1) ** 0.6 * (r < 1) + np.exp(-((r - 1) / 0.25) ** 2) * (r >= 1) * 0.6
        shade[win] -= depth * profile
        mel[win] += 0.05 * depth * profile     # pores look slightly browner (sebum, shadow)
        pores.append({"x_mm": cx, "y_mm": cy, "diameter_mm": float(np.sqrt(rx * ry) * 2), "rx_mm": rx, "ry_mm": ry,
                      "angle": angle, "labelled": bool(np.sqrt(rx * ry) * 2 >= PORE_MIN_DIAMETER_MM)})
    lin = compose(base, mel, hem, np.clip(shade, 0.2, 2))
    light = light or random_light(rng)
    camera = degrade_and_resample(rng, lin, src_px, PORE_CANONICAL_PX_PER_MM, render_scale, light, bits)
    return camera, {"kind": "pores", "size_mm": size_mm, "px_per_mm": src_px, "ita": ita, "light": light, "pores": pores}


def render_spots(rng, size_mm, src_px, light=None, n_spots=None, label_px=None, soft_od=None, ambiguous=None,
                 min_od=SPOT_MIN_MELANIN_OD, bits=8):
    """One pigment patch. Returns (camera image, label at camera px/mm or at
    `label_px` if given, truth dict). The label is boolean; with `soft_od`
    (lo, hi) it is instead each spot's share of its nominal outline, weighted
    by a ramp of its melanin contrast from lo to hi; with `ambiguous`
    (lo, hi, mottle) it is 0/1 with -1 where the truth is ambiguous: spots of
    contrast lo..hi (out to 1.25 x their outline) and background mottling
    more than `mottle` OD above the patch's median (experiments, see
    models/train/train_skin_models.py)."""
    render_scale = max(2, int(np.ceil(8 / src_px)))
    px = src_px * render_scale
    h = w = int(round(size_mm * px))
    base, ita, mel, hem, relief = skin_field(rng, h, w, px)
    shade = 1 + relief
    mottle = mel - np.median(mel) if ambiguous else None
    spots = []
    n = n_spots if n_spots is not None else rng.integers(0, 6)
    for _ in range(n):
        area = float(np.exp(rng.uniform(np.log(3), np.log(100))))   # mm^2
        aspect = rng.uniform(1, 2)
        rx = np.sqrt(area / np.pi * aspect)
        ry = area / np.pi / rx
        cx, cy = rng.uniform(rx, size_mm - rx), rng.uniform(ry, size_mm - ry)
        win = blob_window(h, w, cx, cy, 2.0 * max(rx, ry), px)
        r = blob_mask(rng, h, w, cx, cy, rx, ry, rng.uniform(0, np.pi), 0.25, px, win)
        contrast = float(rng.uniform(0.02, 0.6))
        edge = rng.uniform(0.05, 0.3)
        inside = 1 / (1 + np.exp(np.clip((r - 1) / edge, -50, 50)))
        texture = 1 + 0.25 * smooth_noise(rng, r.shape[0], r.shape[1], 0.5 * px)
        mel[win] += contrast * inside * texture
        spots.append({"x_mm": float(cx), "y_mm": float(cy), "rx_mm": float(rx), "ry_mm": float(ry), "area_mm2": area,
                      "melanin_od": contrast, "labelled": contrast >= min_od, "r_field": None})
        spots[-1]["_r"] = (win, r)
    # Distractors that are not pigment: neutral shading from the face's
    # curvature (up to ±45 % over centimetres), skin folds (dark, neutral,
    # elongated), beard stubble (dark dots and short strokes), and erythema
    # (haemoglobin) patches.
    shade *= np.exp(rng.uniform(0.05, 0.45) * fbm(rng, h, w, px, [6.0, 15.0], [0.5, 0.8]))
    for _ in range(rng.integers(0, 3)):
        cx, cy = rng.uniform(0, size_mm), rng.uniform(0, size_mm)
        length, width = rng.uniform(8, 30), rng.uniform(0.5, 2.5)
        win = blob_window(h, w, cx, cy, length, px)
        r = blob_mask(rng, h, w, cx, cy, length / 2, width / 2, rng.uniform(0, np.pi), 0.05, px, win)
        shade[win] *= 1 - rng.uniform(0.1, 0.4) * np.exp(-r * r)
    if rng.random() < 0.3:
        n_hairs = rng.integers(50, 400)
        stubble = np.zeros((h, w))
        for _ in range(n_hairs):
            y, x = rng.integers(0, h), rng.integers(0, w)
            L = max(1, int(rng.uniform(0.1, 0.8) * px))
            ang = rng.uniform(0, np.pi)
            for t in range(L):
                yy, xx = int(y + t * np.sin(ang)), int(x + t * np.cos(ang))
                if 0 <= yy < h and 0 <= xx < w:
                    stubble[yy, xx] = 1
        stubble = gaussian(stubble, max(0.5, 0.04 * px))
        shade *= 1 - np.clip(stubble * rng.uniform(1, 3), 0, 0.7)
    for _ in range(rng.integers(0, 3)):
        cx, cy, rr = rng.uniform(0, size_mm), rng.uniform(0, size_mm), rng.uniform(2, 8)
        win = blob_window(h, w, cx, cy, 3 * rr, px)
        r = blob_mask(rng, h, w, cx, cy, rr, rng.uniform(2, 8), 0, 0.2, px, win)
        hem[win] += rng.uniform(0.1, 0.5) / (1 + np.exp(np.clip((r - 1) / 0.3, -50, 50)))
    lin = compose(base, mel, hem, np.clip(shade, 0.2, 2))
    light = light or random_light(rng)
    camera = degrade_and_resample(rng, lin, src_px, PIGMENT_CANONICAL_PX_PER_MM, render_scale, light, bits)
    # Labels (nominal boundary r <= 1), area-averaged onto the label grid.
    inside_all = np.zeros((h, w), np.float32 if soft_od else np.uint8)
    outlines = []
    for s in spots:
        win, r = s.pop("_r")
        s.pop("r_field")
        outlines.append((s["melanin_od"], win, r))
        if soft_od:
            weight = float(np.clip((s["melanin_od"] - soft_od[0]) / (soft_od[1] - soft_od[0]), 0, 1))
            inside_all[win] = np.maximum(inside_all[win], (r <= 1) * weight)
        elif s["labelled"]:
            inside_all[win] |= (r <= 1).astype(np.uint8)
    truth = {"kind": "spots", "size_mm": size_mm, "px_per_mm": src_px, "ita": ita, "light": light, "spots": spots}
    if label_px is None:
        lw, lh = camera.size
    else:
        lw = lh = int(round(size_mm * label_px))
    if soft_od:
        return camera, np.asarray(Image.fromarray(inside_all, mode="F").resize((lw, lh), Image.BOX)), truth
    label = np.asarray(Image.fromarray(inside_all * 255).resize((lw, lh), Image.BOX)) >= 128
    if ambiguous:
        unsure = (mottle > ambiguous[2]) & (inside_all == 0)
        for od, win, r in outlines:
            if ambiguous[0] <= od < ambiguous[1]:
                unsure[win] |= r <= 1.25
        share = np.asarray(Image.fromarray(unsure.astype(np.float32), mode="F").resize((lw, lh), Image.BOX))
        label = np.where(share >= 0.5, -1.0, label).astype(np.float32)
    return camera, label, truth


def pore_label(truth, h, w, px):
    """Labelled pores drawn at px/mm on an h x w grid."""
    yy, xx = np.mgrid[0:h, 0:w]
    lab = np.zeros((h, w), bool)
    for p in truth["pores"]:
        if not p["labelled"]:
            continue
        x = (xx + 0.5) / px - p["x_mm"]
        y = (yy + 0.5) / px - p["y_mm"]
        c, s = np.cos(p["angle"]), np.sin(p["angle"])
        u = (c * x + s * y) / p["rx_mm"]
        v = (-s * x + c * y) / p["ry_mm"]
        lab |= u * u + v * v <= 1
    return lab


# ---------------------------------------------------------------- eval set
EVAL_PORE_PX = [12, 16, 24, 32]
EVAL_SPOT_PX = [1.5, 3, 6, 12]
EVAL_EXPOSURES = [0.7, 1.0, 1.3]


def write_eval(out: Path, per_cell: int, seed: int = 12345, min_od: float = SPOT_MIN_MELANIN_OD, bits: int = 8):
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    index = []
    for px in EVAL_PORE_PX:
        for ex in EVAL_EXPOSURES:
            for i in range(per_cell):
                light = random_light(rng, exposure=ex)
                cam, truth = render_pores(rng, 8.0, px, light=light, bits=bits)
                name = f"pores_px{px}_ex{ex}_{i:02d}.png"
                cam.save(out / name)
                truth["file"] = name
                index.append(truth)
    for px in EVAL_SPOT_PX:
        for ex in EVAL_EXPOSURES:
            for i in range(per_cell):
                light = random_light(rng, exposure=ex)
                cam, label, truth = render_spots(rng, 40.0, px, light=light, n_spots=int(rng.integers(1, 5)), min_od=min_od,
                                                 bits=bits)
                name = f"spots_px{px}_ex{ex}_{i:02d}.png"
                cam.save(out / name)
                Image.fromarray(label.astype(np.uint8) * 255).save(out / name.replace(".png", "_label.png"))
                truth["file"] = name
                index.append(truth)
    (out / "truth.json").write_text(json.dumps({"seed": seed, "bits": bits, "patches": index}, indent=1))
    print(f"wrote {len(index)} evaluation patches to {out}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("eval")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--per-cell", type=int, default=8)
    e.add_argument("--seed", type=int, default=12345)
    e.add_argument("--min-od", type=float, default=SPOT_MIN_MELANIN_OD,
                   help="label spots from this melanin contrast (an experiment; the images are the same)")
    e.add_argument("--bits", type=int, choices=[8, 16], default=8,
                   help="16: the same scenes as 16-bit PNGs without JPEG, as from a raw converter")
    args = ap.parse_args()
    if args.cmd == "eval":
        write_eval(args.out, args.per_cell, args.seed, args.min_od, args.bits)


if __name__ == "__main__":
    main()
