#!/usr/bin/env python3
"""Train the single-photo acne-scar model on physically rendered synthetic
relief (datasets/synth_scars.py) and export it to ONNX.

The network is the one of train_skin_models.py (width (8, 16), dilations
(2, 4, 8) at half resolution: a receptive field of ~15 mm at 4 px/mm, wider
than the widest rolling scar) with two output channels:

  * scar:     probability that the pixel lies in an atrophic scar (at least
              10 % of the scar's depth below the surrounding skin);
  * depth_mm: estimated depth of the skin below its surroundings, mm
              (>= 0), i.e. the negative relative height. Trained as a
              linear output (a softplus or ReLU head goes dead: most pixels
              are 0 mm deep and push it below zero, where its gradient
              vanishes) and clamped at 0 by a Relu in the exported graph.

Input as for the other skin models: linear RGB over the zone's per-channel
median, minus 1, at 4 px/mm (pigmentation's scale, so both read one
resampled patch). From one photo, depth can only come from
shading, so the Rust pipeline labels every depth from this model `estimated`.

Usage:
    python3 models/train/train_scar_model.py            # full training, writes models/scar_relief.onnx
    python3 models/train/train_scar_model.py --smoke    # tiny run into a temp dir (CI)
"""
import argparse
import json
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "datasets"))
sys.path.insert(0, str(HERE))
import synth_scars  # noqa: E402
import train_skin_models as common  # noqa: E402

NAME = "scar_relief"
WIDTH = (8, 16)
DILATIONS = (2, 4, 8)
PATCH_PX = 128
# Depth error counts this much more inside scars than on plain skin.
DEPTH_WEIGHT_IN_SCAR = 4.0


def make_example(seed):
    rng = np.random.default_rng(seed)
    img, depth, label = synth_scars.training_example(rng, PATCH_PX)
    return common.normalise(img), depth, label


def dataset(n, seed, workers=2):
    with get_context("spawn").Pool(workers) as pool:
        ex = pool.map(make_example, [seed * 1_000_003 + i for i in range(n)], chunksize=8)
    x = np.stack([e[0] for e in ex])
    y = np.stack([np.stack([e[2].astype(np.float32), e[1]], -1) for e in ex])
    return x, y


def loss_fn(p, xb, yb):
    import jax
    import jax.numpy as jnp

    out = common.forward(p, xb, DILATIONS)
    logits, raw = out[..., 0], out[..., 1]
    lab, dep = yb[..., 0], yb[..., 1]
    bce = jnp.mean(lab * jax.nn.softplus(-logits) + (1 - lab) * jax.nn.softplus(logits))
    prob = jax.nn.sigmoid(logits)
    dice = 1 - (2 * jnp.sum(prob * lab) + 1) / (jnp.sum(prob) + jnp.sum(lab) + 1)
    w = 1 + DEPTH_WEIGHT_IN_SCAR * lab
    l1 = jnp.sum(w * jnp.abs(raw - dep)) / jnp.sum(w)
    return bce + 0.5 * dice + 10.0 * l1


def predict(params, x):
    import jax

    out = np.asarray(common.forward(params, x, DILATIONS))
    return np.asarray(jax.nn.sigmoid(out[..., 0])), np.maximum(out[..., 1], 0.0)


def validate(params, x, y):
    prob, depth = predict(params, x)
    lab = y[..., 0] > 0.5
    pred = prob > 0.5
    dice = 2 * np.sum(pred & lab) / max(1, pred.sum() + lab.sum())
    mae_in = float(np.mean(np.abs(depth - y[..., 1])[lab])) if lab.any() else float("nan")
    return float(dice), mae_in


def export(params, path: Path):
    from onnx import helper

    nodes, inits, logits = common.graph_nodes([params], DILATIONS)
    nodes.append(helper.make_node("Split", [logits], ["scar_logit", "depth_raw"], axis=1))
    nodes.append(helper.make_node("Sigmoid", ["scar_logit"], ["scar"]))
    nodes.append(helper.make_node("Relu", ["depth_raw"], ["depth_mm"]))
    common.save_model(nodes, inits, NAME, ["scar", "depth_mm"], path)


def check_parity(params, path: Path):
    import onnxruntime as ort

    x = np.random.default_rng(7).normal(0, 0.1, (1, 62, 90, 3)).astype(np.float32)
    prob, depth = predict(params, x)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": np.transpose(x, (0, 3, 1, 2))})
    return float(max(np.max(np.abs(got[0][:, 0] - prob)), np.max(np.abs(got[1][:, 0] - depth))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="a few steps on a few patches, into a temp dir")
    ap.add_argument("--train", type=int, default=2400)
    ap.add_argument("--val", type=int, default=160)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--seed", type=int, default=20261122)
    args = ap.parse_args()
    if args.smoke:
        args.train, args.val, args.steps = 8, 4, 3
    out_dir = Path(tempfile.mkdtemp()) if args.smoke else ROOT / "models"
    t0 = time.time()
    x, y = dataset(args.train, args.seed)
    xv, yv = dataset(args.val, args.seed + 99)
    print(f"{NAME}: {len(x)} training / {len(xv)} validation patches in {time.time() - t0:.0f}s", flush=True)
    params = common.init_params(np.random.default_rng(args.seed), WIDTH, out_channels=2)
    params = common.fit(NAME, params, loss_fn, x, y, args.steps, args.batch, args.seed)
    dice, mae = validate(params, xv, yv)
    path = out_dir / f"{NAME}.onnx"
    export(params, path)
    err = check_parity(params, path)
    if err > 1e-4:
        sys.exit(f"{NAME}: ONNX differs from JAX by {err}")
    print(f"{NAME}: validation pixel Dice {dice:.3f}, depth MAE inside scars {mae:.3f} mm, "
          f"|onnx-jax| {err:.1e}, {path}", flush=True)
    if args.smoke:
        return
    manifest_path = ROOT / "models" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    entry = manifest["models"].get(NAME, {})
    entry.update({
        "file": path.name,
        "sha256": common.sha256(path),
        "licence": "Apache-2.0 (trained by this project)",
        "source": {"trained_by": "models/train/train_scar_model.py",
                   "data": "datasets/synth_scars.py (synthetic, physically rendered, generated)",
                   "seed": args.seed, "train_patches": args.train, "steps": args.steps, "batch": args.batch,
                   "requirements": "models/train/requirements.txt"},
        "made_by": "JAX 0.10.2 on CPU; ONNX graph written with onnx.helper (opset 17) by train_skin_models.graph_nodes "
                   "(layers stacked for the CPU kernels) and checked against JAX with onnxruntime",
        "inputs": [{"name": "image", "shape": [1, 3, "height", "width"]}],
        "outputs": [{"name": "scar", "shape": [1, 1, "height", "width"]},
                    {"name": "depth_mm", "shape": [1, 1, "height", "width"]}],
        "contract": {
            "input": f"linear RGB at {synth_scars.SCAR_CANONICAL_PX_PER_MM} px/mm, NCHW f32, each channel divided by the zone's median (linear) skin value, minus 1; height and width even",
            "outputs": "scar: per-pixel probability of lying in an atrophic scar; depth_mm: estimated depth below the surrounding skin (mm, >= 0)",
            "postprocess": "threshold 0.5, connected components; width, area, depth (max of depth_mm in the scar) and type by the Rust pipeline; depths labelled estimated",
        },
        "canonical_px_per_mm": synth_scars.SCAR_CANONICAL_PX_PER_MM,
        "validation_pixel_dice_synthetic": round(dice, 4),
        "validation_depth_mae_in_scars_mm": round(mae, 4),
        "onnx_max_abs_error_vs_jax": err,
    })
    manifest["models"][NAME] = entry
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
