"""Fingerprints: short digests of values renderer applied, so a plan can tell a blueprint change from a
change made outside renderer without the lockfile holding any value.

- Plain values (a plan, a command, a non-secret env var): `sha256:<32 hex>`, SHA-256 of the value's
  canonical JSON, truncated to 128 bits.
- Secret values (generated, read from a database, tenant secrets): `hmac-sha256:<32 hex>`, HMAC-SHA256
  keyed by the environment variable `RENDERER_FINGERPRINT_KEY`, so nobody who reads the lockfile can
  test guesses of a secret. Without the key, secrets get no fingerprint: the plan still compares live
  values with desired ones, but cannot tell who changed a secret, and `drift` skips secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from typing import Any

KEY_ENV = "RENDERER_FINGERPRINT_KEY"
PLAIN_PREFIX = "sha256:"
SECRET_PREFIX = "hmac-sha256:"
DIGEST_HEX = 32


def canonical(value: Any) -> bytes:
    """The canonical JSON bytes of `value` (sorted keys, no whitespace)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def plain(value: Any) -> str:
    """The fingerprint of a non-secret value."""
    return PLAIN_PREFIX + hashlib.sha256(canonical(value)).hexdigest()[:DIGEST_HEX]


@dataclass(frozen=True)
class Fingerprinter:
    """Computes fingerprints; `key` is the HMAC key for secrets (None: secrets get none)."""

    key: bytes | None = None

    @classmethod
    def from_env(cls) -> Fingerprinter:
        raw = os.environ.get(KEY_ENV)
        return cls(raw.encode() if raw else None)

    def of(self, value: Any, *, sensitive: bool) -> str | None:
        """A value's fingerprint, or None for a secret when no key is configured."""
        if not sensitive:
            return plain(value)
        if self.key is None:
            return None
        return SECRET_PREFIX + hmac.new(self.key, canonical(value), hashlib.sha256).hexdigest()[:DIGEST_HEX]

    def matches(self, fingerprint: str, value: Any) -> bool | None:
        """Whether `value` has `fingerprint`; None when that cannot be told (a secret without the key)."""
        computed = self.of(value, sensitive=fingerprint.startswith(SECRET_PREFIX))
        if computed is None:
            return None
        return hmac.compare_digest(computed, fingerprint)
