#!/usr/bin/env python3
"""How the synthetic skin of synth_skin.py compares with real skin, on the two
points that decide how ambiguous its pigment truth is (issue #3's lighting
residual):

1. Melanin mottling. The melanin map of each image (optical-density
   separation into melanin, haemoglobin and neutral shading, as the Rust
   pipeline's `measure::colour` does) is band-passed by differences of
   Gaussians at 0.3-1.5, 1.5-5 and 5-15 mm, and its spread (standard
   deviation and 1.4826 x median absolute deviation) printed for the real
   close-up (`shared/photos/pores`, inside its ROI eroded by 5 mm, at the
   12.6 px/mm used throughout) and for spot-free synthetic patches at 4, 6 and
   12 px/mm. The generator's background mottling is unlabelled; if real skin
   mottled much less, the generator's truth would be needlessly ambiguous.
2. Visibility of the spot-labelling threshold. The CIE 1976 colour
   difference (dE*ab) and lightness difference (dL*) that a spot of the
   labelling threshold's melanin contrast (SPOT_MIN_MELANIN_OD), and of some
   stronger contrasts, makes against skin of ITA from light to dark.

Usage:
    python3 datasets/compare_real_skin.py ../shared/photos/pores
"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import binary_erosion, gaussian_filter

import synth_skin as synth

REAL_PX_PER_MM = 12.6
BANDS_MM = [(0.3, 1.5), (1.5, 5.0), (5.0, 15.0)]
CONTRASTS_OD = (synth.SPOT_MIN_MELANIN_OD, 0.1, 0.15, 0.2, 0.3)


def melanin_map(rgb_u8):
    """Melanin optical density per pixel: -log(linear RGB) solved for
    melanin, haemoglobin and a neutral (shading) component."""
    lin = synth.srgb_to_linear(np.asarray(rgb_u8, np.float64)[..., :3] / 255.0)
    od = -np.log(np.clip(lin, 1e-4, 1.0))
    basis = np.stack([synth.MELANIN, synth.HAEMOGLOBIN, np.ones(3)], axis=1)
    return (od.reshape(-1, 3) @ np.linalg.inv(basis).T)[:, 0].reshape(od.shape[:2])


def band_spread(mel, px_per_mm, mask):
    """(standard deviation, robust SD) of the melanin map per band, in OD."""
    out = []
    for lo, hi in BANDS_MM:
        band = (gaussian_filter(mel, lo * px_per_mm) - gaussian_filter(mel, hi * px_per_mm))[mask]
        out.append((band.std(), 1.4826 * np.median(np.abs(band - np.median(band)))))
    return out


def show(name, spreads):
    cells = "  ".join(f"{lo:g}-{hi:g} mm {sd:.3f} / {rsd:.3f}" for (lo, hi), (sd, rsd) in zip(BANDS_MM, spreads))
    print(f"  {name:<34} {cells}")


def main():
    pores = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared/photos/pores"
    print("melanin mottling, spread of the band-passed melanin map (OD; SD / robust SD):")
    rgb = np.asarray(Image.open(pores / "cheek_input.png").convert("RGB"))
    roi = np.asarray(Image.open(pores / "cheek_roi_mask.png"))
    roi = (roi[..., 0] if roi.ndim == 3 else roi) > 0
    inner = binary_erosion(roi, iterations=int(5 * REAL_PX_PER_MM))
    show(f"real close-up ({REAL_PX_PER_MM} px/mm)", band_spread(melanin_map(rgb), REAL_PX_PER_MM, inner))
    rng = np.random.default_rng(7)
    for px in (4, 6, 12):
        for k in range(3):
            cam, _, _ = synth.render_spots(rng, 40.0, px, n_spots=0)
            mel = melanin_map(np.asarray(cam))
            mask = np.zeros(mel.shape, bool)
            e = int(7 * px)  # away from the patch's edges (the widest filter's reach)
            mask[e:-e, e:-e] = True
            show(f"synthetic, no spots, {px} px/mm, #{k + 1}", band_spread(mel, px, mask))
    print(f"\ncolour difference of a spot against its skin, by melanin contrast (labelling threshold "
          f"{synth.SPOT_MIN_MELANIN_OD} OD):")
    print("  skin ITA°   " + "   ".join(f"{od:.2f} OD: dL* / dE*ab" for od in CONTRASTS_OD))
    for ita in (60, 40, 20, 0, -20, -40):
        b = 18.0
        skin = synth.lab_to_linear_rgb(50 + b * np.tan(np.radians(ita)), 10.0, b)
        skin_lab = synth.linear_rgb_to_lab(skin)
        cells = []
        for od in CONTRASTS_OD:
            spot_lab = synth.linear_rgb_to_lab(skin * np.exp(-od * synth.MELANIN))
            cells.append(f"{skin_lab[0] - spot_lab[0]:4.2f} / {np.linalg.norm(skin_lab - spot_lab):4.2f}".ljust(23))
        print(f"  {ita:>6}      " + "".join(cells))


if __name__ == "__main__":
    main()
