"""The slice of the Kubernetes API the executor uses, over lightkube's asyncio client.

Manifests travel as plain dicts (what ``pod_builder`` makes and what the watcher reads), so
everything above this module is testable without a cluster. Every call is retried with
backoff on what a busy or restarting API server answers (connection errors, 429, 5xx); the
answers that carry meaning are turned into outcomes instead of errors: ``409`` on create means
"already there" (a duplicate dispatch is harmless), ``404`` on delete means "already gone".
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

import httpx
from lightkube import AsyncClient, KubeConfig, codecs
from lightkube.config.kubeconfig import SingleConfig
from lightkube.core.exceptions import ApiError
from lightkube.core.resource import NamespacedResource
from lightkube.resources.core_v1 import PersistentVolumeClaim, Pod, Secret
from lightkube.resources.storage_v1 import StorageClass
from lightkube.types import PatchType

from leoflow.config import KubernetesSettings
from leoflow.telemetry import get_logger
from leoflow.telemetry.metrics import KUBERNETES_API_CALLS

log = get_logger(__name__)

_T = TypeVar("_T")

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
NAMESPACED_KINDS: dict[str, type[NamespacedResource]] = {
    "Pod": Pod,
    "Secret": Secret,
    "PersistentVolumeClaim": PersistentVolumeClaim,
}

Manifest = dict[str, Any]
WatchEvent = tuple[str, Manifest]


class KubeApiError(RuntimeError):
    """The API refused a call (or stayed unreachable through every retry)."""

    def __init__(self, message: str, status: int | None = None, reason: str | None = None):
        super().__init__(message)
        self.status = status
        self.reason = reason


class WatchExpired(KubeApiError):
    """``410 Gone``: the resource version is too old; list again, then watch from there."""


class KubeApi(Protocol):
    """What the executor needs from a Kubernetes API server."""

    namespace: str

    async def create(self, manifest: Manifest) -> tuple[Manifest, bool]:
        """Create the object; returns it and ``True``, or the existing one and ``False``."""

    async def get(self, kind: str, name: str) -> Manifest | None: ...

    async def delete(self, kind: str, name: str, *, grace_seconds: int | None = None) -> bool:
        """Delete the object; ``False`` when it did not exist."""

    async def list_objects(
        self, kind: str, labels: Mapping[str, str]
    ) -> tuple[list[Manifest], str]:
        """Objects matching ``labels`` and the list's resource version (to watch from)."""

    def watch(
        self, kind: str, labels: Mapping[str, str], resource_version: str
    ) -> AsyncIterator[WatchEvent]:
        """``(type, object)`` events after ``resource_version``; :class:`WatchExpired` on 410."""

    async def set_owner(self, kind: str, name: str, owner: Manifest) -> None:
        """Make ``owner`` (a Pod) the owner of the object, so Kubernetes deletes it too."""

    async def read_log(self, pod: str, container: str, tail_lines: int) -> list[str]: ...

    async def get_storage_class(self, name: str) -> Manifest | None: ...

    async def list_storage_classes(self) -> list[Manifest]: ...

    async def close(self) -> None: ...


def as_manifest(obj: Any) -> Manifest:
    """A lightkube object as the plain dict the API speaks."""
    data: Manifest = obj.to_dict()
    return data


def _api_status(exc: ApiError) -> tuple[int | None, str | None, str]:
    status = exc.status
    return status.code, status.reason, status.message or str(exc)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, ApiError):
        return exc.status.code in RETRYABLE_STATUS
    return isinstance(exc, httpx.TransportError)


_OPERATIONS = {
    "create": "create",
    "get": "get",
    "delete": "delete",
    "list": "list",
    "set": "patch",
    "read": "log",
}


def _operation(what: str) -> str:
    """The metric label of a call described as ``"create Pod name"`` (a bounded set)."""
    return _OPERATIONS.get(what.split(" ", 1)[0], "other")


def _result(status: int | None) -> str:
    return {404: "not_found", 409: "conflict"}.get(status or 0, "error")


def kube_config(settings: KubernetesSettings) -> KubeConfig | SingleConfig:
    """Where the API is: an explicit URL, a kubeconfig file, or in-cluster/default config."""
    if settings.api_url:
        return KubeConfig.from_dict(
            {
                "clusters": [{"name": "api", "cluster": {"server": settings.api_url}}],
                "users": [{"name": "anonymous", "user": {}}],
                "contexts": [
                    {
                        "name": "api",
                        "context": {
                            "cluster": "api",
                            "user": "anonymous",
                            "namespace": settings.namespace,
                        },
                    }
                ],
                "current-context": "api",
            }
        )
    config = (
        KubeConfig.from_file(settings.kubeconfig)
        if settings.kubeconfig is not None
        else KubeConfig.from_env()
    )
    if settings.context:
        single = config.get(context_name=settings.context)
        if single is None:
            raise ValueError(f"kubeconfig has no context {settings.context!r}")
        return single
    return config


class LightkubeApi:
    """:class:`KubeApi` over ``lightkube.AsyncClient`` in one namespace."""

    def __init__(
        self,
        settings: KubernetesSettings,
        *,
        client: AsyncClient | None = None,
        retries: int | None = None,
        backoff_seconds: float = 0.2,
        watch_timeout_seconds: int = 300,
    ) -> None:
        self.namespace = settings.namespace
        self._retries = settings.api_retries if retries is None else retries
        self._backoff = backoff_seconds
        self._watch_timeout = watch_timeout_seconds
        self._client = client or AsyncClient(
            config=kube_config(settings),
            namespace=settings.namespace,
            timeout=httpx.Timeout(settings.api_timeout_seconds),
            field_manager="leoflow",
            trust_env=False,
        )

    async def _call(self, what: str, call: Callable[[], Awaitable[_T]]) -> _T:
        operation = _operation(what)
        attempt = 0
        while True:
            try:
                answer = await call()
            except (ApiError, httpx.HTTPError) as exc:
                if not _retryable(exc) or attempt >= self._retries:
                    error = self._error(what, exc)
                    KUBERNETES_API_CALLS.labels(operation, _result(error.status)).inc()
                    raise error from exc
                delay = self._backoff * (2**attempt) * (0.5 + random.random())
                attempt += 1
                log.warning("kubernetes call failed; retrying", call=what, error=str(exc))
                await asyncio.sleep(delay)
            else:
                KUBERNETES_API_CALLS.labels(operation, "ok").inc()
                return answer

    @staticmethod
    def _error(what: str, exc: BaseException) -> KubeApiError:
        if isinstance(exc, ApiError):
            code, reason, message = _api_status(exc)
            return KubeApiError(f"{what}: {message} (HTTP {code})", code, reason)
        return KubeApiError(f"{what}: {type(exc).__name__}: {exc}")

    async def create(self, manifest: Manifest) -> tuple[Manifest, bool]:
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        obj = codecs.from_dict(manifest)
        try:
            created = await self._call(f"create {kind} {name}", lambda: self._client.create(obj))
        except KubeApiError as exc:
            if exc.status != 409:
                raise
            existing = await self.get(kind, name)
            if existing is None:  # deleted in between: create again
                return await self.create(manifest)
            return existing, False
        return as_manifest(created), True

    async def get(self, kind: str, name: str) -> Manifest | None:
        res = NAMESPACED_KINDS[kind]
        try:
            obj = await self._call(f"get {kind} {name}", lambda: self._client.get(res, name))
        except KubeApiError as exc:
            if exc.status == 404:
                return None
            raise
        return as_manifest(obj)

    async def delete(self, kind: str, name: str, *, grace_seconds: int | None = None) -> bool:
        res = NAMESPACED_KINDS[kind]
        try:
            await self._call(
                f"delete {kind} {name}",
                lambda: self._client.delete(res, name, grace_period=grace_seconds),
            )
        except KubeApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def list_objects(
        self, kind: str, labels: Mapping[str, str]
    ) -> tuple[list[Manifest], str]:
        res = NAMESPACED_KINDS[kind]

        async def collect() -> tuple[list[Manifest], str]:
            listing = self._client.list(res, labels=dict(labels))
            items = [as_manifest(item) async for item in listing]
            return items, listing.resourceVersion

        return await self._call(f"list {kind}", collect)

    async def watch(
        self, kind: str, labels: Mapping[str, str], resource_version: str
    ) -> AsyncIterator[WatchEvent]:
        res = NAMESPACED_KINDS[kind]
        stream = self._client.watch(
            res,
            labels=dict(labels),
            resource_version=resource_version,
            server_timeout=self._watch_timeout,
        )
        try:
            async for event_type, obj in stream:
                yield event_type, as_manifest(obj)
        except ApiError as exc:
            code, reason, message = _api_status(exc)
            KUBERNETES_API_CALLS.labels("watch", "expired" if code == 410 else "error").inc()
            if code == 410:
                raise WatchExpired(f"watch {kind}: {message}", code, reason) from exc
            raise self._error(f"watch {kind}", exc) from exc
        except httpx.HTTPError as exc:
            KUBERNETES_API_CALLS.labels("watch", "error").inc()
            raise self._error(f"watch {kind}", exc) from exc
        KUBERNETES_API_CALLS.labels("watch", "ok").inc()

    async def set_owner(self, kind: str, name: str, owner: Manifest) -> None:
        res = NAMESPACED_KINDS[kind]
        meta = owner["metadata"]
        patch = {
            "metadata": {
                "ownerReferences": [
                    {
                        "apiVersion": owner.get("apiVersion", "v1"),
                        "kind": owner.get("kind", "Pod"),
                        "name": meta["name"],
                        "uid": meta["uid"],
                    }
                ]
            }
        }
        await self._call(
            f"set owner of {kind} {name}",
            lambda: self._client.patch(res, name, patch, patch_type=PatchType.MERGE),
        )

    async def read_log(self, pod: str, container: str, tail_lines: int) -> list[str]:
        async def collect() -> list[str]:
            return [
                line.rstrip("\n")
                async for line in self._client.log(pod, container=container, tail_lines=tail_lines)
            ]

        return await self._call(f"read log of pod {pod}", collect)

    async def get_storage_class(self, name: str) -> Manifest | None:
        try:
            obj = await self._call(
                f"get StorageClass {name}", lambda: self._client.get(StorageClass, name)
            )
        except KubeApiError as exc:
            if exc.status == 404:
                return None
            raise
        return as_manifest(obj)

    async def list_storage_classes(self) -> list[Manifest]:
        async def collect() -> list[Manifest]:
            return [as_manifest(item) async for item in self._client.list(StorageClass)]

        return await self._call("list StorageClass", collect)

    async def close(self) -> None:
        await self._client.close()
