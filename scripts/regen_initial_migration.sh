#!/usr/bin/env bash
# Regenerate the single initial migration from the models (only while nothing is deployed).
# Usage: scripts/regen_initial_migration.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f registry/migrations/versions/*.py
export REGISTRY_INSTANCE_PATH="$tmp" SECRET_KEY="regen-only-key-0123456789abcdefghijklmnopqrstuv"
unset DATABASE_URL
.venv/bin/flask --app app db migrate -m "initial schema" >/dev/null
f=$(ls registry/migrations/versions/*.py)
python3 - "$f" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("import sqlalchemy as sa\n", "import sqlalchemy as sa\n\nimport registry.core.models\nfrom registry.core.audit import install_append_only_triggers\n", 1)
s = re.sub(r"(def upgrade\(\):\n(?:.*\n)*?)(    # ### end Alembic commands ###)",
           r"\1\2\n    # The audit trail and security events are append-only in the database itself (SPEC §5).\n    install_append_only_triggers(op.get_bind())", s, count=1)
s = s.replace("registry.core.models.UTCDateTime()", "registry.core.models.UTCDateTime()")
open(p, "w").write(s)
PY
mv "$f" registry/migrations/versions/0001_initial_schema.py
sed -i 's/^revision = .*/revision = "0001"/' registry/migrations/versions/0001_initial_schema.py
rm -rf "$tmp"
echo "wrote registry/migrations/versions/0001_initial_schema.py"
