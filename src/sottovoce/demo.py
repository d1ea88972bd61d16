"""Placeholder replaced by the client helper."""
