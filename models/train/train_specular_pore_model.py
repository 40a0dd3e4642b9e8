#!/usr/bin/env python3
"""An experiment: a pore model for specular-only images, taught across light
modalities.

Some rigs separate a face's reflection into a diffuse image (no surface
shine: the role of a cross-polarised capture) and a specular-only one (only
the surface's shine: a parallel-polarised capture with the diffuse part
removed), taken in the same instant and registered pixel for pixel, as the
two BioSkin faces of ../shared/photos/closeups/bioskin are. On the specular
image pores are small dark pits among lit ridges; the pore model, made for
colour photos, reads 31 % of such skin as pore.

No pore is labelled on any specular image, so this model is taught by the
committed pore model's (models/pore_segmentation.onnx) probabilities on the
registered diffuse image of the same face: it learns to read from the
specular image what the validated model reads from the diffuse one. Its
accuracy is therefore its agreement with that model, measured on a face it
was not taught on (two folds: taught on one BioSkin face, scored on the
other). Nothing here says it is better than the diffuse reading.

Same network and contract as the pore model (distill_pore_model.py: linear
RGB at 16 px/mm, each channel divided by the zone's skin median, minus one;
NCHW; one probability per pixel), so the pipeline runs it the same way.

An experiment, not a shipped model: held out, it agreed with the diffuse
reading at pixel Dice 0.20 and 0.21 and read a third to a half of its pore
coverage (docs/specular-pores.md), so dermascore still reads pores from the
diffuse image of such a pair.

    python models/train/train_specular_pore_model.py   # the two folds (~13 min)
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "models" / "train"))
sys.path.insert(0, str(ROOT / "datasets"))
import distill_pore_model as student  # noqa: E402
import train_skin_models as common  # noqa: E402

TEACHER = ROOT / "models" / "pore_segmentation.onnx"
BIOSKIN = ROOT.parent / "shared" / "photos" / "closeups" / "bioskin"
# Session scales measured by dermascore (README, Sessions and device profiles).
SUBJECTS = [("1", 21.3), ("2", 23.3)]
TILE, HALO = 512, 16


def load(subject):
    from PIL import Image

    d = np.asarray(Image.open(BIOSKIN / f"{subject}.jpg").convert("RGB"))
    s = np.asarray(Image.open(BIOSKIN / f"{subject}_spec.jpg").convert("RGB"))
    m = np.asarray(Image.open(BIOSKIN / f"{subject}_mask.jpg").convert("L")) > 127
    return d, s, m


def register(d, s, m, n=60, size=256, seed=0):
    """The specular image's offset from the diffuse one, in pixels (dy, dx):
    d[y + dy, x + dx] shows what s[y, x] shows. Averaged cross-correlation of
    band-passed patches of skin; the peak is refined by a parabola. The two
    images' fine texture is anti-correlated (a lit ridge in the specular image
    is a shaded one in the diffuse), so the extreme is a minimum."""
    from scipy import ndimage as ndi

    gd, gs = d.mean(axis=2).astype(np.float32), s.mean(axis=2).astype(np.float32)
    rng = np.random.default_rng(seed)
    win = np.hanning(size)[:, None] * np.hanning(size)
    acc = np.zeros((size, size))
    got = 0
    while got < n:
        y, x = rng.integers(0, gd.shape[0] - size), rng.integers(0, gd.shape[1] - size)
        if m[y:y + size, x:x + size].mean() < 0.98:
            continue
        a, b = (ndi.gaussian_filter(g[y:y + size, x:x + size], 1.0) - ndi.gaussian_filter(g[y:y + size, x:x + size], 3.0)
                for g in (gd, gs))
        c = np.real(np.fft.ifft2(np.fft.fft2(a * win) * np.conj(np.fft.fft2(b * win))))
        acc += c / (np.sqrt(np.sum(a * a * win) * np.sum(b * b * win)) + 1e-9)
        got += 1
    acc = -np.fft.fftshift(acc) / n
    i, j = np.unravel_index(np.argmax(acc), acc.shape)

    def vertex(lo, mid, hi):
        den = lo - 2 * mid + hi
        return 0.0 if den == 0 else 0.5 * (lo - hi) / den

    dy = i - size // 2 + vertex(acc[i - 1, j], acc[i, j], acc[i + 1, j])
    dx = j - size // 2 + vertex(acc[i, j - 1], acc[i, j], acc[i, j + 1])
    return float(dy), float(dx), float(acc[i, j])


def to_canonical(d, s, m, px_per_mm, shift):
    """Both images at the pore model's 16 px/mm, the specular one moved onto
    the diffuse one (bilinear, before the box resampling)."""
    from PIL import Image
    from scipy import ndimage as ndi

    cpx = common.TASKS[student.TASK]["canonical_px_per_mm"]
    f = cpx / px_per_mm
    size = (round(d.shape[1] * f), round(d.shape[0] * f))
    grey = ndi.shift(s.mean(axis=2).astype(np.float32), shift, order=1, mode="nearest")
    s = np.repeat(np.clip(np.round(grey), 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    small = [np.asarray(Image.fromarray(a).resize(size, Image.BOX)) for a in (d, s)]
    mask = np.asarray(Image.fromarray(m.astype(np.uint8) * 255).resize(size, Image.BOX)) > 250
    return small[0], small[1], mask


def tiled(run, rgb, mask):
    """A model's probabilities over a whole canonical image, tile by tile as
    the pipeline runs it (each tile normalised by its own skin's median, a
    16-pixel halo); NaN where a tile has too little skin to normalise."""
    h0, w0 = mask.shape
    # The network halves and doubles: every tile's sides are even.
    rgb = np.pad(rgb, ((0, h0 % 2), (0, w0 % 2), (0, 0)))
    mask = np.pad(mask, ((0, h0 % 2), (0, w0 % 2)))
    h, w = mask.shape
    out = np.full((h, w), np.nan, np.float32)
    for y0 in range(0, h, TILE):
        for x0 in range(0, w, TILE):
            ya, yb = max(0, y0 - HALO), min(h, y0 + TILE + HALO)
            xa, xb = max(0, x0 - HALO), min(w, x0 + TILE + HALO)
            m = mask[ya:yb, xa:xb]
            if m.mean() < 0.2:
                continue
            v = common.normalise(rgb[ya:yb, xa:xb], m)
            v[~m] = 0.0
            p = run(v)
            cy, cx = slice(y0 - ya, y0 - ya + min(TILE, h - y0)), slice(x0 - xa, x0 - xa + min(TILE, w - x0))
            out[y0:y0 + TILE, x0:x0 + TILE] = p[cy, cx]
    out[~mask] = np.nan
    return out[:h0, :w0]


def onnx_runner(path):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda v: sess.run(None, {"image": np.transpose(v[None], (0, 3, 1, 2))})[0][0, 0]


def jax_runner(params):
    return lambda v: student.student_prob(params, v[None])[0, ..., 0]


def patches(spec, target, mask, n, seed, size=96):
    """Training pairs: specular patches normalised as the pipeline does (by
    their own skin's median; half cut by the mask's edge, outside = 0), with
    the diffuse reading as the target. A random gain on the normalised image
    stands in for a zone median taken over a wider area than the patch."""
    rng = np.random.default_rng(seed)
    xs, ts = [], []
    h, w = mask.shape
    while len(xs) < n:
        y, x = rng.integers(0, h - size), rng.integers(0, w - size)
        m = mask[y:y + size, x:x + size]
        t = target[y:y + size, x:x + size]
        if m.mean() < (1.0 if rng.random() < 0.5 else 0.4) or np.isnan(t[m]).any():
            continue
        v = common.normalise(spec[y:y + size, x:x + size], m)
        v = (v + 1.0) * rng.uniform(0.75, 1.33) - 1.0
        v[~m] = 0.0
        xs.append(v)
        ts.append(np.where(m, np.nan_to_num(t), 0.0)[..., None])
    return np.stack(xs).astype(np.float32), np.stack(ts).astype(np.float32)


def agreement(prob, target):
    """Pixel Dice and pore coverage of a reading against the diffuse one,
    over the skin both read."""
    ok = ~np.isnan(prob) & ~np.isnan(target)
    a, b = prob[ok] > 0.5, target[ok] > 0.5
    return {"pixel_dice": round(student.dice(a, b), 4),
            "coverage_pct": round(100 * float(a.mean()), 2),
            "diffuse_coverage_pct": round(100 * float(b.mean()), 2),
            "pixels": int(ok.sum())}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patches", type=int, default=3000, help="training patches per face")
    ap.add_argument("--steps", type=int, default=8000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--fold-models", type=Path, help="also write each fold's model here (fold_N.onnx: face N held out)")
    ap.add_argument("--smoke", action="store_true", help="a few steps on a few patches")
    args = ap.parse_args()
    if args.smoke:
        args.patches, args.steps = 32, 3
    t0 = time.time()
    teacher = onnx_runner(TEACHER)
    faces = {}
    for subject, px in SUBJECTS:
        d, s, m = load(subject)
        dy, dx, peak = register(d, s, m)
        dc, sc, mc = to_canonical(d, s, m, px, (dy, dx))
        target = tiled(teacher, dc, mc)
        as_colour = agreement(tiled(teacher, sc, mc), target)
        faces[subject] = {"spec": sc, "mask": mc, "target": target,
                          "shift_px": [round(dy, 2), round(dx, 2)], "registration_peak": round(peak, 3),
                          "colour_model_on_specular": as_colour}
        print(f"face {subject}: specular offset ({dy:.2f}, {dx:.2f}) px (peak {peak:.3f}), "
              f"{mc.shape[1]}x{mc.shape[0]} at 16 px/mm; the colour pore model on the specular image: "
              f"{as_colour} ({time.time() - t0:.0f}s)", flush=True)
    data = {k: patches(f["spec"], f["target"], f["mask"], args.patches, args.seed + int(k))
            for k, f in faces.items()}
    folds = {}
    for held in faces:
        taught = [k for k in faces if k != held]
        x = np.concatenate([data[k][0] for k in taught])
        t = np.concatenate([data[k][1] for k in taught])
        params = student.train(x, t, args.steps, args.batch, args.seed)
        f = faces[held]
        got = agreement(tiled(jax_runner(params), f["spec"], f["mask"]), f["target"])
        folds[held] = got
        if args.fold_models:
            args.fold_models.mkdir(parents=True, exist_ok=True)
            student.export_onnx(params, args.fold_models / f"fold_{held}.onnx")
        print(f"taught on face {'+'.join(taught)}, scored on face {held}: {got} ({time.time() - t0:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
