"""How a profile's store key is obtained: Argon2id over a passphrase, or a key file.

``profile.json`` says which, and holds the Argon2id salt and costs (none of it is
secret). Without a passphrase the key is 32 random bytes in ``store.key``,
created with mode 0600 so only the owner can read it: the device's disk
encryption and account then protect it, as they would a browser's key store.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import unicodedata
from pathlib import Path

from sottovoce.client.errors import ProfileError
from sottovoce.client.vault import STORE_KEY_LEN
from sottovoce.crypto.password import SALT_LEN, Argon2Parameters, argon2id
from sottovoce.crypto.random import random_bytes

PROFILE_FILE = "profile.json"
KEY_FILE = "store.key"
PROFILE_VERSION = 1
KDF_ARGON2ID = "argon2id"
KDF_KEY_FILE = "keyfile"
# profile.json is a few hundred bytes; a huge one is not ours.
MAX_PROFILE_FILE_BYTES = 4096
# Bounds on costs read back from profile.json: a tampered file must not make an
# unlock exhaust memory or run for hours. 4 GiB and 64 passes are far above any
# interactive setting RFC 9106 §4 recommends; 64 lanes exceeds any device's cores.
# RFC 9106 §3.1 requires at least 8 KiB of memory per lane.
MAX_ARGON2_MEMORY_KIB = 4 * 1024 * 1024
MAX_ARGON2_ITERATIONS = 64
MAX_ARGON2_LANES = 64
MIN_ARGON2_KIB_PER_LANE = 8


def _passphrase_bytes(passphrase: str) -> bytes:
    # NFC, so the same passphrase typed on keyboards that compose accents
    # differently still derives the same key.
    return unicodedata.normalize("NFC", passphrase).encode()


def _check_parameters(params: Argon2Parameters) -> None:
    if not 1 <= params.lanes <= MAX_ARGON2_LANES:
        raise ProfileError(f"Argon2id lanes must be between 1 and {MAX_ARGON2_LANES}")
    if not 1 <= params.iterations <= MAX_ARGON2_ITERATIONS:
        raise ProfileError(f"Argon2id passes must be between 1 and {MAX_ARGON2_ITERATIONS}")
    if not MIN_ARGON2_KIB_PER_LANE * params.lanes <= params.memory_kib <= MAX_ARGON2_MEMORY_KIB:
        raise ProfileError(
            f"Argon2id memory must be between {MIN_ARGON2_KIB_PER_LANE} KiB per lane "
            f"and {MAX_ARGON2_MEMORY_KIB} KiB"
        )


def new_store_key(
    directory: Path, passphrase: str | None, argon2: Argon2Parameters | None
) -> tuple[dict[str, object], bytes]:
    """A fresh store key and the profile.json content that recovers it.

    With no passphrase this writes ``store.key`` (mode 0600, never overwriting).
    """
    if passphrase is None:
        key = random_bytes(STORE_KEY_LEN)
        try:
            fd = os.open(directory / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise ProfileError(
                f"cannot create the key file in {directory}: {exc.strerror}"
            ) from exc
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return {"version": PROFILE_VERSION, "kdf": KDF_KEY_FILE}, key
    if not passphrase:
        raise ProfileError("an empty passphrase protects nothing; give none to use a key file")
    params = argon2 or Argon2Parameters()
    _check_parameters(params)
    salt = random_bytes(SALT_LEN)
    profile: dict[str, object] = {
        "version": PROFILE_VERSION,
        "kdf": KDF_ARGON2ID,
        "salt": base64.b64encode(salt).decode(),
        "memory_kib": params.memory_kib,
        "iterations": params.iterations,
        "lanes": params.lanes,
    }
    return profile, argon2id(_passphrase_bytes(passphrase), salt, STORE_KEY_LEN, params)


def write_profile(directory: Path, profile: dict[str, object]) -> None:
    """Write profile.json whole or not at all (temporary file, then rename)."""
    temporary = directory / (PROFILE_FILE + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(profile, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, directory / PROFILE_FILE)


def read_profile(directory: Path) -> dict[str, object]:
    path = directory / PROFILE_FILE
    try:
        if path.stat().st_size > MAX_PROFILE_FILE_BYTES:
            raise ProfileError(f"{path} is too large to be a Sottovoce profile")
        profile = json.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise ProfileError(f"no profile in {directory}; create an account first") from exc
    except (OSError, ValueError) as exc:
        raise ProfileError(f"{path} is unreadable or not JSON") from exc
    if not isinstance(profile, dict) or profile.get("version") != PROFILE_VERSION:
        raise ProfileError(f"{path} is not a version {PROFILE_VERSION} Sottovoce profile")
    return profile


def _argon2_parameters(profile: dict[str, object]) -> Argon2Parameters:
    values = [profile.get(name) for name in ("memory_kib", "iterations", "lanes")]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ProfileError("profile.json lacks valid Argon2id costs")
    memory_kib, iterations, lanes = (int(str(v)) for v in values)
    params = Argon2Parameters(memory_kib=memory_kib, iterations=iterations, lanes=lanes)
    _check_parameters(params)
    return params


def unlock(directory: Path, profile: dict[str, object], passphrase: str | None) -> bytes:
    """The store key of an existing profile. A wrong passphrase is not detected here
    (Argon2id gives some key for any input); the store's check record catches it."""
    kdf = profile.get("kdf")
    if kdf == KDF_KEY_FILE:
        if passphrase is not None:
            raise ProfileError("this profile has no passphrase; open it without one")
        try:
            key = (directory / KEY_FILE).read_bytes()
        except OSError as exc:
            raise ProfileError(f"cannot read the key file in {directory}") from exc
        if len(key) != STORE_KEY_LEN:
            raise ProfileError(f"the key file in {directory} is damaged")
        return key
    if kdf != KDF_ARGON2ID:
        raise ProfileError("profile.json names an unknown key derivation")
    if passphrase is None:
        raise ProfileError("this profile is locked with a passphrase")
    salt_text = profile.get("salt")
    try:
        salt = base64.b64decode(str(salt_text), validate=True)
    except (binascii.Error, ValueError):
        salt = b""
    if not isinstance(salt_text, str) or len(salt) != SALT_LEN:
        raise ProfileError(f"profile.json lacks a valid {SALT_LEN}-byte salt")
    return argon2id(_passphrase_bytes(passphrase), salt, STORE_KEY_LEN, _argon2_parameters(profile))
