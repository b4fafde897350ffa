"""Dashboard tiles and charts for every domain (SPEC §7)."""
