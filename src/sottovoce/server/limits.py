"""Every bound the server enforces, with the reason for its value."""

# A request carries at most one message for one account: up to
# MAX_ENVELOPES_PER_MESSAGE envelopes of MAX_ENVELOPE_BYTES, base64-inflated by 4/3,
# plus JSON framing. Attachments go to a blob store, never through this path.
MAX_ENVELOPE_BYTES = 64 * 1024
MAX_ENVELOPES_PER_MESSAGE = 32  # 16 recipient devices + 16 of the sender's own
MAX_BODY_BYTES = 4 * 1024 * 1024

# A device offline for weeks in a busy group still fits; a flood against one
# victim stops here instead of filling the disk.
MAX_QUEUE_DEPTH = 10_000

# One device sends at human speed; a token bucket allows bursts (reconnect
# catch-up, acks) while capping a compromised or buggy client.
REQUESTS_PER_SECOND = 50.0
REQUEST_BURST = 200

# Prekeys: a client uploads in batches of ~100 (as Signal does) and replenishes
# when fewer than the watermark remain, so a burst of new contacts never falls
# back to the last-resort key for long.
MAX_PREKEYS_PER_UPLOAD = 200
MAX_PREKEYS_HELD = 1_000
PREKEY_LOW_WATERMARK = 20

# Signed requests: a clock may be off by a few minutes; nonces are remembered
# for the same window so a captured request cannot be replayed.
CLOCK_SKEW_MS = 300_000

# A single fetch returns at most this many queued messages.
MAX_FETCH = 500

MAX_MESSAGE_ID_LEN = 64
MAX_CLAIM_DEVICES = 16
