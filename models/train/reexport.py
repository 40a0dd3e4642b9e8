#!/usr/bin/env python3
"""Rewrites the committed segmentation models in the current graph layout
(`train_skin_models.graph_nodes`) without retraining: the trained weights
are read back from the ONNX file, written again, and the two graphs compared
with onnxruntime on random inputs before the file and its manifest entry are
replaced. Used once, when the layout changed (one graph per ensemble member,
concatenation at full resolution -> members stacked along channels); a
retrained model is written in the current layout directly.

    target/venv-train/bin/python models/train/reexport.py [--check]
"""
import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_scar_model  # noqa: E402
import train_skin_models as common  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
# (manifest name, task): the pore model trained here is the teacher of the
# one dermascore runs (distill_pore_model.py), which has no members.
MODELS = [("pore_segmentation_teacher", "pore_segmentation"), ("pigment_segmentation", "pigment_segmentation"),
          (train_scar_model.NAME, train_scar_model.NAME)]


def members_of(path: Path):
    """Each member's [(w, b)] for c1..c7 in JAX layout, from a graph written
    one member at a time (initialisers `[m<k>_]c<n>_w`); None when the file
    is already in the stacked layout."""
    import onnx
    from onnx import numpy_helper

    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    if "c6_half_w" in weights:
        return None
    prefixes = sorted({m.group(1) for n in weights if (m := re.match(r"^(m\d+_)?c1_w$", n))} ,
                      key=lambda p: p or "")
    return [[(np.transpose(weights[f"{p or ''}c{i}_w"], (2, 3, 1, 0)), weights[f"{p or ''}c{i}_b"])
             for i in range(1, 8)] for p in prefixes]


def max_difference(a: Path, b: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sa, sb = (ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"]) for p in (a, b))
    rng = np.random.default_rng(11)
    worst = 0.0
    for h, w in ((62, 90), (160, 160), (256, 198)):
        x = rng.normal(0, 0.15, (1, 3, h, w)).astype(np.float32)
        for ya, yb in zip(sa.run(None, {"image": x}), sb.run(None, {"image": x})):
            worst = max(worst, float(np.max(np.abs(ya - yb))))
    return worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="compare only; replace nothing")
    args = ap.parse_args()
    manifest_path = ROOT / "models" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for name, task in MODELS:
        path = ROOT / "models" / f"{name}.onnx"
        members = members_of(path)
        if members is None:
            print(f"{name}: already in the stacked layout")
            continue
        out = Path(tempfile.mkdtemp()) / path.name
        if name == train_scar_model.NAME:
            train_scar_model.export(members[0], out)
        else:
            common.export_onnx(task, members, out)
        err = max_difference(path, out)
        print(f"{name}: {len(members)} member(s), |new - old| {err:.1e}")
        if err > 1e-5:
            sys.exit(f"{name}: the rewritten graph differs from the committed one by {err}")
        if args.check:
            continue
        path.write_bytes(out.read_bytes())
        entry = manifest["models"][name]
        entry["sha256"] = common.sha256(path)
        entry["made_by"] = (entry["made_by"].split(";")[0]
                            + "; graph rewritten from the trained weights by models/train/reexport.py in the layout of "
                              "train_skin_models.graph_nodes (layers stacked for the CPU kernels"
                            + (f", {len(members)} member networks in one graph, probabilities averaged"
                               if len(members) > 1 else "")
                            + f"); |new - previous graph| {err:.1e} on random inputs")
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
