"""Default configuration; overridden by instance/config.py, REGISTRY_* env vars and test dicts."""

# Database: a relative SQLite path resolves inside instance/. DATABASE_URL overrides.
SQLALCHEMY_DATABASE_URI = "sqlite:///registry.sqlite"
SQLALCHEMY_ENGINE_OPTIONS: dict = {}
SQLITE_BUSY_TIMEOUT_MS = 15000
# PostgreSQL: a pooled connection idle for longer than this is pinged before use (0: before every use).
DB_PING_IDLE_SECONDS = 10

# Sessions (SPEC §5a). Idle and absolute timeouts in minutes.
SESSION_IDLE_MINUTES = 30
SESSION_ABSOLUTE_MINUTES = 12 * 60
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = False  # turned on (with the __Host- name) when HTTPS = True
HTTPS = False
REAUTH_MINUTES = 10  # how long a re-entered password counts as "fresh"
# How often a signed-in browser's "last seen" time (idle timeout) is rewritten into its cookie: the
# cookie is re-signed at most once per this many seconds, not on every response (issue 8).
SESSION_SEEN_REFRESH_SECONDS = 60

# Per-process caches (issue 8). Unit settings: a change made in one worker is seen by that worker
# at once and by every other worker within this many seconds (0 = read the table on every request).
SETTINGS_CACHE_SECONDS = 5
# Unit-wide dashboard figures (shown to officers, approvers, inspectors, admins; never a staff member's
# own): kept this many seconds per process (0 = computed on every request). Off: the dashboard meets its
# 200 ms target at full size without it; larger installations may set e.g. 30 (figures lag that long).
DASHBOARD_CACHE_SECONDS = 0

# Sign-in throttling (database-backed, holds across workers).
LOGIN_MAX_FAILURES_PER_ACCOUNT = 5
LOGIN_MAX_FAILURES_PER_IP = 20
LOGIN_FAILURE_WINDOW_MINUTES = 15
LOGIN_LOCK_BASE_SECONDS = 60
LOGIN_LOCK_MAX_SECONDS = 3600

# Requests.
MAX_CONTENT_LENGTH = 16 * 1024 * 1024
MAX_FORM_MEMORY_SIZE = 2 * 1024 * 1024
MAX_FORM_PARTS = 2000
WTF_CSRF_TIME_LIMIT = 8 * 3600
WTF_CSRF_CHECK_DEFAULT = False  # checked in one before_request hook, skipped only for bearer API calls

# Rate limiting (Flask-Limiter); use redis://127.0.0.1:6379 with several workers or hosts.
RATELIMIT_STORAGE_URI = "memory://"
RATELIMIT_HEADERS_ENABLED = True
RATELIMIT_TOKEN = "10 per minute"

# i18n
BABEL_DEFAULT_LOCALE = "zh_CN"
BABEL_DEFAULT_TIMEZONE = "UTC"
LANGUAGES = ["zh_CN", "en"]

# Labels: what the QR encodes is REGISTRY_BASE_URL + /s/<code> (never the request Host).
BASE_URL = "http://127.0.0.1:5000"

# Reverse proxy hops to trust for X-Forwarded-* (0 = none; set to 1 behind one nginx).
PROXY_FIX_HOPS = 0

# Where large export jobs and label caches live (inside instance/ unless absolute).
CACHE_DIR = "cache"
EXPORT_DIR = "exports"

# Person pickers: up to this many candidates a form shows a plain <select>; above it, a search box
# (type a name or employee number; /people/lookup) so that a page never carries every person (issue 8).
PICKER_MAX_OPTIONS = 300
