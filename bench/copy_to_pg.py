#!/usr/bin/env python3
"""Copy a database made by bench/generate.py from SQLite into PostgreSQL (COPY), row for row.

    .venv/bin/python bench/copy_to_pg.py --sqlite /tmp/perf/full.sqlite --pg postgresql://postgres@127.0.0.1/reg_perf

Generating 3.7 million rows straight into PostgreSQL through SQLAlchemy executemany is ~2x slower
than into SQLite on this box; COPY of the finished SQLite rows is a faster bulk path to the same
data (same ids, same label codes, same audit chain). The PostgreSQL schema is built like
tests/conftest.py (create_all + append-only triggers + stamp); timestamps are stored as UTC; the
sequences are moved past the copied ids; ANALYZE at the end. `flask --app app audit verify`
against the PostgreSQL URL recomputes the same chain.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import log, make_app, normalise_url  # noqa: E402
from generate import build_schema  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sqlite", required=True)
    ap.add_argument("--pg", required=True)
    a = ap.parse_args(argv)
    import psycopg
    import sqlalchemy as sa

    from registry.core.models import UTCDateTime

    t_start = time.perf_counter()
    url = normalise_url(a.pg)
    app = make_app(url, instance="/tmp/perf/copy_instance")
    build_schema(app, url)
    from registry.extensions import db

    with app.app_context():
        tables = [t for t in db.metadata.sorted_tables]
        db.engine.dispose()
    src = sqlite3.connect(a.sqlite)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    total = 0
    with psycopg.connect(dsn) as pg:
        with pg.cursor() as cur:
            cur.execute("SET session_replication_role = replica")  # FK checks off during the copy (same rows)
            for t in tables:
                cols = [c.name for c in t.columns]
                tz_cols = [i for i, c in enumerate(t.columns) if isinstance(c.type, UTCDateTime)]
                bool_cols = [i for i, c in enumerate(t.columns) if isinstance(c.type, sa.Boolean)]
                t0 = time.perf_counter()
                n = 0
                q = ", ".join(f'"{c}"' for c in cols)
                with cur.copy(f'COPY "{t.name}" ({q}) FROM STDIN') as copy:
                    for row in src.execute(f'SELECT {q} FROM "{t.name}"'):
                        if tz_cols or bool_cols:
                            row = list(row)
                            for i in tz_cols:
                                if row[i] is not None:
                                    row[i] = row[i] + "+00"
                            for i in bool_cols:
                                if row[i] is not None:
                                    row[i] = bool(row[i])
                        copy.write_row(row)
                        n += 1
                total += n
                if n:
                    log(f"  {t.name}: {n} rows in {time.perf_counter() - t0:.1f} s")
            cur.execute("SET session_replication_role = origin")
            for t in tables:
                idcol = t.columns.get("id")
                if idcol is not None and idcol.primary_key and isinstance(idcol.type, sa.Integer) and idcol.autoincrement:
                    cur.execute(f"SELECT pg_get_serial_sequence('{t.name}', 'id')")
                    seq = cur.fetchone()[0]
                    if seq:
                        cur.execute(f"SELECT setval('{seq}', GREATEST((SELECT max(id) FROM \"{t.name}\"), 1))")
        pg.commit()
        pg.autocommit = True
        t0 = time.perf_counter()
        pg.execute("ANALYZE")
        log(f"  ANALYZE: {time.perf_counter() - t0:.1f} s")
    log(f"TOTAL {time.perf_counter() - t_start:.1f} s for {total} rows")


if __name__ == "__main__":
    main()
