"""A small sample producer and consumer over the shared core, used by tests/shared/."""
