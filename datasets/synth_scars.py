#!/usr/bin/env python3
"""Ground-truthed synthetic skin relief with atrophic acne scars, rendered
physically, for training and evaluating the acne-scar measurements.

A height map (mm) is built from
  * scars of known type, width and depth (Jacob et al. 2001): ice-pick
    (0.5-1.8 mm wide, 0.3-1.0 mm deep, narrowing cone), box-car (1.5-4 mm,
    flat floor, sharp walls 0.08-0.25 mm wide; shallow 0.1-0.5 mm or deep
    0.5-1.0 mm) and rolling (5-9 mm, 0.1-0.5 mm, smooth sloped walls), each an
    irregular ellipse;
  * skin texture: fine relief, pores (pits 0.1-0.3 mm), a gentle facial
    curvature;
and an albedo from the two-chromophore skin model of synth_skin.py (ITA very
light to dark) with pigmented macules that are not depressed (distractors)
and some scars with lighter or darker floors.

It is lit by a distant light of known direction: Lambertian diffuse with
attached and cast shadows, ambient fill, and a Blinn-Phong specular lobe of
random strength (oily to matte skin); then exposure, white balance, camera
resolution, blur, noise and JPEG as in synth_skin.py. A clinic photo has
more ambient fill and shine than a multi-light device capture, which images
the same relief under several directions in an enclosure with
cross-polarised LEDs (CLINIC and DEVICE below).

Ground truth per scar: type, centre (mm), nominal width, width at 10 % of
its depth (the extent the Rust pipeline measures: a scar is where the skin
lies at least 10 % of the scar's depth below the local surface), depth (mm).
The training label is that 10 %-depth region, and the depth target is the
scars' depth below the surrounding skin (texture excluded).

Usage:
  python3 datasets/synth_scars.py eval --out DIR      # held-out evaluation captures
  python3 datasets/synth_scars.py near --out DIR      # held-out near-field rig sets, per skin tone
  python3 datasets/synth_scars.py demo --out datasets/demo/S001/2026-11-02   # the demo capture set
Training draws patches in memory (models/train/train_scar_model.py).
"""
import argparse
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

import synth_skin as skin

SCAR_CANONICAL_PX_PER_MM = 4.0
# A scar's extent: where it is at least this share of its depth deep.
EXTENT_FRACTION = 0.1

KINDS = ("ice_pick", "boxcar", "rolling")


# ---------------------------------------------------------------- scars
def profile(kind, rho, wall_rho):
    """Depth as a share of the scar's depth at normalised radius rho (1 on
    the rim)."""
    rho = np.asarray(rho)
    if kind == "ice_pick":
        return np.clip(1 - rho, 0, 1) ** 0.8
    if kind == "boxcar":
        t = np.clip((1 - rho) / wall_rho, 0, 1)
        return t * t * (3 - 2 * t)
    return np.where(rho < 1, 0.5 * (1 + np.cos(np.pi * np.clip(rho, 0, 1))), 0.0)


def extent_rho(kind, wall_rho):
    """Normalised radius where the profile falls to EXTENT_FRACTION."""
    r = np.linspace(0, 1, 20001)
    p = profile(kind, r, wall_rho)
    return float(r[np.nonzero(p >= EXTENT_FRACTION)[0].max()])


def draw_scar(rng, kind, cx, cy):
    if kind == "ice_pick":
        width, depth, wall = rng.uniform(0.5, 1.8), rng.uniform(0.3, 1.0), 0.0
    elif kind == "boxcar":
        width = rng.uniform(1.5, 4.0)
        depth = rng.uniform(0.1, 0.5) if rng.random() < 0.5 else rng.uniform(0.5, 1.0)
        wall = rng.uniform(0.08, 0.25)
    else:
        width, depth, wall = rng.uniform(5.0, 9.0), rng.uniform(0.1, 0.5), 0.0
    aspect = rng.uniform(1.0, 1.35)
    r = width / 2
    rx, ry = r * np.sqrt(aspect), r / np.sqrt(aspect)
    wall_rho = max(wall / r, 1e-3) if kind == "boxcar" else 1.0
    e = extent_rho(kind, wall_rho)
    typ = kind if kind != "boxcar" else ("boxcar_deep" if depth > 0.5 else "boxcar_shallow")
    return {
        "kind": kind, "type": typ, "cx_mm": cx, "cy_mm": cy,
        "nominal_width_mm": width, "width_mm": width * e, "area_mm2": np.pi * rx * ry * e * e,
        "depth_mm": depth, "wall_mm": wall, "rx_mm": rx, "ry_mm": ry,
        "angle": rng.uniform(0, np.pi), "wall_rho": wall_rho,
        "floor_albedo": float(np.exp(rng.normal(0, 0.08))) if rng.random() < 0.4 else 1.0,
    }


def plant(rng, size_mm, n):
    """Up to n scars that do not overlap, away from the patch edge."""
    scars = []
    for _ in range(n * 20):
        if len(scars) >= n:
            break
        kind = KINDS[rng.choice(3, p=[0.35, 0.4, 0.25])]
        probe = draw_scar(rng, kind, 0.0, 0.0)
        margin = probe["nominal_width_mm"] / 2 + 0.5
        if size_mm < 2 * margin + 0.5:
            continue
        cx, cy = rng.uniform(margin, size_mm - margin, 2)
        if all(np.hypot(cx - s["cx_mm"], cy - s["cy_mm"]) > (probe["nominal_width_mm"] + s["nominal_width_mm"]) / 2 + 0.8
               for s in scars):
            probe["cx_mm"], probe["cy_mm"] = float(cx), float(cy)
            scars.append(probe)
    return scars


def scar_fields(scars, h, w, px):
    """Depth below the surrounding skin (mm, >= 0), the 10 %-depth label, and
    the albedo factor of scar floors."""
    depth = np.zeros((h, w))
    label = np.zeros((h, w), bool)
    floor = np.ones((h, w))
    for s in scars:
        ext = max(s["rx_mm"], s["ry_mm"]) + 2 / px
        sy, sx = skin.blob_window(h, w, s["cx_mm"], s["cy_mm"], ext, px)
        yy, xx = np.mgrid[sy, sx]
        x = (xx + 0.5) / px - s["cx_mm"]
        y = (yy + 0.5) / px - s["cy_mm"]
        c, si = np.cos(s["angle"]), np.sin(s["angle"])
        rho = np.hypot((c * x + si * y) / s["rx_mm"], (-si * x + c * y) / s["ry_mm"])
        p = profile(s["kind"], rho, s["wall_rho"])
        depth[sy, sx] = np.maximum(depth[sy, sx], s["depth_mm"] * p)
        label[sy, sx] |= p >= EXTENT_FRACTION
        floor[sy, sx] *= 1 + (s["floor_albedo"] - 1) * p
    return depth, label, floor


def texture(rng, h, w, px, size_mm):
    """Skin relief without scars (mm): fine texture, pores, curvature."""
    z = 0.012 * skin.fbm(rng, h, w, px, [0.08, 0.3], [0.7, 0.7])
    # Pores: small pits, too small to be scars.
    n = rng.poisson(rng.uniform(20, 120) * size_mm * size_mm / 100)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(n):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.05, 0.15) * px
        if r < 0.5:
            continue
        sy = slice(max(0, int(cy - 2 * r)), min(h, int(cy + 2 * r) + 2))
        sx = slice(max(0, int(cx - 2 * r)), min(w, int(cx + 2 * r) + 2))
        d2 = (xx[sy, sx] - cx) ** 2 + (yy[sy, sx] - cy) ** 2
        z[sy, sx] -= rng.uniform(0.03, 0.1) * np.exp(-d2 / (2 * (0.6 * r) ** 2))
    # Facial curvature: radius 30-150 mm, a paraboloid.
    k = 1 / rng.uniform(30, 150)
    u, v = (xx + 0.5) / px - size_mm / 2, (yy + 0.5) / px - size_mm / 2
    z += -0.5 * k * (u ** 2 + rng.uniform(0.3, 1.0) * v ** 2)
    return z


# ---------------------------------------------------------------- lighting
def light_from(azimuth_deg, elevation_deg):
    """Unit direction towards the light: x right, y down (image axes), z to
    the camera."""
    a, e = np.radians(azimuth_deg), np.radians(elevation_deg)
    return np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])


def ring(k, elevation_deg, start_deg=0.0):
    return [light_from(start_deg + 360.0 * i / k, elevation_deg) for i in range(k)]


def cast_shadow(z, px, l):
    """1 where the light reaches the surface, 0 where relief blocks it."""
    h, w = z.shape
    horiz = np.hypot(l[0], l[1])
    if horiz < 1e-6:
        return np.ones_like(z)
    rise = l[2] / horiz / px  # mm of height per pixel travelled towards the light
    dx, dy = l[0] / horiz, l[1] / horiz
    lit = np.ones_like(z, bool)
    span = np.ptp(z)
    steps = int(min(span / max(rise, 1e-9), 2 * px * 3)) + 1
    pad = steps + 2
    zp = np.pad(z, pad, mode="edge")
    for t in range(1, steps + 1):
        ox, oy = int(round(dx * t)), int(round(dy * t))
        ahead = zp[pad + oy:pad + oy + h, pad + ox:pad + ox + w]
        lit &= ahead <= z + rise * t
    return lit.astype(np.float64)


def shade(z, px, l, albedo, specular, shininess, ambient):
    """Linear RGB radiance of relief z (mm) with albedo (h, w, 3)."""
    gy, gx = np.gradient(z, 1 / px)
    n = np.stack([-gx, -gy, np.ones_like(z)], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    ndl = np.clip(n @ l, 0, None) * cast_shadow(z, px, l)
    half = l + np.array([0, 0, 1.0])
    half /= np.linalg.norm(half)
    spec = specular * np.clip(n @ half, 0, None) ** shininess * (ndl > 0)
    # Diffuse normalised so that flat skin has the same brightness whatever
    # the elevation (the camera's exposure would do this).
    diffuse = (ambient + (1 - ambient) * ndl / max(l[2], 0.2))
    return albedo * diffuse[..., None] + spec[..., None]


def camera(rng, lin, render_scale, light):
    """Exposure, white balance, resolution, blur, noise, JPEG."""
    img = lin * light["exposure"] * np.asarray(light["white_balance"])[None, None, :]
    srgb = skin.linear_to_srgb(img)
    pil = Image.fromarray((np.clip(srgb, 0, 1) * 255 + 0.5).astype(np.uint8))
    h, w, _ = lin.shape
    pil = pil.resize((max(1, round(w / render_scale)), max(1, round(h / render_scale))), Image.BOX)
    arr = np.asarray(pil).astype(np.float64)
    if light["blur_px"] > 0.05:
        for ch in range(3):
            arr[..., ch] = skin.gaussian(arr[..., ch], light["blur_px"])
    arr += rng.normal(0, light["noise"], arr.shape)
    pil = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=int(light["jpeg_quality"]))
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def random_camera(rng):
    return {
        "exposure": float(rng.uniform(0.75, 1.25)),
        "white_balance": [float(g) for g in rng.uniform(0.9, 1.1, 3)],
        "blur_px": float(rng.uniform(0, 0.8)),
        "noise": float(rng.uniform(0, 3)),
        "jpeg_quality": int(rng.integers(70, 96)),
    }


# ---------------------------------------------------------------- scenes
def scene(rng, size_mm, px, n_scars, ita_range=(-50, 70)):
    """Relief (mm), albedo (linear RGB), scar depth, label, truth list, at px."""
    h = w = int(round(size_mm * px))
    scars = plant(rng, size_mm, n_scars)
    depth, label, floor = scar_fields(scars, h, w, px)
    z = texture(rng, h, w, px, size_mm) - depth
    base, ita, mel, hem, _ = skin.skin_field(rng, h, w, px, ita_range)
    # Pigmented macules without depression: they must not read as scars.
    for _ in range(rng.integers(0, 4)):
        cx, cy = rng.uniform(0, size_mm, 2)
        rad = rng.uniform(0.5, 2.5)
        win = skin.blob_window(h, w, cx, cy, 2 * rad, px)
        d = skin.blob_mask(rng, h, w, cx, cy, rad, rad * rng.uniform(0.7, 1), rng.uniform(0, np.pi), 0.2, px, win)
        mel[win] += rng.uniform(0.1, 0.35) * np.clip(1.5 - d, 0, 1)
    albedo = skin.compose(base, mel, hem, floor)
    return z, albedo, depth, label, scars, ita


# Lighting conditions. A clinic photo has ambient fill and skin shine; a
# multi-light 3-D skin camera images in an enclosure (little ambient light)
# with cross-polarised LEDs (little specular reflection).
CLINIC = {"ambient": (0.05, 0.3), "specular": (0.0, 0.25)}
DEVICE = {"ambient": (0.0, 0.03), "specular": (0.0, 0.08)}


def photograph(rng, z, albedo, px, lights, conditions, cam_px, cam=None):
    """Camera images of relief z (mm) and albedo under each light."""
    cam = cam or random_camera(rng)
    ambient = float(rng.uniform(*conditions["ambient"]))
    specular = float(rng.uniform(*conditions["specular"]))
    shininess = float(rng.uniform(8, 40))
    images = [camera(rng, shade(z, px, np.asarray(l), albedo, specular, shininess, ambient) * 0.6, px / cam_px, cam)
              for l in lights]
    return images, {"ambient": ambient, "specular": specular, "camera": cam}


def render_capture(rng, size_mm, cam_px, lights, n_scars=None, render_scale=2, single_light=None):
    """The same relief photographed by a multi-light device under each of
    `lights`, and, if `single_light` is given, once more as a clinic photo
    under that light. Returns (device images, clinic image or None, truth)."""
    px = cam_px * render_scale
    n = n_scars if n_scars is not None else int(rng.integers(0, 7))
    z, albedo, depth, label, scars, ita = scene(rng, size_mm, px, n)
    images, device = photograph(rng, z, albedo, px, lights, DEVICE, cam_px)
    single, clinic = None, None
    if single_light is not None:
        single, clinic = photograph(rng, z, albedo, px, [single_light], CLINIC, cam_px)
        single = single[0]
    truth = {
        "px_per_mm": cam_px, "size_mm": size_mm, "ita_deg": ita,
        "lights": [[float(v) for v in l] for l in lights], "device": device,
        "single_light": None if single_light is None else [float(v) for v in single_light], "clinic": clinic,
        "scars": [{k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in s.items()
                   if k not in ("wall_rho", "floor_albedo")} for s in scars],
    }
    return images, single, truth


def downsample(a, f):
    """Mean over f x f blocks (f integer)."""
    h, w = a.shape[0] // f * f, a.shape[1] // f * f
    return a[:h, :w].reshape(h // f, f, w // f, f).mean(axis=(1, 3))


def training_example(rng, size_px=128):
    """One single-photo training patch at the canonical resolution: (image
    uint8 HxWx3, depth target mm, label)."""
    cpx = SCAR_CANONICAL_PX_PER_MM
    size_mm = size_px / cpx
    cam_px = float(np.exp(rng.uniform(np.log(4.0), np.log(15.0))))
    l = light_from(rng.uniform(0, 360), rng.uniform(25, 75))
    # Render on a grid that is a whole multiple of the canonical one, so the
    # targets can be block-averaged exactly.
    f = int(np.ceil(cam_px * 2 / cpx))
    render_px = cpx * f
    z, albedo, depth, label, scars, _ = scene(rng, size_mm, render_px, int(rng.integers(0, 6)))
    cam = photograph(rng, z, albedo, render_px, [l], CLINIC, cam_px)[0][0]
    canon = np.asarray(skin.to_canonical(cam, cam_px, cpx, size_px))
    return canon, downsample(depth, f).astype(np.float32), (downsample(label.astype(float), f) >= 0.5)


# ---------------------------------------------------------------- files
EVAL_PX = [5, 10, 20]
EVAL_LIGHTS = 6
EVAL_ELEVATION = 45.0


def write_capture(out: Path, stem: str, images, single, truth, index):
    files = []
    for k, img in enumerate(images):
        name = f"{stem}_L{k}.png"
        img.save(out / name)
        files.append(name)
    truth["files"] = files
    if single is not None:
        single.save(out / f"{stem}_single.png")
        truth["single"] = f"{stem}_single.png"
    truth["name"] = stem
    index.append(truth)


def write_eval(out: Path, per_px: int, seed: int):
    """Held-out captures (seeds disjoint from training): each a 30 mm patch
    under EVAL_LIGHTS device lights on a ring at 45 degrees, and one clinic
    photo of the same skin under a light from a random direction 30-60
    degrees above the skin."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    index = []
    for px in EVAL_PX:
        for i in range(per_px):
            lights = ring(EVAL_LIGHTS, EVAL_ELEVATION, rng.uniform(0, 360))
            single = light_from(rng.uniform(0, 360), rng.uniform(30, 60))
            images, one, truth = render_capture(rng, 30.0, px, lights, n_scars=int(rng.integers(3, 7)),
                                                render_scale=2 if px <= 10 else 1, single_light=single)
            write_capture(out, f"px{px}_{i:02d}", images, one, truth, index)
    (out / "truth.json").write_text(json.dumps({"seed": seed, "captures": index}, indent=1))
    print(f"wrote {len(index)} evaluation captures to {out}")


def write_demo(out: Path, seed: int):
    """The demo capture set: a 40 mm cheek close-up at 10 px/mm under four
    device lights, with the sidecar (capture.json) naming the set, each
    light's direction and the device's scale, and the planted scars."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    lights = ring(4, 45.0, 30.0)
    images, _, truth = render_capture(rng, 40.0, 10.0, lights, n_scars=6)
    photos = []
    for k, img in enumerate(images):
        name = f"cheek_L{k}.jpg"
        img.save(out / name, quality=92)
        photos.append({"file": name, "light_dir": [round(float(v), 4) for v in lights[k]]})
    sidecar = {"capture_set": "left_cheek", "close_up": True, "px_per_mm": 10.0, "photos": photos}
    (out / "capture.json").write_text(json.dumps(sidecar, indent=1) + "\n")
    truth["files"] = [p["file"] for p in photos]
    (out / "scar_ground_truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    print(f"wrote the demo capture set ({len(images)} lights, {len(truth['scars'])} scars) to {out}")


# ---------------------------------------------------------------- near-field rigs
# A real multi-light rig: 8 LEDs 0.5-0.8 m from the face on a ring around the
# camera, of unequal brightness (calibrated), one exposure for the whole set.
# Across a face the direction to each LED changes by 10-20 degrees and its
# irradiance by the inverse square of the distance; photos lit from one side
# are dark or clipped on parts of the skin.
NEAR_LIGHTS = 8
# ITA ranges of the six Chardon categories, very light to dark.
TONES = {"very_light": (56, 70), "light": (42, 55), "intermediate": (29, 40),
         "tan": (11, 27), "brown": (-29, 9), "dark": (-50, -31)}


def near_rig(rng):
    """Positions (mm, from where the optical axis meets the skin; x right,
    y down, z towards the camera) and relative intensities of a rig's LEDs."""
    d = rng.uniform(500, 800)
    off_axis = np.radians(rng.uniform(28, 42))
    start = rng.uniform(0, 2 * np.pi)
    pos = []
    for k in range(NEAR_LIGHTS):
        a = start + 2 * np.pi * k / NEAR_LIGHTS
        r = d * np.tan(off_axis) * rng.uniform(0.9, 1.1)
        pos.append(np.array([r * np.cos(a), r * np.sin(a), d * rng.uniform(0.95, 1.05)]))
    # Up to about 4.6x between the brightest and the dimmest LED.
    intensity = rng.uniform(0.35, 1.6, NEAR_LIGHTS)
    return pos, intensity


def shade_near(z, px, origin_mm, pos, intensity, albedo, specular, shininess, ambient):
    """Linear RGB radiance of relief z (mm) at px px/mm whose top-left corner
    lies at origin_mm in the capture frame, lit by a near light at pos with
    relative intensity (irradiance `intensity` at the frame's origin,
    falling off as 1/r^2). Cast shadows along the direction at the patch's
    centre (it turns by under 3 degrees across the patch)."""
    h, w = z.shape
    yy, xx = np.mgrid[0:h, 0:w]
    X = origin_mm[0] + (xx + 0.5) / px
    Y = origin_mm[1] + (yy + 0.5) / px
    L = np.stack([pos[0] - X, pos[1] - Y, pos[2] - z], -1)
    r2 = np.sum(L * L, -1)
    L /= np.sqrt(r2)[..., None]
    irradiance = intensity * np.dot(pos, pos) / r2
    gy, gx = np.gradient(z, 1 / px)
    n = np.stack([-gx, -gy, np.ones_like(z)], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    lc = L[h // 2, w // 2]
    ndl = np.clip(np.sum(n * L, -1), 0, None) * cast_shadow(z, px, lc)
    half = L + np.array([0, 0, 1.0])
    half /= np.linalg.norm(half, axis=-1, keepdims=True)
    spec = specular * np.clip(np.sum(n * half, -1), 0, None) ** shininess * (ndl > 0)
    diffuse = ambient + (1 - ambient) * ndl * irradiance
    return albedo * diffuse[..., None] + (spec * irradiance)[..., None]


def render_near(rng, size_mm, cam_px, tone, n_scars):
    """One near-field capture set of a 30 mm patch placed off the axis (a
    cheek or a temple with the camera on the nose)."""
    render_scale = 2 if cam_px <= 10 else 1
    px = cam_px * render_scale
    z, albedo, depth, label, scars, ita = scene(rng, size_mm, px, n_scars, TONES[tone])
    pos, intensity = near_rig(rng)
    centre = np.array([rng.uniform(-100, 100), rng.uniform(-70, 70)])
    origin = centre - size_mm / 2
    cam = random_camera(rng)
    ambient = float(rng.uniform(*DEVICE["ambient"]))
    specular = float(rng.uniform(*DEVICE["specular"]))
    shininess = float(rng.uniform(8, 40))
    radiance = [shade_near(z, px, origin, p, i, albedo, specular, shininess, ambient) for p, i in zip(pos, intensity)]
    # One exposure for the set: the brightest photo's median skin lands at
    # 0.6-0.9 of full scale before the camera's own gain; dimmer photos
    # are darker, as on the rig.
    brightest = max(float(np.median(r)) for r in radiance)
    gain = rng.uniform(0.6, 0.9) * 0.45 / max(brightest, 1e-6)
    images = [camera(rng, r * gain, render_scale, cam) for r in radiance]
    # Each LED's direction at the axis, for alignment and the record.
    dirs = [p / np.linalg.norm(p) for p in pos]
    truth = {
        "px_per_mm": cam_px, "size_mm": size_mm, "ita_deg": ita, "tone": tone,
        "lights": [[float(v) for v in l] for l in dirs],
        "light_pos_mm": [[float(v) for v in p] for p in pos],
        "intensities": [float(v) for v in intensity],
        # The axis in this patch's pixels (it lies outside the patch).
        "optical_centre_px": [float(-origin[0] * cam_px), float(-origin[1] * cam_px)],
        "patch_centre_mm": [float(v) for v in centre],
        "device": {"ambient": ambient, "specular": specular, "camera": cam},
        "scars": [{k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in s.items()
                   if k not in ("wall_rho", "floor_albedo")} for s in scars],
    }
    return images, truth


def write_near(out: Path, per_tone: int, seed: int):
    """Held-out near-field sets: per_tone per skin tone, half at 10 px/mm
    and half at 20 (booth resolutions), 3-6 scars each."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    index = []
    for tone in TONES:
        for i in range(per_tone):
            cam_px = 10 if i % 2 == 0 else 20
            images, truth = render_near(rng, 30.0, cam_px, tone, int(rng.integers(3, 7)))
            write_capture(out, f"near_{tone}_{i:02d}", images, None, truth, index)
    (out / "truth.json").write_text(json.dumps({"seed": seed, "captures": index}, indent=1))
    print(f"wrote {len(index)} near-field evaluation sets to {out}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("eval")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--per-px", type=int, default=10)
    e.add_argument("--seed", type=int, default=424242)
    n = sub.add_parser("near")
    n.add_argument("--out", type=Path, required=True)
    n.add_argument("--per-tone", type=int, default=6)
    n.add_argument("--seed", type=int, default=515151)
    d = sub.add_parser("demo")
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if args.cmd == "eval":
        write_eval(args.out, args.per_px, args.seed)
    elif args.cmd == "near":
        write_near(args.out, args.per_tone, args.seed)
    else:
        write_demo(args.out, args.seed)


if __name__ == "__main__":
    main()
