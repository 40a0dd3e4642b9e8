#!/usr/bin/env python3
"""Corrupt-image detection rates (README, "Images that are what they claim").

Makes 260 damaged copies of ../shared/photos/faces/obama.jpg (seeded):
JPEGs cut inside the scan and closed with an end marker, with 1, 4 or 16
bits flipped in the scan data, with a stretch of scan data duplicated; PNGs
with a bit flipped in IDAT (bad CRC), the same with the CRC recomputed
(only zlib's check can tell), and cut with the end chunk appended. Then runs
`dermascore analyze` on them and counts the status by kind.

Usage: python3 datasets/corrupt_corpus.py [OUT_DIR] [DERMASCORE_BINARY]
Needs Pillow (datasets/requirements.txt).
"""
import collections
import json
import os
import random
import struct
import subprocess
import sys
import zlib

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
PHOTO = os.path.join(HERE, "..", "..", "shared", "photos", "faces", "obama.jpg")


def make(out):
    os.makedirs(out, exist_ok=True)
    src = open(PHOTO, "rb").read()
    sos = src.rfind(b"\xff\xda")
    eoi = src.rfind(b"\xff\xd9")
    start = sos + 2 + struct.unpack(">H", src[sos + 2:sos + 4])[0]
    rng = random.Random(7)

    def write(name, data):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)

    for k in range(40):
        cut = rng.randint(start + 100, eoi - 100)
        write(f"trunc_{k}.jpg", src[:cut] + b"\xff\xd9")
    for flips in (1, 4, 16):
        for k in range(40):
            b = bytearray(src)
            for _ in range(flips):
                b[rng.randint(start, eoi - 1)] ^= 1 << rng.randint(0, 7)
            write(f"flip{flips}_{k}.jpg", bytes(b))
    for k in range(40):
        i = rng.randint(start, eoi - 2000)
        n = rng.randint(16, 1000)
        write(f"dup_{k}.jpg", src[:i] + src[i:i + n] + src[i:])
    base = os.path.join(out, "base.png")
    Image.open(PHOTO).save(base)
    png = open(base, "rb").read()
    os.remove(base)
    chunks, i = [], 8
    while i < len(png):
        n = struct.unpack(">I", png[i:i + 4])[0]
        chunks.append((i, n, png[i + 4:i + 8]))
        i += 12 + n
    idats = [c for c in chunks if c[2] == b"IDAT"]
    for k in range(20):
        b = bytearray(png)
        i, n, _ = rng.choice(idats)
        b[i + 8 + rng.randint(0, n - 1)] ^= 1 << rng.randint(0, 7)
        write(f"pngcrc_{k}.png", bytes(b))
    for k in range(20):
        b = bytearray(png)
        i, n, _ = rng.choice(idats)
        b[i + 8 + rng.randint(0, n - 1)] ^= 1 << rng.randint(0, 7)
        b[i + 8 + n:i + 12 + n] = struct.pack(">I", zlib.crc32(bytes(b[i + 4:i + 8 + n])))
        write(f"pngzlib_{k}.png", bytes(b))
    for k in range(20):
        cut = rng.randint(idats[0][0] + 100, len(png) - 20)
        write(f"pngtrunc_{k}.png", png[:cut] + png[-12:])


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/dermascore-corrupt"
    exe = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "..", "target", "release", "dermascore")
    make(out)
    run = subprocess.run([exe, "analyze", out], capture_output=True, text=True)
    counts = collections.defaultdict(collections.Counter)
    for line in run.stdout.splitlines():
        r = json.loads(line)
        if r["type"] != "image":
            continue
        kind = os.path.basename(r["input"]["path"]).split("_")[0]
        counts[kind][r["status"] if r["status"] == "ok" else r["error"]["code"]] += 1
    for kind, c in sorted(counts.items()):
        print(f"{kind:9} {dict(c)}")


if __name__ == "__main__":
    main()
