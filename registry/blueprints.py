"""What create_app() registers, listed explicitly (no auto-discovery). One line per blueprint."""

BLUEPRINTS = [
    "registry.core.views:bp",
    "registry.core.api_views:bp",
    "registry.auth.views:bp",
    "registry.auth.api:bp",
    "registry.admin.views:bp",
    "registry.people.views:bp",
    "registry.people.api:bp",
    "registry.areas.views:bp",
    "registry.areas.api:bp",
    "registry.approvals.views:bp",
    "registry.approvals.api:bp",
    "registry.cooperation.views:bp",
    "registry.cooperation.api:bp",
    "registry.visits.views:bp",
    "registry.visits.api:bp",
]

CLI_COMMANDS = [
    "registry.auth.cli:create_user_command",
    "registry.auth.cli:token_group",
    "registry.auth.cli:setup_token_command",
    "registry.core.cli:audit_group",
    "registry.core.cli:demo_command",
    "registry.visits.cli:visits_group",
    "registry.core.cli:backup_command",
    "registry.core.cli:restore_command",
]
