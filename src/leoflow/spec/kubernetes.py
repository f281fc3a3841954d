"""The Kubernetes-shaped parts of a task: resources, scheduling constraints, staging volume.

These fields become a pod spec (Pro) or are checked the same way in Lite so that a DAG that
compiles runs unchanged on both editions. They are validated with the API server's own rules
(label syntax, DNS names, toleration semantics), because a mistake found only when a pod is
created fails a run that could have been rejected at compile time.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, model_validator
from pydantic.json_schema import WithJsonSchema

from leoflow.spec.fields import SpecModel, StrictBool
from leoflow.spec.quantities import CpuQuantity, MemoryQuantity, StorageQuantity, parse_quantity

_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
DNS_SUBDOMAIN_PATTERN = rf"^{_DNS_LABEL}(?:\.{_DNS_LABEL})*$"
_LABEL_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
LABEL_KEY_PATTERN = rf"^(?:{_DNS_LABEL}(?:\.{_DNS_LABEL})*/)?{_LABEL_NAME}$"
LABEL_VALUE_PATTERN = rf"^(?:{_LABEL_NAME})?$"


def _check_dns_subdomain(value: str) -> str:
    if len(value) > 253 or not re.fullmatch(DNS_SUBDOMAIN_PATTERN, value):
        raise ValueError(
            f"{value!r} is not a valid Kubernetes name: use at most 253 lowercase letters, "
            "digits, '-' and '.', starting and ending with a letter or digit"
        )
    return value


def _check_label_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    if not re.fullmatch(LABEL_KEY_PATTERN, value) or len(name) > 63 or len(prefix) > 253:
        raise ValueError(
            f"{value!r} is not a valid Kubernetes label key: use an optional DNS prefix and '/', "
            "then at most 63 letters, digits, '-', '_' or '.' (e.g. 'kubernetes.io/arch')"
        )
    return value


def _check_label_value(value: str) -> str:
    if len(value) > 63 or not re.fullmatch(LABEL_VALUE_PATTERN, value):
        raise ValueError(
            f"{value!r} is not a valid Kubernetes label value: use at most 63 letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit"
        )
    return value


KubernetesName = Annotated[
    str,
    AfterValidator(_check_dns_subdomain),
    WithJsonSchema({"type": "string", "pattern": DNS_SUBDOMAIN_PATTERN, "maxLength": 253}),
]
"""A DNS-1123 subdomain: what Kubernetes accepts as a service account or storage class name."""

LabelKey = Annotated[
    str,
    AfterValidator(_check_label_key),
    WithJsonSchema({"type": "string", "pattern": LABEL_KEY_PATTERN}),
]
"""A Kubernetes label key (``[prefix/]name``)."""

LabelValue = Annotated[
    str,
    AfterValidator(_check_label_value),
    WithJsonSchema({"type": "string", "pattern": LABEL_VALUE_PATTERN, "maxLength": 63}),
]
"""A Kubernetes label value (possibly empty)."""


class ResourceList(SpecModel):
    """Amounts of CPU and memory, as in a container's ``requests`` or ``limits``."""

    cpu: CpuQuantity | None = None
    memory: MemoryQuantity | None = None


class Resources(SpecModel):
    """Container resources; a request may not exceed the matching limit (Kubernetes rule)."""

    requests: ResourceList | None = None
    limits: ResourceList | None = None

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Self:
        if self.requests is None or self.limits is None:
            return self
        for name in ("cpu", "memory"):
            request = getattr(self.requests, name)
            limit = getattr(self.limits, name)
            if (
                request is not None
                and limit is not None
                and parse_quantity(request) > parse_quantity(limit)
            ):
                raise ValueError(
                    f"requests.{name} {request!r} exceeds limits.{name} {limit!r}; "
                    "raise the limit or lower the request"
                )
        return self


class Toleration(SpecModel):
    """A Kubernetes toleration, with the API server's consistency rules applied."""

    key: LabelKey | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: LabelValue | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: Annotated[int, Field(strict=True, ge=0)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.operator == "Exists" and self.value:
            raise ValueError(
                "a toleration with operator 'Exists' matches any value; remove 'value' "
                "or use operator 'Equal'"
            )
        if self.key is None and self.operator != "Exists":
            raise ValueError(
                "a toleration without 'key' must use operator 'Exists' (it tolerates every "
                "taint); add a key or set operator: Exists"
            )
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError(
                "toleration_seconds only applies to effect 'NoExecute'; set effect: NoExecute "
                "or remove toleration_seconds"
            )
        return self


class Execution(SpecModel):
    """Where and as whom a task's pod runs."""

    node_selector: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    service_account: KubernetesName | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None


class Staging(SpecModel):
    """A per-run scratch volume mounted at ``/staging`` in every task of a run (ADR 0016).

    ``size`` and ``storage_class`` left unset are filled by the platform at dispatch; tasks of
    one run that execute in parallel on different nodes need a ``ReadWriteMany`` class.
    """

    enabled: StrictBool = True
    size: StorageQuantity | None = None
    storage_class: KubernetesName | None = None
