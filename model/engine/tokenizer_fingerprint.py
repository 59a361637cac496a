"""A short, stable name for what a tokenizer's ids mean, logged with every model turn.

Training rebuilds each logged turn from its token ids alone, so ids written under one tokenizer
and read under another would train the model on garbage without any error. The fingerprint is
the SHA-256 of the id -> token mapping (added and special tokens included): two tokenizers get the
same fingerprint exactly when every id names the same token string. Normalisation and
pre-tokenisation rules are left out on purpose: they decide how text becomes ids, not what the
logged ids mean, and a checkpoint saved by the trainer keeps the mapping (so keeps the name).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """64 hex characters (fits `ModelTurn.tokenizer_fingerprint`), the same on every machine."""
    vocab = tokenizer.get_vocab()  # token string -> id, added tokens included
    pairs = sorted((int(index), str(token)) for token, index in vocab.items())
    payload = json.dumps(pairs, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(payload).hexdigest()
