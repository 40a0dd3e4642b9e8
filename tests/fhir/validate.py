#!/usr/bin/env python3
"""Validates FHIR bundles against the FHIR specification's resource models
(the pinned `fhir.resources` package, R4B: the R4 line it ships; structure,
cardinality, types and required elements, offline). Exit 1 naming the first
invalid file."""
import json
import sys
from pathlib import Path

from fhir.resources.R4B.bundle import Bundle


def main():
    files = [p for a in sys.argv[1:] for p in (sorted(Path(a).glob("*.json")) if Path(a).is_dir() else [Path(a)])]
    if not files:
        sys.exit("no bundles given")
    for f in files:
        try:
            bundle = Bundle.parse_obj(json.loads(f.read_text()))
        except Exception as e:  # noqa: BLE001 - report any validation error
            sys.exit(f"{f}: {e}")
        print(f"{f.name}: valid Bundle of {len(bundle.entry or [])} entries")


if __name__ == "__main__":
    main()
