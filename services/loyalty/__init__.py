"""The loyalty service."""
