#!/usr/bin/env python3
"""Copies the accuracy figures of models/evaluation.json (written by
`dermascore evaluate`, see evaluate.sh) into the `measured` block of each
trained model's entry in models/manifest.json, so the manifest never states a
figure that the last evaluation did not produce."""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMAND = "bash models/train/evaluate.sh (figures in models/evaluation.json and models/evaluation_16bit.json)"


def r4(v):
    if isinstance(v, dict):
        return {k: r4(x) for k, x in v.items()}
    return v if v is None or isinstance(v, int) else round(float(v), 4)


def main():
    ev = json.loads((ROOT / "models" / "evaluation.json").read_text())
    path = ROOT / "models" / "manifest.json"
    manifest = json.loads(path.read_text())
    models = manifest["models"]

    real, syn = ev["pores_real"], ev["pores_synthetic_all"]
    models["pore_segmentation"]["measured"] = {
        "command": COMMAND,
        "porenet_published_dice": real["porenet_published"],
        "real_closeup_px_per_mm": real["px_per_mm"],
        "real_closeup_dice_in_roi": r4(real["dice_model"]),
        "real_closeup_dice_upper_half_used_for_choices": r4(real.get("dice_model_upper_half_selection")),
        "real_closeup_dice_lower_half_held_out": r4(real.get("dice_model_lower_half_held_out")),
        "real_closeup_dice_dog_baseline": r4(real["dice_dog_baseline"]),
        "synthetic_count_f1": r4(syn["model_f1"]),
        "synthetic_precision": r4(syn["model_precision"]),
        "synthetic_recall": r4(syn["model_recall"]),
        "synthetic_median_abs_diameter_error_mm": r4(syn["model_median_abs_diameter_error_mm"]),
        "synthetic_dog_baseline_f1": r4(syn["dog_baseline_f1"]),
    }

    faces, closeup = ev.get("pigment_stability_real_faces", {}), ev.get("pigment_stability_real_closeup", {})
    cell = lambda r: f"{r['px_per_mm']}@{r['exposure']}"  # noqa: E731
    models["pigment_segmentation"]["measured"] = {
        "command": COMMAND,
        "stability_worst_change_pct": r4(ev["pigment_stability_worst_change_pct"]),
        "stability_real_faces_worst_change_pct": {
            r["photo"]: r4(r["worst_change_pct"]) for r in faces.get("photos", []) if r["pigmented_pct"]},
        "stability_real_face_zones": r4(faces.get("summary", {})),
        "stability_real_closeup_worst_change_pct": {
            r["photo"]: r4(r["worst_change_pct"]) for r in closeup.get("photos", []) if r["pigmented_pct"]},
        "synthetic_median_dice_by_px_per_mm_exposure": {
            cell(r): r4(r["model"]["median_dice"]) for r in ev["pigment_synthetic"]},
        "synthetic_median_area_error_pct_by_px_per_mm_exposure": {
            cell(r): round(r["model"]["median_area_error_pct"], 1) for r in ev["pigment_synthetic"]},
        "stability_real_face_zones_carried_at_16_bits": r4(
            ev.get("pigment_stability_real_faces_16bit", {}).get("summary", {})),
        # Hand outlines of real macules and freckles (datasets/real_pigment),
        # the spots the analysis keeps.
        "real_outlines_dice": {
            name: r4(r["measured"]["dice"]) for name, r in ev.get("pigment_real_outlines", {}).items()},
        "real_outlines_area_error_pct": {
            name: round(r["measured"]["area_error_pct"], 1)
            for name, r in ev.get("pigment_real_outlines", {}).items()},
    }
    deep_path = ROOT / "models" / "evaluation_16bit.json"
    if deep_path.exists():
        deep = json.loads(deep_path.read_text())
        models["pigment_segmentation"]["measured"].update({
            "stability_16bit_synthetic_worst_change_pct": r4(deep["pigment_stability_worst_change_pct"]),
            "stability_16bit_scenes_recorded_at_8_bits": {
                k: r4(v) for k, v in (deep.get("pigment_stability_recorded_at_8_bits") or {}).items()},
            "synthetic_16bit_median_dice_by_px_per_mm_exposure": {
                cell(r): r4(r["model"]["median_dice"]) for r in deep["pigment_synthetic"]},
        })

    scars = ev["acne_scars"]
    single = {r["group"]: r for r in scars["by_type"] if r["mode"] == "single"}
    measured = models["scar_relief"].setdefault("measured", {})
    measured.update({
        "command": COMMAND + ", key acne_scars",
        "heldout_renders": scars["captures"],
        "per_type_depth_mae_mm": {k: r4(v["depth_mae_mm"]) for k, v in single.items() if k not in ("all", "unmatched")},
        "real_closeup_false_alarms_per_cm2": r4(scars["real_closeup_single_photo"]["per_cm2"]),
        "single_photo_depth_mae_mm": r4(single["all"]["depth_mae_mm"]),
        "single_photo_depth_rmse_mm": r4(single["all"]["depth_rmse_mm"]),
        "single_photo_f1_width_ge_1mm": r4(single["all"]["f1_width_ge_1mm"]),
        "single_photo_type_accuracy": r4(single["all"]["type_accuracy"]),
        "single_photo_width_mae_mm": r4(single["all"]["width_mae_mm"]),
    })
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(f"measured figures recorded in {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
