"""Verification-only protocol code the server may import: signatures, request auth, device lists."""
