"""Core: base model, enums, audit trail, security events, errors, API plumbing."""
