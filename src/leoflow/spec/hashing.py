"""Content hash of a compiled DAG, so that pushing the same content twice is one version.

The hash covers the validated spec, not the file's bytes: key order, whitespace and fields
written out at their default value do not change it. ``dag_version`` is left out because it is
a label attached to the content, not part of it; every other field is covered.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from leoflow.spec.dag_spec import DagSpec

HASH_EXCLUDED_FIELDS = frozenset({"dag_version"})
"""Top-level ``dag.json`` fields that do not take part in ``spec_hash``."""


def canonical_json(value: Any) -> bytes:
    """UTF-8 JSON with sorted keys, no whitespace and no ASCII escaping; NaN is refused."""
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def spec_hash(spec: DagSpec) -> str:
    """SHA-256 (hex) of the canonical JSON of ``spec``, ignoring ``dag_version``."""
    payload = spec.model_dump(mode="json", exclude=set(HASH_EXCLUDED_FIELDS))
    return hashlib.sha256(canonical_json(payload)).hexdigest()
