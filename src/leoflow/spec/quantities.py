"""Kubernetes resource quantities (``500m``, ``1Gi``, ``1e3``), validated at compile time.

A quantity the API server would reject, or one that is legal but almost certainly a typo
(``memory: 128m`` is 0.128 *bytes*), must fail when the DAG is compiled, not when the first
pod of a run is created. Quantities are kept exactly as written (the artifact records what the
author asked for); ``parse_quantity`` gives their numeric value for comparisons such as
"requests must not exceed limits".
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
from pydantic.json_schema import WithJsonSchema

_QUANTITY_RE = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)
QUANTITY_PATTERN = _QUANTITY_RE.pattern
CPU_PATTERN = r"^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)m?$"

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_MEMORY_EXAMPLES = "e.g. '128Mi', '1Gi', '1G' or '1e9' (bytes)"


def parse_quantity(text: str) -> Decimal:
    """The value of a Kubernetes quantity (``"1Gi"`` -> 1073741824, ``"500m"`` -> 0.5).

    Raises ``ValueError`` when ``text`` is not a quantity in the Kubernetes grammar.
    """
    match = _QUANTITY_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    number = Decimal(match["number"])
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * (Decimal(1024) ** _BINARY[suffix])
    if suffix in _DECIMAL:
        return number.scaleb(_DECIMAL[suffix])
    return number.scaleb(int(suffix[1:]))


def _numbers_as_text(value: Any) -> Any:
    # YAML reads `cpu: 1` as an int; the artifact always stores the quantity as text.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _check_cpu(value: str) -> str:
    if not re.fullmatch(CPU_PATTERN, value):
        hint = " (binary suffixes like Mi are for memory)" if _QUANTITY_RE.fullmatch(value) else ""
        raise ValueError(
            f"cpu {value!r} is invalid{hint}: use cores like '1' or '0.5', "
            "or millicores like '500m'"
        )
    amount = parse_quantity(value)
    if amount <= 0:
        raise ValueError(f"cpu {value!r} must be greater than zero")
    if amount < Decimal("0.001"):
        raise ValueError(f"cpu {value!r} is below the Kubernetes precision of 1m (0.001 cores)")
    return value


def _check_bytes(value: str, what: str) -> str:
    match = _QUANTITY_RE.fullmatch(value)
    if match is None:
        raise ValueError(f"{what} {value!r} is not a Kubernetes quantity: use {_MEMORY_EXAMPLES}")
    suffix = match["suffix"] or ""
    if suffix in ("m", "u", "n"):
        number = match["number"]
        raise ValueError(
            f"{what} {value!r} means a fraction of a byte ('{suffix}' is a milli/micro/nano "
            f"suffix); did you mean '{number}Mi' or '{number}M'?"
        )
    if parse_quantity(value) < 1:
        raise ValueError(f"{what} {value!r} must be at least one byte: use {_MEMORY_EXAMPLES}")
    return value


def _check_memory(value: str) -> str:
    return _check_bytes(value, "memory")


def _check_storage(value: str) -> str:
    return _check_bytes(value, "storage size")


CpuQuantity = Annotated[
    str,
    BeforeValidator(_numbers_as_text),
    AfterValidator(_check_cpu),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": CPU_PATTERN}, {"type": "number"}],
            "description": "CPU cores ('1', '0.5') or millicores ('500m')",
        }
    ),
]
"""A CPU amount: cores (``"1"``, ``"0.5"``) or millicores (``"500m"``), greater than zero."""

MemoryQuantity = Annotated[
    str,
    BeforeValidator(_numbers_as_text),
    AfterValidator(_check_memory),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": QUANTITY_PATTERN}, {"type": "number"}],
            "description": f"bytes as a Kubernetes quantity, {_MEMORY_EXAMPLES}",
        }
    ),
]
"""A memory amount in bytes (``"128Mi"``, ``"1Gi"``, ``"1G"``, ``"1e3"``), at least one byte."""

StorageQuantity = Annotated[
    str,
    BeforeValidator(_numbers_as_text),
    AfterValidator(_check_storage),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": QUANTITY_PATTERN}, {"type": "number"}],
            "description": f"volume size as a Kubernetes quantity, {_MEMORY_EXAMPLES}",
        }
    ),
]
"""A volume size in bytes, with the same rules as ``MemoryQuantity``."""
