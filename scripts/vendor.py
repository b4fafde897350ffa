#!/usr/bin/env python3
"""Copy pinned front-end files from node_modules/ into static/vendor/ (flat).

Refresh:  npm ci --ignore-scripts && python3 scripts/vendor.py
Writes static/vendor/VENDORED.txt: package, version, licence, file, sha256.
Trailing sourceMappingURL comments are stripped (maps are not vendored).
"""
import hashlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "node_modules"
DEST = ROOT / "static" / "vendor"

# package -> (files to copy, relative to the package dir; licence file; short name).
# The licence is copied as LICENSE.<short> ("LICENSE.chart.js" would look like JS).
FILES = {
    "@picocss/pico": (["css/pico.min.css"], "LICENSE.md", "pico"),
    "chart.js": (["dist/chart.umd.min.js"], "LICENSE.md", "chartjs"),
    "htmx.org": (["dist/htmx.min.js"], "LICENSE", "htmx"),
    "qr-scanner": (["qr-scanner.umd.min.js", "qr-scanner-worker.min.js"], "LICENSE", "qr-scanner"),
}
# "//# sourceMappingURL=x.map" or "/*# sourceMappingURL=x.map */" at the end of a file
MAP_RE = re.compile(rb"(?://[#@] sourceMappingURL=\S+|/\*[#@] sourceMappingURL=[^*]*\*/)\s*\Z")


def main() -> int:
    if not NODE.is_dir():
        sys.exit("node_modules/ missing: run `npm ci --ignore-scripts` first")
    DEST.mkdir(parents=True, exist_ok=True)
    lines = ["# package\tversion\tlicence\tfile\tsha256"]
    for pkg, (files, licence_file, short) in FILES.items():
        pdir = NODE / pkg
        meta = json.loads((pdir / "package.json").read_text(encoding="utf-8"))
        targets = [(pdir / f, Path(f).name, True) for f in files]
        targets.append((pdir / licence_file, f"LICENSE.{short}", False))
        for src, name, strip in targets:
            data = src.read_bytes()
            if strip:
                data = MAP_RE.sub(b"\n", data)
            (DEST / name).write_bytes(data)
            digest = hashlib.sha256(data).hexdigest()
            lines.append(f"{pkg}\t{meta['version']}\t{meta.get('license', '?')}\t{name}\t{digest}")
            print(f"{name:28} {pkg}@{meta['version']} {len(data):>8} B")
    (DEST / "VENDORED.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
