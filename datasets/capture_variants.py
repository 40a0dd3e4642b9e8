#!/usr/bin/env python3
"""Does dermascore stay silent on real normal skin when the same photo is
taken a little differently? A check for photos it has never seen.

`make` writes, for each real photo given, eight variants a clinic's camera
or export could plausibly produce: turned 10° in the frame (`rot10`), 0.7×
the pixels (`s07`), JPEG quality 50 (`q50`), 0.7× the brightness (`dark`),
mirrored (`flip`), 1.3× the colour saturation of a "vivid" camera mode
(`sat`), light falling off across the face to 0.4 of itself at the left
edge, in linear light, as from a window to one side (`side`), and a
small sensor's noise in dim light (shot and read noise in linear light,
`noise`). Four more (2026-12-06): stored upside down without an EXIF
orientation (`rot180`), a warm (tungsten-like) and a cool white balance
(linear red x1.3 and blue x0.7, and the reverse: `warm`, `cool`), and a
hat brim's hard grey shadow over the top fifth of the frame, at 0.4 of the
light (`brim`).
`make --grid` writes instead, per photo, a grid of re-encodings (2026-12-07):
the photo as it is, mirrored, turned 90° (stored on its side), 0.9x,
1.15x and 1.3x the pixels, with sRGB noise (SD 0.02) and sharpened
(PIL's sharpness 2.0), each saved at JPEG quality 50, 60, 70, 75, 80, 85,
90 and 95 (`g-<variant>-q<quality>`): messaging apps and exports re-encode
photos, and compression takes the colour of small spots first.
`make --edits` writes four edits per photo: contrast raised 1.15x and 1.3x
(`c115`, `c130`, as a camera's "vivid" setting) and JPEG quality 40 and 60.
`make --zoom` writes photos enlarged after capture: digital zoom (a centre
crop enlarged back to the frame) and whole-photo enlargement, 1.5x and 2x.
`make --passed-on` writes photos as they arrive after being passed on
(2026-12-07): re-saved at JPEG quality 10, 15, 25 and 35 (`q10` … `q35`),
and enlarged 3x, bicubic (`up30`) and bicubic then sharpened as a phone
or a web page might (`up30s`), with the original as `orig`.
`make --cut-outs` writes transparent cut-outs (2026-12-07): the photo
inside an ellipse of 0.86 x 0.94 of the frame, transparent outside it,
keeping the photo's colour under the transparency (`cut`) or black
(`cutk`) or white (`cutw`), as RGBA PNGs: the three must read alike.
`make --reduced PX_PER_MM` writes clinic photos (taken at PX_PER_MM)
reduced to 4-16 px/mm (`r04` ... `r16`; 2026-12-08), real skin at the
resolutions where one-photo scars and red lesions are read.
`summary` reads `analyze --plan` records of the originals and the variants
together and reports, per variant kind, what must not happen on normal skin
(scars, a Goodman & Baron grade >= 2, an inflamed-lesion or erythema
finding, any needling planned) and how far the face's pigmented share and
pore severity move from the original's reading.

Usage (the variants are written outside the repository; `tones/` is CC BY
4.0, Face Research Lab London Set, DeBruine & Jones 2017,
https://doi.org/10.6084/m9.figshare.5047666.v5):
    P=../shared/photos
    python3 datasets/capture_variants.py make --out /tmp/variants \
        $P/faces/*.jpg $P/faces/*.png $P/tones/*.jpg \
        $P/closeups/bioskin/1.jpg $P/closeups/bioskin/2.jpg $P/distance/15cm.jpg
    dermascore analyze /tmp/variants --plan --overlays --out /tmp/variants-out
    python3 datasets/capture_variants.py summary /tmp/variants-out/results.jsonl
The grid of one photo (the one with a mole that compression turns grey):
    python3 datasets/capture_variants.py make --grid --out /tmp/grid $P/distance/15cm.jpg
    dermascore analyze /tmp/grid --plan --out /tmp/grid-out
    python3 datasets/capture_variants.py summary /tmp/grid-out/results.jsonl
"""
import argparse
import json
import os
import statistics
import sys
from collections import defaultdict

KINDS = ("rot10", "s07", "q50", "dark", "flip", "sat", "side", "noise", "rot180", "warm", "cool",
         "brim")
HARM_RULES = ("rules.inflamed_lesions", "rules.widespread_erythema",
              "rules.suspected_sunburn")


def stem_of(path):
    """Photo name without extension; BioSkin's `1.jpg` becomes `bioskin-1`
    so that it does not collide with other numbered photos."""
    base = os.path.splitext(os.path.basename(path))[0]
    parent = os.path.basename(os.path.dirname(path))
    return f"{parent}-{base}" if parent == "bioskin" else base


def side_lit(im):
    """The photo under light that falls off linearly from 1.0 at the right
    edge to 0.4 at the left, applied in linear light."""
    import numpy as np

    return in_linear_light(
        im, lambda lin: lin * np.linspace(0.4, 1.0, lin.shape[1], dtype=np.float32)[None, :, None])


def in_linear_light(im, f):
    """`f` applied to the photo's linear-light values (sRGB curve), as a
    camera's white balance or the light itself would act."""
    import numpy as np
    from PIL import Image

    v = np.asarray(im).astype(np.float32) / 255
    lin = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    lin = f(lin)
    srgb = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * np.clip(lin, 0, None) ** (1 / 2.4) - 0.055)
    return Image.fromarray((np.clip(srgb, 0, 1) * 255 + 0.5).astype(np.uint8))


def brim_shadow(lin):
    """Light at 0.4 over the top fifth of the frame, a hard edge."""
    out = lin.copy()
    out[: lin.shape[0] // 5] *= 0.4
    return out


def noisy(im, rng):
    """Shot noise (variance proportional to the linear signal) and read
    noise, per channel, in linear light (2.2 gamma), as a phone camera at
    high ISO."""
    import numpy as np
    from PIL import Image

    v = np.asarray(im).astype(np.float32) / 255
    lin = v ** 2.2
    lin = lin + rng.normal(0, 1, lin.shape) * np.sqrt(0.0004 * lin + 0.00002)
    out = np.clip(lin, 0, 1) ** (1 / 2.2)
    return Image.fromarray((out * 255 + 0.5).astype(np.uint8))


GRID_QUALITIES = (50, 60, 70, 75, 80, 85, 90, 95)


def opened(photos, out, seed):
    """Each photo as RGB with its stem, and one random generator for all,
    after making `out`."""
    from PIL import Image

    import numpy as np

    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(seed)
    for path in photos:
        yield path, Image.open(path).convert("RGB"), stem_of(path), rng


def make_grid(photos, out):
    from PIL import Image, ImageEnhance, ImageOps

    import numpy as np

    for _, im, stem, rng in opened(photos, out, 2):
        w, h = im.size
        a = np.asarray(im).astype(np.float32) / 255
        variants = {
            "orig": im,
            "mirror": ImageOps.mirror(im),
            "rot90": im.transpose(Image.ROTATE_90),
            "s090": im.resize((round(w * 0.9), round(h * 0.9)), Image.LANCZOS),
            "s115": im.resize((round(w * 1.15), round(h * 1.15)), Image.LANCZOS),
            "s130": im.resize((round(w * 1.3), round(h * 1.3)), Image.LANCZOS),
            "noise": Image.fromarray(
                (np.clip(a + rng.normal(0, 0.02, a.shape), 0, 1) * 255).astype(np.uint8)),
            "sharp": ImageEnhance.Sharpness(im).enhance(2.0),
        }
        for kind, v in variants.items():
            for q in GRID_QUALITIES:
                v.save(os.path.join(out, f"{stem}__g-{kind}-q{q}.jpg"), quality=q)
    print(f"{len(photos)} photos, {len(photos) * 8 * len(GRID_QUALITIES)} files in {out}",
          file=sys.stderr)


def make_edits(photos, out):
    """Edits a camera or an export applies: contrast raised 1.15x and 1.3x
    (PIL's `ImageEnhance.Contrast`, saved at quality 90; `c115`, `c130`) and
    re-encoding at JPEG quality 40 and 60 (`q40`, `q60`)."""
    from PIL import ImageEnhance

    for _, im, stem, _ in opened(photos, out, 0):
        for c in (1.15, 1.3):
            ImageEnhance.Contrast(im).enhance(c).save(
                os.path.join(out, f"{stem}__c{round(c * 100)}.jpg"), quality=90)
        for q in (40, 60):
            im.save(os.path.join(out, f"{stem}__q{q}.jpg"), quality=q)
    print(f"{len(photos)} photos, {len(photos) * 4} files in {out}", file=sys.stderr)


REDUCED_PX_PER_MM = (4, 5, 6, 7, 8, 10, 12, 14, 16)


def make_reduced(photos, out, px_per_mm):
    """Clinic photos reduced to what consultation cameras take: each photo,
    taken at `px_per_mm`, resampled (Lanczos) to 4-16 px/mm (`r04` ...
    `r16`), saved at quality 92. Reduced, not enlarged, so the skin keeps
    its own detail: real skin at the resolutions where one-photo scars and
    red lesions are read."""
    from PIL import Image

    n = 0
    for path, im, stem, _ in opened(photos, out, 0):
        os.symlink(os.path.abspath(path),
                   os.path.join(out, f"{stem}__orig{os.path.splitext(path)[1]}"))
        w, h = im.size
        for t in REDUCED_PX_PER_MM:
            if t >= px_per_mm:
                continue
            f = t / px_per_mm
            im.resize((round(w * f), round(h * f)), Image.LANCZOS).save(
                os.path.join(out, f"{stem}__r{t:02d}.jpg"), quality=92)
            n += 1
    print(f"{len(photos)} photos, {n} files in {out}", file=sys.stderr)


def make_zoom(photos, out):
    """Photos enlarged after capture: a centre crop enlarged back to the
    frame (a phone's digital zoom; `zoom15`, `zoom20`) and the whole photo
    enlarged (`up15`, `up20`), 1.5x and 2x, bicubic, saved at quality 90.
    Their scale reads finer than the detail they hold."""
    from PIL import Image

    for _, im, stem, _ in opened(photos, out, 0):
        w, h = im.size
        for f in (1.5, 2.0):
            cw, ch = int(w / f), int(h / f)
            x0, y0 = (w - cw) // 2, (h - ch) // 2
            im.crop((x0, y0, x0 + cw, y0 + ch)).resize((w, h), Image.BICUBIC).save(
                os.path.join(out, f"{stem}__zoom{round(f * 10)}.jpg"), quality=90)
            im.resize((int(w * f), int(h * f)), Image.BICUBIC).save(
                os.path.join(out, f"{stem}__up{round(f * 10)}.jpg"), quality=90)
    print(f"{len(photos)} photos, {len(photos) * 4} files in {out}", file=sys.stderr)


def make_passed_on(photos, out):
    """Heavy re-compression and 3x enlargement: what made normal faces
    get needling plans, erythema, false scars and an inflamed-acne deferral
    before `heavily_compressed` and `enlarged` (docs/harm-on-real-skin.md)."""
    from PIL import Image, ImageFilter

    for path, im, stem, _ in opened(photos, out, 0):
        w, h = im.size
        for q in (10, 15, 25, 35):
            im.save(os.path.join(out, f"{stem}__q{q}.jpg"), quality=q)
        big = im.resize((w * 3, h * 3), Image.BICUBIC)
        big.save(os.path.join(out, f"{stem}__up30.jpg"), quality=90)
        big.filter(ImageFilter.UnsharpMask(radius=3, percent=150, threshold=2)).save(
            os.path.join(out, f"{stem}__up30s.jpg"), quality=85)
        os.symlink(os.path.abspath(path),
                   os.path.join(out, f"{stem}__orig{os.path.splitext(path)[1]}"))
    print(f"{len(photos)} photos, {len(photos) * 7} files in {out}", file=sys.stderr)


def make_cut_outs(photos, out):
    """Background removed: transparent outside an ellipse of 0.86 x 0.94 of
    the frame, with the photo's colour kept under the transparency
    (`cut`), black (`cutk`) or white (`cutw`); RGBA PNGs."""
    from PIL import Image, ImageDraw

    import numpy as np

    for path, im, stem, _ in opened(photos, out, 0):
        w, h = im.size
        alpha = Image.new("L", (w, h), 0)
        ImageDraw.Draw(alpha).ellipse([0.07 * w, 0.03 * h, 0.93 * w, 0.97 * h], fill=255)
        a = np.array(alpha)
        for kind, under in (("cut", None), ("cutk", 0), ("cutw", 255)):
            rgb = np.array(im)
            if under is not None:
                rgb[a == 0] = under
            Image.fromarray(np.dstack([rgb, a]), "RGBA").save(
                os.path.join(out, f"{stem}__{kind}.png"))
        os.symlink(os.path.abspath(path),
                   os.path.join(out, f"{stem}__orig{os.path.splitext(path)[1]}"))
    print(f"{len(photos)} photos, {len(photos) * 4} files in {out}", file=sys.stderr)


def make(photos, out):
    from PIL import Image, ImageEnhance, ImageOps

    import numpy as np

    for path, im, stem, rng in opened(photos, out, 7):
        w, h = im.size
        variants = {
            "rot10": im.rotate(10, resample=Image.BICUBIC, fillcolor=(128, 128, 128)),
            "s07": im.resize((round(w * 0.7), round(h * 0.7)), Image.LANCZOS),
            "dark": ImageEnhance.Brightness(im).enhance(0.7),
            "flip": ImageOps.mirror(im),
            "sat": ImageEnhance.Color(im).enhance(1.3),
        }
        variants["side"] = side_lit(im)
        variants["noise"] = noisy(im, rng)
        variants["rot180"] = im.rotate(180)
        variants["warm"] = in_linear_light(im, lambda v: v * np.array([1.3, 1.0, 0.7], np.float32))
        variants["cool"] = in_linear_light(im, lambda v: v * np.array([0.7, 1.0, 1.3], np.float32))
        variants["brim"] = in_linear_light(im, brim_shadow)
        for kind, v in variants.items():
            v.save(os.path.join(out, f"{stem}__{kind}.jpg"), quality=92)
        im.save(os.path.join(out, f"{stem}__q50.jpg"), quality=50)
        # The original beside its variants, unchanged, as the reference.
        os.symlink(os.path.abspath(path),
                   os.path.join(out, f"{stem}__orig{os.path.splitext(path)[1]}"))
    print(f"{len(photos)} photos, {len(photos) * (len(KINDS) + 1)} files in {out}",
          file=sys.stderr)


def reading(rec):
    scars = (rec.get("acne_scars") or {}).get("face") or {}
    plan = rec.get("plan") or {}
    pig = ((rec.get("pigmentation") or {}).get("face") or {}).get("pigmented_pct")
    pores = (((rec.get("pores") or {}).get("face") or {}).get("severity") or {}).get("value")
    return {
        "scars": scars.get("count"),
        "grade": scars.get("goodman_baron_grade"),
        "harm_rules": [f["rule"] for f in plan.get("findings", []) if f["rule"] in HARM_RULES],
        "zones_planned": len(plan.get("zones", [])),
        "pigmented_pct": pig,
        "pore_severity": pores,
    }


def summary(results):
    by_photo = defaultdict(dict)
    with open(results) as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("type") != "image":
                continue
            name = os.path.splitext(os.path.basename(rec["input"]["path"]))[0]
            stem, _, kind = name.rpartition("__")
            by_photo[stem][kind] = reading(rec) if rec.get("status") == "ok" else None
    print("kind   photos  scars  grade>=2  harm-findings  planned-zones  "
          "pigment shift (median |pp|, max)  pore shift (median |pts|, max)")
    problems = []
    found = {k for r in by_photo.values() for k in r}
    for kind in ("orig",) + KINDS + tuple(sorted(found - set(KINDS) - {"orig"})):
        rows = [(stem, r[kind], r.get("orig")) for stem, r in sorted(by_photo.items())
                if r.get(kind) is not None]
        scars = sum(v["scars"] or 0 for _, v, _ in rows)
        graded = [s for s, v, _ in rows if (v["grade"] or 0) >= 2]
        harms = [s for s, v, _ in rows if v["harm_rules"]]
        planned = [s for s, v, _ in rows if v["zones_planned"]]
        problems += [f"{s}__{kind}" for s in graded + harms + planned]

        def shifts(key):
            d = [abs(v[key] - o[key]) for _, v, o in rows
                 if o and v[key] is not None and o[key] is not None]
            return f"{statistics.median(d):5.1f}, {max(d):5.1f} (n={len(d)})" if d else "-"
        print(f"{kind:6s} {len(rows):6d} {scars:6d} {len(graded):9d} {len(harms):14d} "
              f"{len(planned):14d}  {shifts('pigmented_pct'):34s} {shifts('pore_severity')}")
    with_scars = [f"{s}__{k}" for s, r in sorted(by_photo.items()) for k, v in sorted(r.items())
                  if v is not None and (v["scars"] or 0) > 0]
    total = sum(v is not None for r in by_photo.values() for v in r.values())
    print(f"files with a scar: {len(with_scars)} of {total}"
          + (f" ({', '.join(with_scars)})" if with_scars else ""))
    if problems:
        print("photos with a harm:", ", ".join(problems))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--out", required=True)
    m.add_argument("--grid", action="store_true",
                   help="re-encodings at eight JPEG qualities instead of the capture variants")
    m.add_argument("--edits", action="store_true",
                   help="contrast raised 1.15x and 1.3x, and JPEG quality 40 and 60, instead")
    m.add_argument("--zoom", action="store_true",
                   help="digital zoom and enlargement, 1.5x and 2x, instead")
    m.add_argument("--passed-on", action="store_true",
                   help="JPEG quality 10-35 and 3x enlargement instead")
    m.add_argument("--cut-outs", action="store_true",
                   help="transparent cut-outs over three backgrounds instead")
    m.add_argument("--reduced", type=float, metavar="PX_PER_MM",
                   help="the photos (taken at this scale) reduced to 4-16 px/mm instead")
    m.add_argument("photos", nargs="+")
    s = sub.add_parser("summary")
    s.add_argument("results")
    a = ap.parse_args()
    if a.cmd == "make" and a.grid:
        make_grid(a.photos, a.out)
    elif a.cmd == "make" and a.edits:
        make_edits(a.photos, a.out)
    elif a.cmd == "make" and a.zoom:
        make_zoom(a.photos, a.out)
    elif a.cmd == "make" and a.passed_on:
        make_passed_on(a.photos, a.out)
    elif a.cmd == "make" and a.cut_outs:
        make_cut_outs(a.photos, a.out)
    elif a.cmd == "make" and a.reduced:
        make_reduced(a.photos, a.out, a.reduced)
    elif a.cmd == "make":
        make(a.photos, a.out)
    else:
        summary(a.results)


if __name__ == "__main__":
    main()
