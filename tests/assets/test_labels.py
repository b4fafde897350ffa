"""QR rendering: the SVG serialiser equals segno's own writer byte for byte; the cache."""

from __future__ import annotations

import io
import random
import string

import segno

from registry.assets import labels


def _segno_svg(qr) -> bytes:
    buf = io.BytesIO()
    qr.save(buf, kind="svg", scale=1, border=2, xmldecl=False, svgclass=None, lineclass=None, dark="#000",
            omitsize=True)
    return buf.getvalue()


def test_svg_serialiser_equals_segnos_writer():
    rnd = random.Random(8)
    alphabet = string.ascii_letters + string.digits + "-_"
    payloads = [labels.qr_payload("".join(rnd.choices(alphabet, k=rnd.randint(1, 120))),
                                  rnd.choice(["https://registry.example.cn", "http://10.1.2.3:8000/"]))
                for _ in range(400)]
    versions = set()
    for p in payloads:
        qr = segno.make_qr(p, error="m")
        versions.add(qr.version)
        assert labels.svg_of(qr) == _segno_svg(qr), p
    assert len(versions) >= 5          # small and large symbols alike


def test_cache_renders_once_per_code_and_format(tmp_path, monkeypatch):
    calls = []
    real = labels._render
    monkeypatch.setattr(labels, "_render", lambda payload, fmt: calls.append((payload, fmt)) or real(payload, fmt))
    first = labels.qr_images(["AAA1", "BBB2"], "svg", base_url="https://r.example", cache_dir=tmp_path)
    again = labels.qr_images(["BBB2", "AAA1", "CCC3"], "svg", base_url="https://r.example", cache_dir=tmp_path)
    png = labels.qr_image("AAA1", "png", base_url="https://r.example", cache_dir=tmp_path)
    other_host = labels.qr_image("AAA1", "svg", base_url="https://other.example", cache_dir=tmp_path)
    assert [c[0].rsplit("/", 1)[1] for c in calls] == ["AAA1", "BBB2", "CCC3", "AAA1", "AAA1"]
    assert again["AAA1"] == first["AAA1"] and again["BBB2"] == first["BBB2"]
    assert png.startswith(b"\x89PNG") and other_host != first["AAA1"]
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("qr.sqlite3-")] == ["qr.sqlite3"]
