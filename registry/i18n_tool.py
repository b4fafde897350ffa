"""Translation catalog tool: `python -m registry.i18n_tool missing|build|check`.

The Chinese catalog is kept as fragments, one per domain, in
registry/translations/zh_Hans_CN/LC_MESSAGES/parts/*.po (so that work on different domains
never edits the same file). `build` merges them into messages.po and compiles messages.mo;
`missing` prints a .po skeleton of every extracted msgid that no fragment translates;
`check` exits 1 when anything is missing or the compiled catalog is stale.
"""

from __future__ import annotations

import io
import sys
from datetime import datetime, timezone
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LC = ROOT / "registry" / "translations" / "zh_Hans_CN" / "LC_MESSAGES"
PARTS = LC / "parts"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None, "_n": (1, 2)}
METHOD_MAP = [("registry/**.py", "python"), ("templates/**.html", "jinja2")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.do", "trimmed": "false"}}


def extracted() -> dict[str, list[str]]:
    """msgid -> locations, from the code and templates."""
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _ctx in extract_from_dir(
            str(ROOT), METHOD_MAP, options_map=OPTIONS, keywords=KEYWORDS):
        if filename.startswith(("registry/migrations", ".venv")) or "i18n_tool" in filename:
            continue
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


def merged() -> Catalog:
    fixed = datetime(2026, 1, 1, tzinfo=timezone.utc)  # deterministic output: the check compares bytes
    cat = Catalog(locale="zh_Hans_CN", project="registry", fuzzy=False, creation_date=fixed, revision_date=fixed)
    for part in sorted(PARTS.glob("*.po")):
        with part.open("rb") as fh:
            src = read_po(fh, locale="zh_Hans_CN")
        for msg in src:
            if msg.id and msg.string and not msg.fuzzy and msg.id not in cat:
                cat.add(msg.id, msg.string)
    return cat


def missing() -> list[tuple[str, list[str]]]:
    cat = merged()
    return [(mid, locs) for mid, locs in sorted(extracted().items()) if mid not in cat or not cat[mid].string]


def compiled_bytes(cat: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, cat, use_fuzzy=False)
    return buf.getvalue()


def build() -> None:
    cat = merged()
    with (LC / "messages.po").open("wb") as fh:
        write_po(fh, cat, omit_header=False, sort_output=True, width=120)
    (LC / "messages.mo").write_bytes(compiled_bytes(cat))
    print(f"built {len(cat)} messages")


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "check"
    if cmd == "build":
        build()
        return 0
    if cmd == "missing":
        for mid, locs in missing():
            print(f"#: {locs[0]}")
            esc = mid.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            print(f'msgid "{esc}"\nmsgstr ""\n')
        return 0
    gaps = missing()
    stale = not (LC / "messages.mo").exists() or (LC / "messages.mo").read_bytes() != compiled_bytes(merged())
    for mid, locs in gaps:
        print(f"untranslated: {mid!r} ({locs[0]})")
    if stale:
        print("messages.mo is stale: run python -m registry.i18n_tool build")
    return 1 if gaps or stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
