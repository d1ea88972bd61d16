"""Every bound the server enforces, with the reason for its value.

Deployments may override the traffic bounds through ``Settings.limits``; the
defaults live here so that a reader finds each number and its reason together.
"""

# -- bodies and envelopes ------------------------------------------------------

# One envelope is one device's copy of one message. Text and the PQXDH initial
# message (ML-KEM-1024 ciphertext ~1.6 KiB) fit easily; attachments go to a blob
# store as encrypted pointers, never through this path. The client sizes its
# content to this bound (client.content.MAX_CONTENT_LEN).
MAX_ENVELOPE_BYTES = 64 * 1024
# 16 devices of the recipient (protocol.public.device_list.MAX_DEVICES) plus 16
# of the sender's own, should a client batch both into one request.
MAX_ENVELOPES_PER_MESSAGE = 32
# The largest legitimate body: MAX_ENVELOPES_PER_MESSAGE envelopes of
# MAX_ENVELOPE_BYTES, base64-inflated by 4/3 (2.7 MiB), plus JSON framing; a prekey
# upload of MAX_PREKEYS_PER_UPLOAD ML-KEM keys is ~0.5 MiB. Checked on
# Content-Length and while the body streams in, before anything is buffered whole.
MAX_BODY_BYTES = 4 * 1024 * 1024
# A signed device list: header, address, up to 16 entries of 137 bytes, signature.
MAX_DEVICE_LIST_BYTES = 8 * 1024
# A client's message id (its idempotency key, docs/api.md): a UUID or ULID fits.
MAX_MESSAGE_ID_LEN = 64

# -- queues ----------------------------------------------------------------------

# A device offline for weeks in busy conversations still fits; a flood aimed at
# one victim stops here instead of filling the disk.
MAX_QUEUE_DEPTH = 10_000
# One fetch (or one WebSocket backlog batch, or one ack) covers at most this many
# queued messages: bounded responses and bounded ``IN (...)`` lists in SQL.
MAX_FETCH = 500
# Queue ids are database row ids: SQLite INTEGER and PostgreSQL BIGINT hold signed
# 64 bits, so a larger number names no message and must not reach the database.
MAX_QUEUE_ID = 2**63 - 1

# -- WebSocket -------------------------------------------------------------------

# The largest frame uvicorn takes from a client before closing the connection
# (1009). It matches the SDK's own receive bound (client.transport.MAX_FRAME_BYTES),
# sized for one envelope frame: MAX_ENVELOPE_BYTES base64-inflated plus framing.
MAX_WEBSOCKET_MESSAGE_BYTES = 1024 * 1024
# What a client legitimately sends is an ack of at most MAX_FETCH ids of at most
# 19 digits (~10 KiB); a larger frame closes the connection (1008).
MAX_CLIENT_FRAME_BYTES = 64 * 1024

# -- request rate --------------------------------------------------------------

# One device sends at human speed; a token bucket allows bursts (reconnect
# catch-up, acks, a prekey top-up) while capping a compromised or buggy client.
REQUESTS_PER_SECOND = 50.0
REQUEST_BURST = 200

# -- prekeys -----------------------------------------------------------------------

# A client uploads in batches of ~100 (as Signal does) and replenishes when
# fewer than the watermark remain, so a burst of new contacts never falls back
# to the last-resort ML-KEM key for long.
MAX_PREKEYS_PER_UPLOAD = 200
# Per kind and device: enough for a month of new contacts, small enough that one
# device cannot fill the table.
MAX_PREKEYS_HELD = 1_000
PREKEY_LOW_WATERMARK = 20
# A claim asks for at most every device of one account.
MAX_CLAIM_DEVICES = 16
# Key ids are u32 in the signed prekey encoding (protocol.public.prekeys).
MAX_KEY_ID = 2**32 - 1

# -- signed requests ---------------------------------------------------------------

# A device's clock may be off by a few minutes; a request whose timestamp is
# further from the server's clock is refused (docs/api.md: ±300 s).
CLOCK_SKEW_MS = 300_000
# A nonce is remembered until its request's timestamp leaves the skew window,
# after which the timestamp check alone refuses a replay.
NONCE_WINDOW_MS = CLOCK_SKEW_MS
# Nonces held at once across all devices. At ~100 bytes each this is ~100 MB at
# most; when full the server refuses new requests (503) rather than forget a
# nonce that could then be replayed. 1M is 3,300 requests/s sustained for the
# whole window, beyond what one SQLite node serves.
MAX_REMEMBERED_NONCES = 1_000_000
# Device ids are u32 in the signed device list (protocol.public.device_list); a
# larger one names no device and must not reach the database.
MAX_DEVICE_ID = 2**32 - 1

# -- retention ---------------------------------------------------------------------

# DESIGN.md: retention is configurable and defaults to the minimum. Queued
# ciphertext leaves when acknowledged; what a device never collects is dropped
# after this many days (its sender address and arrival time with it). A device
# silent for a month has most likely been replaced; its owner's other devices and
# its contacts' retries cover the loss.
UNDELIVERED_RETENTION_DAYS = 30
# How often the retention sweep runs; deletion is at most this late.
RETENTION_SWEEP_INTERVAL_S = 3_600
