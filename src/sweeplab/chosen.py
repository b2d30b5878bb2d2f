"""The ``chosen`` block ``sweeplab best`` writes beside a config, and the digest that ties
the block to the config it was written with (``sweeplab train --config`` checks it).
Imports nothing heavy: analysis writes it, the trainer reads it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

CHOSEN_KEY = "chosen"


def digest(config: dict[str, Any]) -> str:
    """First 12 hex digits of the SHA-256 of the config as sorted JSON."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]
