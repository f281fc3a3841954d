"""A STAND-IN for the Kubernetes API server, for executor tests. It is not Kubernetes.

No real kube-apiserver can run on the test machines (no binary in any reachable registry, and
none can be built), so the executor is tested against this small HTTP app on 127.0.0.1. It
implements only what the executor calls, the way the real server answers it:

* create / get / delete / merge-patch of Pods, Secrets and PersistentVolumeClaims in
  namespaces, ``409 AlreadyExists`` and ``404 NotFound`` as ``Status`` objects;
* list with ``labelSelector`` (equality terms) returning the list's ``resourceVersion``;
* watch (``?watch=true&resourceVersion=N``) as a stream of JSON lines, served from an event
  history; a version older than the history answers an ``ERROR`` event with ``410 Gone``;
* ``pods/{name}/log`` and read-only StorageClasses.

Tests drive the world around the executor through it: pod status changes (what a kubelet and
scheduler would write), deletions by "someone else", expired watches, injected failures for
retry tests. Every request is recorded for assertions. There is no scheduling, no kubelet, no
garbage collector and no admission: what would happen in a cluster, a test makes happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import socket
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

KINDS = {"pods": "Pod", "secrets": "Secret", "persistentvolumeclaims": "PersistentVolumeClaim"}
LIST_KINDS = {plural: f"{kind}List" for plural, kind in KINDS.items()}


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(code: int, reason: str, message: str) -> JSONResponse:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return JSONResponse(body, status_code=code)


def matches(labels: Mapping[str, str], selector: str | None) -> bool:
    if not selector:
        return True
    for term in selector.split(","):
        key, _, value = term.partition("=")
        if labels.get(key.strip()) != value.strip():
            return False
    return True


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class Event:
    version: int
    type: str
    plural: str
    namespace: str
    obj: dict[str, Any]


@dataclass
class StandInApiServer:
    """State and behaviour of the stand-in; :meth:`serve` runs it on a loopback port."""

    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    storage_classes: dict[str, dict[str, Any]] = field(default_factory=dict)
    logs: dict[str, list[str]] = field(default_factory=dict)
    failures: list[tuple[str, str, int]] = field(default_factory=list)
    version: int = 100
    oldest_version: int = 0
    url: str = ""
    on_create: list[Any] = field(default_factory=list)
    on_delete: list[Any] = field(default_factory=list)
    _changed: asyncio.Condition | None = None
    _closing: bool = False
    _generation: int = 0

    # --- what tests call ---------------------------------------------------------------------

    def get(self, plural: str, name: str, namespace: str = "tasks") -> dict[str, Any] | None:
        return self.objects.get((plural, namespace, name))

    def names(self, plural: str, namespace: str = "tasks") -> list[str]:
        return sorted(n for (p, ns, n) in self.objects if p == plural and ns == namespace)

    def calls(self, method: str, fragment: str = "") -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and fragment in r.path]

    async def set_pod_status(
        self, name: str, pod_status: dict[str, Any], namespace: str = "tasks"
    ) -> dict[str, Any]:
        """What the scheduler and kubelet would write: replace the pod's status."""
        obj = self.objects[("pods", namespace, name)]
        obj["status"] = copy.deepcopy(pod_status)
        await self._emit("MODIFIED", "pods", namespace, obj)
        return obj

    async def delete_object(self, plural: str, name: str, namespace: str = "tasks") -> None:
        """A deletion by someone other than the executor (operator, node drain, GC)."""
        obj = self.objects.pop((plural, namespace, name), None)
        if obj is not None:
            await self._emit("DELETED", plural, namespace, obj)

    def set_created(self, plural: str, name: str, when: str, namespace: str = "tasks") -> None:
        self.objects[(plural, namespace, name)]["metadata"]["creationTimestamp"] = when

    def fail_next(self, method: str, path_fragment: str, code: int) -> None:
        """The next matching request gets ``code`` (retry and error-path tests)."""
        self.failures.append((method, path_fragment, code))

    async def expire_history(self) -> None:
        """Compact the event history: open watches end with ``410 Gone``, as do new watches
        from a version older than now; a fresh list gives a version that can be watched."""
        self.oldest_version = self.version
        self.events.clear()
        self._generation += 1
        await self._notify()

    # --- internals ---------------------------------------------------------------------------

    async def _notify(self) -> None:
        if self._changed is None:
            return
        async with self._changed:
            self._changed.notify_all()

    async def _emit(self, kind: str, plural: str, namespace: str, obj: dict[str, Any]) -> None:
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)
        self.events.append(Event(self.version, kind, plural, namespace, copy.deepcopy(obj)))
        await self._notify()

    def _injected(self, request: Request) -> JSONResponse | None:
        for index, (method, fragment, code) in enumerate(self.failures):
            if request.method == method and fragment in request.url.path:
                del self.failures[index]
                return status(code, "InternalError", f"injected failure {code}")
        return None

    async def _record(self, request: Request) -> Any:
        raw = await request.body()
        body = json.loads(raw) if raw else None
        self.requests.append(
            RecordedRequest(request.method, request.url.path, dict(request.query_params), body)
        )
        return body

    async def collection(self, request: Request) -> Response:
        body = await self._record(request)
        if (injected := self._injected(request)) is not None:
            return injected
        namespace, plural = request.path_params["namespace"], request.path_params["plural"]
        if plural not in KINDS:
            return status(404, "NotFound", f"the server could not find resource {plural}")
        if request.method == "POST":
            return await self._create(plural, namespace, body)
        if request.query_params.get("watch") in ("true", "1"):
            return self._watch(request, plural, namespace)
        selector = request.query_params.get("labelSelector")
        items = [
            copy.deepcopy(obj)
            for (p, ns, _), obj in sorted(self.objects.items())
            if p == plural
            and ns == namespace
            and matches(obj["metadata"].get("labels", {}), selector)
        ]
        return JSONResponse(
            {
                "apiVersion": "v1",
                "kind": LIST_KINDS[plural],
                "metadata": {"resourceVersion": str(self.version)},
                "items": items,
            }
        )

    async def _create(self, plural: str, namespace: str, body: dict[str, Any]) -> Response:
        name = body["metadata"]["name"]
        if (plural, namespace, name) in self.objects:
            return status(409, "AlreadyExists", f'{plural} "{name}" already exists')
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        meta.update(
            {
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "creationTimestamp": now_rfc3339(),
            }
        )
        if plural == "pods":
            obj.setdefault("status", {"phase": "Pending"})
        if plural == "persistentvolumeclaims":
            obj.setdefault("status", {"phase": "Pending"})
        self.objects[(plural, namespace, name)] = obj
        await self._emit("ADDED", plural, namespace, obj)
        for hook in self.on_create:
            hook(plural, obj)
        return JSONResponse(copy.deepcopy(obj), status_code=201)

    def _watch(self, request: Request, plural: str, namespace: str) -> Response:
        selector = request.query_params.get("labelSelector")
        since = int(request.query_params.get("resourceVersion") or self.version)
        timeout = float(request.query_params.get("timeoutSeconds") or 300)

        async def stream() -> AsyncIterator[bytes]:
            assert self._changed is not None
            position = since
            generation = self._generation
            deadline = asyncio.get_running_loop().time() + timeout
            while not self._closing:
                if position < self.oldest_version or generation != self._generation:
                    gone = {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "reason": "Expired",
                        "code": 410,
                        "message": f"too old resource version: {position} ({self.oldest_version})",
                    }
                    yield (json.dumps({"type": "ERROR", "object": gone}) + "\n").encode()
                    return
                for event in [e for e in self.events if e.version > position]:
                    position = event.version
                    labels = event.obj["metadata"].get("labels", {})
                    if (
                        event.plural == plural
                        and event.namespace == namespace
                        and matches(labels, selector)
                    ):
                        line = json.dumps({"type": event.type, "object": event.obj})
                        yield (line + "\n").encode()
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    return
                async with self._changed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), min(left, 0.5))

        return StreamingResponse(stream(), media_type="application/json")

    async def item(self, request: Request) -> Response:
        body = await self._record(request)
        if (injected := self._injected(request)) is not None:
            return injected
        namespace = request.path_params["namespace"]
        plural, name = request.path_params["plural"], request.path_params["name"]
        key = (plural, namespace, name)
        obj = self.objects.get(key)
        if obj is None:
            return status(404, "NotFound", f'{plural} "{name}" not found')
        if request.method == "GET":
            return JSONResponse(copy.deepcopy(obj))
        if request.method == "DELETE":
            del self.objects[key]
            await self._emit("DELETED", plural, namespace, obj)
            for hook in self.on_delete:
                hook(plural, obj)
            return JSONResponse(copy.deepcopy(obj))
        if request.method == "PATCH":
            merged = merge_patch(obj, body)
            self.objects[key] = merged
            await self._emit("MODIFIED", plural, namespace, merged)
            return JSONResponse(copy.deepcopy(merged))
        return status(405, "MethodNotAllowed", request.method)

    async def pod_log(self, request: Request) -> Response:
        await self._record(request)
        name = request.path_params["name"]
        if ("pods", request.path_params["namespace"], name) not in self.objects:
            return status(404, "NotFound", f'pods "{name}" not found')
        lines = self.logs.get(name, [])
        tail = request.query_params.get("tailLines")
        if tail:
            lines = lines[-int(tail) :]
        return PlainTextResponse("".join(line + "\n" for line in lines))

    async def storage_class(self, request: Request) -> Response:
        await self._record(request)
        if (injected := self._injected(request)) is not None:
            return injected
        name = request.path_params.get("name")
        if name is None:
            return JSONResponse(
                {
                    "apiVersion": "storage.k8s.io/v1",
                    "kind": "StorageClassList",
                    "metadata": {"resourceVersion": str(self.version)},
                    "items": list(self.storage_classes.values()),
                }
            )
        found = self.storage_classes.get(name)
        if found is None:
            return status(404, "NotFound", f'storageclasses.storage.k8s.io "{name}" not found')
        return JSONResponse(found)

    def add_storage_class(self, name: str, provisioner: str, *, default: bool = False) -> None:
        notes = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
        self.storage_classes[name] = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": name, "annotations": notes},
            "provisioner": provisioner,
        }

    def app(self) -> Starlette:
        base = "/api/v1/namespaces/{namespace}/{plural}"
        return Starlette(
            routes=[
                Route("/api/v1/namespaces/{namespace}/pods/{name}/log", self.pod_log),
                Route(base, self.collection, methods=["GET", "POST"]),
                Route(base + "/{name}", self.item, methods=["GET", "DELETE", "PATCH"]),
                Route("/apis/storage.k8s.io/v1/storageclasses", self.storage_class),
                Route("/apis/storage.k8s.io/v1/storageclasses/{name}", self.storage_class),
            ]
        )

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[StandInApiServer]:
        """Serve on a free 127.0.0.1 port until the block ends; sets :attr:`url`."""
        self._changed = asyncio.Condition()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = uvicorn.Config(
            self.app(),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        self.url = f"http://127.0.0.1:{port}"
        try:
            yield self
        finally:
            self._closing = True
            await self._notify()
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
