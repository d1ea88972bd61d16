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
# Messages one WebSocket has sent and not had acknowledged: the stream pauses there
# until acks make room. It bounds the per-connection set of ids the stream skips
# (an ``IN (...)`` list, like MAX_FETCH) and what a stalled client holds unread.
MAX_IN_FLIGHT = 500

# -- WebSocket -------------------------------------------------------------------

# The largest frame a client legitimately sends is a ``send`` frame: the body of
# POST /v1/messages, under the same bound. A larger one is answered with a 413
# problem frame and the connection keeps serving (docs/api.md).
MAX_CLIENT_FRAME_BYTES = MAX_BODY_BYTES
# The largest frame uvicorn takes from a client before closing the connection
# (1009): twice the bound above, so a frame somewhat over it is still answered.
MAX_WEBSOCKET_MESSAGE_BYTES = 2 * MAX_CLIENT_FRAME_BYTES
# Send frames one connection has in flight (checked and stored concurrently, in
# order): enough to keep a batch of stores full, and a bound on what one socket
# holds in memory (each frame at most MAX_CLIENT_FRAME_BYTES) while they wait.
MAX_PIPELINED_SENDS = 32
# Frames one ``batch`` frame carries at most (docs/api.md), either way: a client's
# outbox after a reconnect or a burst, the server's backlog read and answers. Two
# windows of sends, so a client that fills its window in one turn needs one frame;
# a larger batch is refused whole (each send in it answered with a 413 problem).
MAX_FRAMES_PER_BATCH = 2 * MAX_PIPELINED_SENDS
# The server closes a ``batch`` of its own frames once it holds this many bytes and
# starts the next: with one more frame (an envelope, ~88 KiB at most) it stays well
# under the 1 MiB a client takes in one frame (client.transport.MAX_FRAME_BYTES).
MAX_SERVER_BATCH_BYTES = 256 * 1024

# -- shutdown --------------------------------------------------------------------

# On SIGTERM a node stops accepting, tells each WebSocket to reconnect (1012,
# service restart: the load balancer sends it to another node) and gives requests
# in progress this long to finish before it exits. Nothing unacknowledged is lost
# either way: it stays queued.
SHUTDOWN_GRACE_S = 10

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

# -- groups (MLS Delivery Service) -------------------------------------------------

# KeyPackages per upload and held per device: each is claimed once, by one person
# adding this device to one group, so a device needs about as many as it has new
# groups between two top-ups (the client keeps ~50). A last-resort KeyPackage,
# reused when these run out (RFC 9420 §16.8), is held beside them and not counted.
MAX_KEY_PACKAGES_PER_UPLOAD = 100
MAX_KEY_PACKAGES_HELD = 200
KEY_PACKAGE_LOW_WATERMARK = 10
# One KeyPackage: a leaf node with an X25519 init and encryption key, an Ed25519
# signature key, a credential naming handle@app/device, capabilities and
# lifetime (~350 bytes); room for extensions, bounded well below an envelope.
MAX_KEY_PACKAGE_BYTES = 8 * 1024
# Member devices of one group. A commit is fanned out in one transaction with one
# queue row per member device; 1,000 is the group size MLS's logarithmic costs are
# benchmarked at here (bench/mls.py) and far above what a family or team group needs.
MAX_GROUP_DEVICES = 1_000
# Devices one commit may add: every device of one account (MAX_CLAIM_DEVICES) times
# the few accounts a person adds at once.
MAX_DEVICES_PER_COMMIT = 64
# A group id is chosen by its creator at random (the SDK uses 32 bytes).
MAX_GROUP_ID_BYTES = 64
# A commit with an UpdatePath in a 1,000-member group (log2 = 10 path nodes, each
# HPKE-encrypted to its copath resolution) and a Welcome carrying the ratchet tree
# (~1,000 leaves of ~300 bytes) both stay below this; delivered base64-inflated in
# one WebSocket frame it still fits the SDK's receive bound (1 MiB,
# client.transport.MAX_FRAME_BYTES).
MAX_HANDSHAKE_BYTES = 512 * 1024
# A group application message is an envelope: the same bound as one-to-one.
MAX_GROUP_MESSAGE_BYTES = MAX_ENVELOPE_BYTES
# Groups listed in one answer of GET /v1/groups.
MAX_GROUPS_LISTED = 500

# -- linked devices and key transparency (issue 3) ---------------------------------

# One signed tree head per epoch: a key change is provable to everyone within a
# few seconds, and a quiet log signs nothing (heads are signed only after appends).
TRANSPARENCY_EPOCH_S = 3.0
# Log entries per GET /v1/transparency/entries: a monitoring client catches up on
# ~100 KiB per page.
MAX_LOG_ENTRIES_PER_PAGE = 1_000
# A linking code is shown on the new device and typed or scanned within minutes;
# the relayed provisioning message is dropped after this.
PROVISIONING_TTL_S = 600
# How long GET /v1/provisioning/{id} holds the request waiting for the message
# before answering {"message": null}: inside the SDK's 15 s request timeout
# (client.transport.REQUEST_TIMEOUT_S), so a slow acceptance is a poll, not an error.
PROVISIONING_WAIT_S = 10.0
# The provisioning message carries the account key, the device list and the
# contacts (each ~1 KiB): 256 KiB is room for a few hundred contacts.
MAX_PROVISIONING_BYTES = 256 * 1024
# Channels open at once on one node: each holds at most one message in memory.
MAX_PROVISIONING_CHANNELS = 1_000

# -- safety controls (docs/safety.md) ---------------------------------------------

# An account younger than this many days is "new": spam and grooming accounts are
# mostly made for the purpose and used at once, so new accounts get the tighter
# bounds below until they have existed a week.
NEW_ACCOUNT_DAYS = 7
# Distinct accounts one account may start unsealed (non-contact) conversations
# with per day. A person meets a few new people a day; a spammer needs hundreds.
# Counted in Redis when the nodes share one (else in memory), forgotten when the
# UTC day ends (server.abuse.shared_counts).
NEW_RECIPIENTS_PER_DAY = 100
NEW_RECIPIENTS_PER_DAY_NEW_ACCOUNT = 20
# A restricted account (by an operator, or automatically on reports) may still
# answer the few people it already talks to, but barely reach strangers.
NEW_RECIPIENTS_PER_DAY_RESTRICTED = 2
# Groups one account may create per day: people make a handful; a raid needs many.
GROUPS_PER_DAY = 20
GROUPS_PER_DAY_NEW_ACCOUNT = 5
GROUPS_PER_DAY_RESTRICTED = 0
# An open WebSocket re-reads its account's standing at least this often: the most
# an operator's suspension made without the nodes' Redis (`sottovoce moderation
# act` on the database alone) takes to close it. With Redis, or a suspension made
# by a node, the fan-out closes it at once.
SUSPENSION_RECHECK_S = 60.0
# Reports within this many days count towards automatic action; older ones have
# either been acted on by a person or were not part of a pattern.
REPORT_WINDOW_DAYS = 30
# Distinct accounts whose verified reports or reported blocks name one account
# within the window: at this many it is restricted, at the second suspended until
# an operator reviews it. One angry contact cannot act alone; a pattern does.
RESTRICT_AFTER_REPORTERS = 3
SUSPEND_AFTER_REPORTERS = 5

# -- legal requests (server.legal, docs/legal.md) ------------------------------------

# A legal request names a few accounts and categories and carries two signatures:
# a few KiB. 64 KiB leaves room for long legal-basis text and refuses anything
# that could only be an attempt to fill memory or the audit chain.
MAX_LEGAL_DOCUMENT_BYTES = 64 * 1024
# The document's shape is three levels deep (document → request → accounts → one
# account); more than this is not a request but a parser attack.
MAX_LEGAL_DOCUMENT_DEPTH = 6
# A request must name specific accounts: more than this is a bulk request, which
# the operator refuses whatever the process (docs/legal.md "No bulk requests").
MAX_ACCOUNTS_PER_LEGAL_REQUEST = 10
# Free-text fields (legal basis, emergency justification) fit a paragraph.
MAX_LEGAL_TEXT_LEN = 2_000
# Authorities' and requests' clocks may be off by a few minutes.
LEGAL_CLOCK_SKEW_S = 300
# 18 U.S.C. § 2703(f)(2): a preservation lasts 90 days, renewable once by a new request.
MAX_PRESERVATION_DAYS = 90
# How often the server looks for notices whose non-disclosure period has ended.
LEGAL_NOTICE_INTERVAL_S = 3_600

# -- sealed sender and franking (docs/safety.md) -------------------------------------

# A sender certificate is valid this long (Signal's are valid for a day too): long
# enough that a client fetches one a day, short enough that a removed device's
# certificate soon stops being accepted by recipients.
SENDER_CERTIFICATE_LIFETIME_MS = 24 * 3_600_000
# Sealed sends are not signed, so the per-device bucket cannot apply; each
# recipient account gets its own bucket instead: a busy conversation stays far
# below it, while a contact flooding one person with sealed messages is slowed.
SEALED_SENDS_PER_SECOND_PER_RECIPIENT = 20.0
SEALED_SEND_BURST_PER_RECIPIENT = 100
# One report reveals a few messages of one conversation around the abuse.
MAX_MESSAGES_PER_REPORT = 20
# A reason is a short, free-form sentence chosen by the reporter.
MAX_REPORT_REASON_LEN = 500
# Revealed content of one message: at most one envelope's worth of plaintext.
MAX_REPORTED_CONTENT_BYTES = MAX_ENVELOPE_BYTES
# Legal requests carry no device signature, and every one (valid or not) is an
# audit-chain entry: a server-wide token bucket keeps junk from flooding the chain,
# far above the few requests a day a real operator receives.
LEGAL_REQUESTS_PER_SECOND = 5.0
LEGAL_REQUEST_BURST = 100

# -- attachments (docs/app.md) ---------------------------------------------------------

# A 100 MiB file (client.attachments.MAX_ATTACHMENT_BYTES, what Signal and WhatsApp
# allow) once encrypted: one 16-byte tag per 256 KiB chunk, so 6,400 bytes more.
MAX_BLOB_BYTES = 100 * 1024 * 1024 + 400 * 16
# Blobs whose upload never finished, or that nobody fetched for long, go: 30 days,
# as Signal keeps attachments on its CDN; a person then asks the sender again.
BLOB_RETENTION_DAYS = 30
# An upload segment that arrives ahead of the blob's offset (the SDK keeps two in
# flight on two connections) waits this long for the one before it to be stored,
# then is refused with 409 offset-mismatch: long enough for a 3.5 MiB segment on a
# slow link, short enough that a lost predecessor does not hold a request open.
BLOB_AHEAD_WAIT_S = 10.0
