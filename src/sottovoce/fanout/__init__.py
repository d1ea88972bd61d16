"""Delivery notifications between the parts of the server: in-process for one node."""
