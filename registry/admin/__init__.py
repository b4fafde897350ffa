"""Administration: users, roles, sign-in locks and unit settings."""
