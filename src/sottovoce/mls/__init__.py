"""Messaging Layer Security (RFC 9420) for groups, sans-I/O."""
