#!/usr/bin/env python3
"""Build datasets/demo: a small longitudinal cohort of real, public-domain faces.

Sources (fetched from PyPI with pip, pinned by sha256; nothing else is downloaded):
  * scikit-image 0.26.0 wheel, skimage/data/astronaut.png: Eileen Collins,
    NASA portrait, public domain (US government work).
  * face-recognition 1.3.0 sdist, tests/test_images/biden.jpg and obama.jpg:
    official portraits of Joe Biden and Barack Obama, public domain (US
    government works), shipped in that MIT-licensed package.

Each patient gets a baseline and a follow-up visit. The follow-up is the same
photograph re-captured under a known, mild change of capture (scale, exposure,
JPEG quality). On P002 and P003 (fine enough for pigmentation) pigmented spots
are planted on both cheeks with the optical model of datasets/synth_skin.py —
larger and darker at baseline, faded at follow-up, as after successful
treatment — so the visit comparison has an exact, known improvement. All of
it is recorded in ground_truth.json. (P001's photo, 0.6 px/mm, is too coarse
for pigmentation and carries no planted change.)

Usage: python3 datasets/make_demo.py   (needs numpy and pillow, see requirements.txt)
"""
import csv
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
OUT = HERE / "demo"

SOURCES = {
    "skimage": ("scikit-image==0.26.0", "--only-binary=:all:",
                "74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af"),
    "face_recognition": ("face-recognition==1.3.0", "--no-binary=:all:",
                         "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"),
}
PATIENTS = [
    # id, source, member, member sha256, subject
    ("P001", "skimage", "skimage/data/astronaut.png",
     "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5", "Eileen Collins (NASA portrait)"),
    ("P002", "face_recognition", "face_recognition-1.3.0/tests/test_images/biden.jpg",
     "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c", "Joe Biden (official portrait)"),
    ("P003", "face_recognition", "face_recognition-1.3.0/tests/test_images/obama.jpg",
     "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6", "Barack Obama (official portrait)"),
]
# Where to plant: face-mesh cheek landmarks (right 50, 101, 205; left 280,
# 330, 425) and the iris scale, as dermascore measured them once on the
# source photos; fixed here so the generator does not depend on the tool it
# tests. Pixel coordinates in the source photo.
PLANT = {
    "P002": {"px_per_mm": 1.975, "centres": [(487, 382), (519, 373), (501, 402), (673, 418), (650, 398), (657, 431)]},
    "P003": {"px_per_mm": 1.484, "centres": [(407, 264), (434, 252), (420, 279), (582, 262), (556, 251), (569, 278)]},
}
# Each spot at each visit: area in mm² and melanin optical density.
SPOTS = {"2026-01-15": {"area_mm2": 90.0, "melanin_od": 0.5}, "2026-03-12": {"area_mm2": 25.0, "melanin_od": 0.3}}
MELANIN = np.array([0.4143, 0.3570, 0.8372])

VISITS = [
    ("2026-01-15", {"scale": 1.0, "exposure": 1.0, "jpeg_quality": 95}),
    ("2026-03-12", {"scale": 0.9, "exposure": 1.06, "jpeg_quality": 90}),
]


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def fetch(spec, binary_flag, expected, dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", binary_flag, "-d", str(dest), spec]
    if binary_flag == "--only-binary=:all:":
        cmd[5:5] = ["--python-version", "3.11", "--platform", "manylinux_2_28_x86_64"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    name = spec.split("==")[0].replace("-", "_")
    path = next(p for p in dest.iterdir() if p.name.lower().startswith(name.lower()))
    if sha256(path.read_bytes()) != expected:
        sys.exit(f"{path.name}: sha256 mismatch")
    return path


def member(archive: Path, name: str) -> bytes:
    if archive.suffix == ".whl":
        return zipfile.ZipFile(archive).read(name)
    with tarfile.open(archive) as t:
        return t.extractfile(name).read()


def plant(img: Image.Image, plant: dict, spot: dict) -> Image.Image:
    """Adds melanin (optical density) in soft round spots of known area."""
    a = np.asarray(img, dtype=np.float64) / 255.0
    lin = np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4)
    h, w, _ = lin.shape
    yy, xx = np.mgrid[0:h, 0:w]
    radius_px = np.sqrt(spot["area_mm2"] / np.pi) * plant["px_per_mm"]
    for cx, cy in plant["centres"]:
        r = np.sqrt((xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2) / radius_px
        inside = 1 / (1 + np.exp(np.clip((r - 1) / 0.08, -50, 50)))
        lin *= np.exp(-spot["melanin_od"] * inside[..., None] * MELANIN[None, None, :])
    srgb = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * np.clip(lin, 0, None) ** (1 / 2.4) - 0.055)
    return Image.fromarray(np.clip(np.round(srgb * 255), 0, 255).astype(np.uint8))


def capture(img: Image.Image, scale: float, exposure: float, jpeg_quality: int) -> bytes:
    if scale != 1.0:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
    # Exposure acts on linear light, then back to sRGB.
    a = np.asarray(img, dtype=np.float64) / 255.0
    lin = np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4) * exposure
    srgb = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * np.clip(lin, 0, None) ** (1 / 2.4) - 0.055)
    out = Image.fromarray(np.clip(np.round(srgb * 255), 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=jpeg_quality)  # no EXIF is written
    return buf.getvalue()


def main():
    OUT.mkdir(exist_ok=True)
    truth = {"patients": {}}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        archives = {k: fetch(*v, Path(tmp)) for k, v in SOURCES.items()}
        for pid, src, name, expected, who in PATIENTS:
            raw = member(archives[src], name)
            if sha256(raw) != expected:
                sys.exit(f"{name}: sha256 mismatch")
            base = Image.open(io.BytesIO(raw)).convert("RGB")
            truth["patients"][pid] = {"source": f"{SOURCES[src][0]}:{name}", "source_sha256": expected,
                                      "subject": who, "licence": "public domain (US government work)", "visits": {}}
            for date, cap in VISITS:
                d = OUT / pid / date
                d.mkdir(parents=True, exist_ok=True)
                scene = base
                planted = None
                if pid in PLANT:
                    scene = plant(base, PLANT[pid], SPOTS[date])
                    planted = {"spots_per_cheek": 3, "centres_px_in_source": PLANT[pid]["centres"], **SPOTS[date],
                               "total_area_mm2_per_cheek": 3 * SPOTS[date]["area_mm2"]}
                data = capture(scene, **cap)
                (d / "front.jpg").write_bytes(data)
                truth["patients"][pid]["visits"][date] = {"capture": cap, "planted_spots": planted, "sha256": sha256(data)}
                rows.append((f"{pid}/{date}/front.jpg", pid, date, "front"))
    with open(OUT / "visits.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["path", "patient_id", "visit_date", "view"])
        w.writerows(rows)
    (OUT / "ground_truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n")
    print(f"wrote {len(rows)} photos to {OUT}")


if __name__ == "__main__":
    main()
