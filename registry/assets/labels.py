"""Label rendering: QR images (SVG/PNG, cached in instance/cache/qr/) and printable sheet geometries.

A label shows only the level marking (colour band and text), the registry number and the
unit's short name — never the title (SPEC §4). Its QR encodes the configured base URL +
/s/<code>, never the request's Host. Geometries are data: every common sheet and tape has
a CSS class in static/css/labels.css; a custom tape size (millimetres) is served as a small
generated stylesheet, since inline styles are forbidden by the CSP.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import segno
from flask_babel import lazy_gettext as _l

from registry.core.models import Level

QR_VERSION = "v1"  # bump to invalidate cached images when rendering changes
log = logging.getLogger(__name__)


def qr_payload(code: str, base_url: str) -> str:
    """What the QR encodes: <base URL>/s/<code>."""
    return f"{base_url.rstrip('/')}/s/{code}"


_DARK_RUN = re.compile(rb"\x01+")
SVG_BORDER = 2


def svg_of(qr: segno.QRCode, border: int = SVG_BORDER) -> bytes:
    """The QR code as the SVG segno writes with ``kind="svg", scale=1, border=2, xmldecl=False,
    svgclass=None, lineclass=None, dark="#000", omitsize=True`` — byte for byte (a test compares
    them) — in less than half its time: one path of horizontal runs of dark modules, found with a
    regular expression per matrix row. segno still does the encoding and the mask selection; this
    is only its serialiser, which cost ~0.5 ms per label on a first label sheet (issue 8)."""
    parts: list[str] = []
    px, py = 0, 0.0
    for r, row in enumerate(qr.matrix):
        y = border + r + .5
        for run in _DARK_RUN.finditer(row):
            start, end = run.span()
            dy = y - py
            parts.append(f"{'m' if parts else 'M'}{start + border - px} {int(dy) if dy == int(dy) else dy}h{end - start}")
            px, py = end + border, y
    w = len(qr.matrix) + 2 * border
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {w}"><path stroke="#000" d="'
            f'{"".join(parts)}"/></svg>\n').encode("ascii")


def _render(payload: str, fmt: str) -> bytes:
    qr = segno.make_qr(payload, error="m")  # make_qr: never a Micro QR (phones cannot read those)
    if fmt == "svg":
        return svg_of(qr)  # viewBox only: the page sizes it in millimetres
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=8, border=4)
    return buf.getvalue()


def _key(payload: str, fmt: str) -> str:
    return hashlib.sha256(f"{QR_VERSION}|{fmt}|{payload}".encode()).hexdigest()[:32]


class QrCache:
    """Rendered QR images in one SQLite file under instance/ (never static/), keyed by a hash of
    (rendering version, format, base URL + code).

    One file instead of one file per image: a sheet of 400 labels reads its images with one query
    and stores the new ones in one transaction (a file per image cost a temporary file and a rename
    per label, ~0.25-0.57 ms, more than a tenth of the render; issue 8). Every gunicorn worker on
    the host shares it (WAL, busy timeout). It is a cache: if the file cannot be opened or written,
    images are rendered and served uncached, and the file can be deleted at any time.
    """

    FILE = "qr.sqlite3"

    def __init__(self, cache_dir: Path):
        self.path = Path(cache_dir) / self.FILE

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=5, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("CREATE TABLE IF NOT EXISTS qr (key TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID")
        return con

    def get_many(self, keys: list[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        try:
            con = self._connect()
            try:
                for k in range(0, len(keys), 500):
                    chunk = keys[k:k + 500]
                    found.update(con.execute(
                        f"SELECT key, data FROM qr WHERE key IN ({','.join('?' * len(chunk))})", chunk))
            finally:
                con.close()
        except (sqlite3.Error, OSError) as exc:
            log.warning("QR cache %s unreadable: %s", self.path, exc)
        return found

    def put_many(self, items: dict[str, bytes]) -> None:
        if not items:
            return
        try:
            con = self._connect()
            try:
                con.execute("BEGIN IMMEDIATE")
                con.executemany("INSERT OR IGNORE INTO qr (key, data) VALUES (?, ?)", items.items())
                con.execute("COMMIT")
            finally:
                con.close()
        except (sqlite3.Error, OSError) as exc:
            log.warning("QR cache %s not written: %s", self.path, exc)


def qr_images(codes, fmt: str, *, base_url: str, cache_dir: Path) -> dict[str, bytes]:
    """The QR images of label codes as SVG or PNG: from the cache, the missing ones rendered and
    stored in one transaction."""
    if fmt not in ("svg", "png"):
        raise ValueError(fmt)
    keys = {code: _key(qr_payload(code, base_url), fmt) for code in codes}
    cache = QrCache(cache_dir)
    cached = cache.get_many(list(keys.values()))
    out: dict[str, bytes] = {}
    new: dict[str, bytes] = {}
    for code, key in keys.items():
        data = cached.get(key)
        if data is None:
            data = new[key] = _render(qr_payload(code, base_url), fmt)
        out[code] = data
    cache.put_many(new)
    return out


def qr_image(code: str, fmt: str, *, base_url: str, cache_dir: Path) -> bytes:
    """The QR image of one label code as SVG or PNG, rendered once and cached."""
    return qr_images([code], fmt, base_url=base_url, cache_dir=cache_dir)[code]


def qr_data_uris(codes, *, base_url: str, cache_dir: Path) -> dict[str, str]:
    """The cached SVGs of labels as data: URIs, to embed in a sheet (CSP allows img-src data:)."""
    return {code: "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
            for code, svg in qr_images(codes, "svg", base_url=base_url, cache_dir=cache_dir).items()}


@dataclass(frozen=True)
class Geometry:
    """One label stock: physical sheet (or tape page) size, grid, label size, CSS class."""

    key: str
    name: object
    css_class: str
    cols: int
    rows: int
    label_w_mm: float
    label_h_mm: float
    page_w_mm: float
    page_h_mm: float
    tape: bool = False

    @property
    def per_sheet(self) -> int:
        return self.cols * self.rows

    @property
    def description(self) -> str:
        return f"{self.label_w_mm:g} × {self.label_h_mm:g} mm" + ("" if self.tape else f", {self.cols} × {self.rows}")


GEOMETRIES: dict[str, Geometry] = {g.key: g for g in (
    Geometry("a4-3x8", _l("A4 sheet, 3 × 8 labels"), "sheet-a4-3x8", 3, 8, 70, 37, 210, 297),
    Geometry("a4-2x7", _l("A4 sheet, 2 × 7 labels (L7163)"), "sheet-a4-2x7", 2, 7, 99.1, 38.1, 210, 297),
    Geometry("a4-4x10", _l("A4 sheet, 4 × 10 small labels"), "sheet-a4-4x10", 4, 10, 48.5, 25.4, 210, 297),
    Geometry("tape-62x29", _l("Label printer, 62 × 29 mm (DK-11209)"), "tape-62x29", 1, 1, 62, 29, 62, 29, True),
    Geometry("tape-50x30", _l("Label printer, 50 × 30 mm"), "tape-50x30", 1, 1, 50, 30, 50, 30, True),
    Geometry("tape-40x20", _l("Label printer, 40 × 20 mm"), "tape-40x20", 1, 1, 40, 20, 40, 20, True),
)}
DEFAULT_GEOMETRY = "a4-3x8"
CUSTOM_LIMITS = (20.0, 150.0)  # mm, width and height of a custom tape label


def custom_geometry(width_mm: float, height_mm: float) -> Geometry:
    """A single-label tape of any size (mm) within CUSTOM_LIMITS."""
    lo, hi = CUSTOM_LIMITS
    w = round(min(max(float(width_mm), lo), hi), 1)
    h = round(min(max(float(height_mm), lo), hi), 1)
    return Geometry(f"custom-{w:g}x{h:g}", _l("Custom label size"), "sheet-custom", 1, 1, w, h, w, h, True)


def custom_css(geometry: Geometry) -> str:
    """The stylesheet for a custom tape geometry (served from /print/labels/custom.css)."""
    w, h = geometry.label_w_mm, geometry.label_h_mm
    band = round(max(2.5, min(h * 0.16, 8)), 2)
    qr = round(max(8, min(h - band - 3.5, w * 0.55)), 2)
    fs_no = round(max(5, min(h * 0.33, 12)), 1)
    return (
        f".sheet-custom {{ page: tapecustom; --label-w: {w}mm; --label-h: {h}mm; --pad: 1.2mm 1.5mm; "
        f"--band-h: {band}mm; --qr: {qr}mm; --inner-gap: 1.5mm; --fs-band: {max(5, round(band * 1.5, 1))}pt; "
        f"--fs-no: {fs_no}pt; --fs-unit: {max(5, round(fs_no * 0.7, 1))}pt; }}\n"
        f"@page tapecustom {{ size: {w}mm {h}mm; margin: 0; }}\n"
        "@media screen { .label-sheet.sheet-custom { display: flex; flex-wrap: wrap; gap: 4mm; padding: 4mm; "
        "background: #eceff3; } }\n"
        "@media print { .label-sheet.sheet-custom { display: block; padding: 0; } "
        ".label-sheet.sheet-custom .label { break-after: page; } "
        ".label-sheet.sheet-custom .label:last-child { break-after: auto; } }\n"
    )


@dataclass
class LabelView:
    """What one printed label shows. Deliberately has no title."""

    code: str
    number: str
    level: str
    band: str
    unit: str


def band_text(level, secrecy_years: int | None = None) -> str:
    """The level marking: 机密★20年 / SECRET ★ 20 years for state secrets, the level alone otherwise."""
    from flask_babel import gettext as _

    level = Level(level)
    if secrecy_years and level >= Level.CONFIDENTIAL:
        return _("%(level)s★%(years)d years", level=level.label, years=secrecy_years)
    return str(level.label)


def sheets(labels: list[LabelView], geometry: Geometry) -> list[list[LabelView]]:
    """Split labels into physical sheets (tapes: one strip holding them all)."""
    if geometry.tape:
        return [labels] if labels else []
    n = geometry.per_sheet
    return [labels[i:i + n] for i in range(0, len(labels), n)]
