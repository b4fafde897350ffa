"""Entry point for `flask --app app` and gunicorn (`gunicorn app:app`)."""

import gc

from registry import create_app

app = create_app()

# What is loaded by now (modules, the app, its configuration: ~150,000 objects) lives as long as the
# process. Frozen, it is out of the cyclic collector's way: a full collection during a request then
# walks only what requests made (~100 ms -> ~5 ms at full data, docs/PERFORMANCE.md "Fourth pass").
# Only here, in the serving process: tests build many apps and must not freeze each other's garbage.
gc.collect()
gc.freeze()
