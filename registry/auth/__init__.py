"""Users, roles, sign-in, sessions, API tokens, TOTP."""
