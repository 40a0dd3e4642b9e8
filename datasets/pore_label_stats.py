"""The expert pore label of the real close-up as readings: density, coverage,
median diameter of pores at least 0.25 mm across (Flament 2015's detection
threshold), and the severity the tool's mapping gives that coverage.

    python datasets/pore_label_stats.py [../shared/photos/pores]

Needs numpy, scipy and Pillow (models/train/requirements.txt). The close-up
is about 12.6 px/mm (../shared/photos/README.md).
"""
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

PX_PER_MM = 12.6
THRESHOLD_MM = 0.25


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/photos/pores")
    label = np.asarray(Image.open(folder / "cheek_pore_label.png").convert("RGB"))[..., 0] > 0
    roi = np.asarray(Image.open(folder / "cheek_roi_mask.png").convert("RGB"))[..., 0] > 0
    roi_mm2 = roi.sum() / PX_PER_MM**2
    pieces, n = ndimage.label(label & roi, structure=np.ones((3, 3)))
    areas = np.bincount(pieces.ravel())[1:] / PX_PER_MM**2
    diameters = 2 * np.sqrt(areas / math.pi)
    kept = diameters >= THRESHOLD_MM
    coverage = 100 * areas[kept].sum() / roi_mm2
    # src/score.rs, pores: 100 · (1 − exp(−coverage % / 5)).
    severity = 100 * (1 - math.exp(-coverage / 5))
    print(f"region {roi_mm2 / 100:.1f} cm², {kept.sum()} of {n} labelled pores at least {THRESHOLD_MM} mm across")
    print(f"density {kept.sum() / (roi_mm2 / 100):.1f} per cm², coverage {coverage:.2f} %, "
          f"median diameter {np.median(diameters[kept]):.3f} mm, mean area {areas[kept].mean():.3f} mm²")
    print(f"severity by the tool's mapping: {severity:.0f}")


if __name__ == "__main__":
    main()
