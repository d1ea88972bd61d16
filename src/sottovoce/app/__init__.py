"""The chat app: a web UI served by the person's own client process on 127.0.0.1.

Keys stay on the device: this package runs beside the SDK (``sottovoce.client``)
in the person's process, never on the server. The browser tab is only a window:
it reaches the process over loopback with a per-session secret (``guard``).
"""
