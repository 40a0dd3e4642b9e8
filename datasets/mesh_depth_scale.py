#!/usr/bin/env python3
"""How deep the face mesh's depth should be, from the faces' own symmetry.

Zone areas are measured on the face's surface: each mesh triangle's 3-D
area over its area in the image undoes the foreshortening of skin turned
from the camera (src/face/surface.rs). That needs the mesh's depth on the
same scale as x and y, which the model only roughly gives. A face is nearly
mirror-symmetric, so a triangle and its mirror image have nearly the same
3-D area however the head is turned, while their image areas differ. This
script finds the multiplier on the recorded depth that makes mirror pairs
agree, fitted on the near-frontal `tones/` faces, and checks it on the
other (held-out, some turned) faces.

The recorded depth already carries `MESH_DEPTH_SCALE` (src/face/mod.rs), so
a best multiplier near 1 means the constant is still right.

Usage (scipy and numpy: models/train/requirements.txt):
    P=../shared/photos
    dermascore analyze $P/faces $P/distance/*.jpg $P/tones/*.jpg \
        $P/closeups/bioskin/1.jpg $P/closeups/bioskin/2.jpg \
        --landmarks --out /tmp/mesh
    target/venv-train/bin/python datasets/mesh_depth_scale.py /tmp/mesh/results.jsonl

tones/: Face Research Lab London Set, DeBruine & Jones (2017), CC BY 4.0,
https://doi.org/10.6084/m9.figshare.5047666.v5.
"""
import json
import sys

import numpy as np
from scipy.spatial import Delaunay, cKDTree

# Eye corners and the forehead-chin line, to put a face in its own frame.
RIGHT_EYE_OUTER, LEFT_EYE_OUTER, FOREHEAD_TOP, CHIN = 33, 263, 10, 152
# src/face/mod.rs MESH_DEPTH_SCALE, already in the recorded depth.
MESH_DEPTH_SCALE = 1.35
# Triangles turned further than 60° (the product's limit) are left out.
MIN_COS = 0.5


def faces(path):
    for line in open(path):
        r = json.loads(line)
        face = r.get("face") or {}
        xy, z = face.get("landmarks_px"), face.get("landmarks_depth_px")
        if r.get("type") != "image" or not xy or not z:
            continue
        name = r["input"]["path"].split("photos/")[-1]
        yield name, np.column_stack([np.array(xy), np.array(z)])


def own_frame(p):
    x = p[LEFT_EYE_OUTER] - p[RIGHT_EYE_OUTER]
    x /= np.linalg.norm(x)
    up = p[FOREHEAD_TOP] - p[CHIN]
    up -= up.dot(x) * x
    up /= np.linalg.norm(up)
    return (p - p.mean(0)) @ np.stack([x, up, np.cross(x, up)]).T


def areas(p, tri):
    a, b, c = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
    n = np.cross(b - a, c - a)
    return np.linalg.norm(n, axis=1) / 2, np.abs(n[:, 2]) / 2


def asymmetry(p, tri, mirror, k):
    """log(area on the image-larger side / its mirror), in the image and on
    the surface with depth × k, over the triangle pairs both sides of which
    face the camera within 60°."""
    s3, s2 = areas(p, tri)
    m3, m2 = areas(p, mirror[tri])
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (s2 / s3 > MIN_COS) & (m2 / m3 > MIN_COS) & (s2 > 1) & (m2 > 1)
    ok &= (mirror[tri] != tri).any(1)
    q = p.copy()
    q[:, 2] *= k
    k3, _ = areas(q, tri)
    km3, _ = areas(q, mirror[tri])
    larger = ok & (s2 > m2)
    image = np.log(s2[larger].sum() / m2[larger].sum())
    surface = np.log(k3[larger].sum() / km3[larger].sum())
    return image, surface


def main(path):
    rows = dict(faces(path))
    if not rows:
        sys.exit(f"{path}: no records with landmarks (run analyze with --landmarks)")
    # Mirror pairs and triangles from the most frontal face (smallest image asymmetry).
    def frontal_error(p):
        f = own_frame(p)
        m = f.copy()
        m[:, 0] *= -1
        return np.median(cKDTree(f[:, :2]).query(m[:, :2])[0])
    ref_name = min(rows, key=lambda n: frontal_error(rows[n]))
    ref = own_frame(rows[ref_name])
    mirrored = ref.copy()
    mirrored[:, 0] *= -1
    dist, mirror = cKDTree(ref[:, :2]).query(mirrored[:, :2])
    tri = Delaunay(rows[ref_name][:, :2]).simplices
    print(f"mirror pairs from {ref_name}: median mismatch {np.median(dist):.1f} px "
          f"of a {np.ptp(ref[:, 0]):.0f} px wide face; {len(tri)} triangles")

    fit = {n: p for n, p in rows.items() if n.startswith("tones/")}
    held = {n: p for n, p in rows.items() if not n.startswith("tones/")}
    ks = np.arange(0.5, 2.001, 0.01)

    def rms(group, k):
        return float(np.sqrt(np.mean([asymmetry(p, tri, mirror, k)[1] ** 2 for p in group.values()])))

    if fit:
        losses = [rms(fit, k) for k in ks]
        best = float(ks[int(np.argmin(losses))])
        print(f"fitted on {len(fit)} tones/ faces: best multiplier on the recorded depth {best:.2f} "
              f"(rms log asymmetry {min(losses):.4f}; at 1.00: {rms(fit, 1.0):.4f}; the model's own "
              f"depth: {rms(fit, 1.0 / MESH_DEPTH_SCALE):.4f}; in the image: "
              f"{np.sqrt(np.mean([asymmetry(p, tri, mirror, 1)[0] ** 2 for p in fit.values()])):.4f})")
    else:
        best = 1.0
        print("no tones/ faces: nothing to fit; held-out figures at 1.00")
    print("held-out faces: log asymmetry of the image-larger side, in the image / on the surface "
          f"(depth as recorded) / with the fitted multiplier {best:.2f}")
    for name, p in sorted(held.items()):
        image, surface = asymmetry(p, tri, mirror, 1.0)
        _, fitted = asymmetry(p, tri, mirror, best)
        print(f"  {name:<36} {image:+.3f}  {surface:+.3f}  {fitted:+.3f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
