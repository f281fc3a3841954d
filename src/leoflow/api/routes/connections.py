"""``/api/v2/connections``: Airflow 3.3.2's connection endpoints, scoped to the caller's tenant.

``password`` and ``extra`` are sealed with AES-256-GCM before they reach the database; without
a usable ``LEOFLOW_SECRET_KEY`` a write is refused with 503 rather than stored in clear.
``password`` is write-only: answers carry ``***`` when one is set (what Airflow answers, so the
UI shows "unchanged" and posts ``***`` back, which keeps the stored value). Secret-looking keys
of ``extra`` are masked the same way and restored on update.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from leoflow.api.bulk import (
    BulkActionNotOnExistence,
    BulkActionOnExistence,
    BulkActionResponse,
    BulkBody,
    BulkCreateAction,
    BulkDeleteAction,
    BulkResponse,
    BulkUpdateAction,
    entity_key,
)
from leoflow.api.routes._audit import record_action
from leoflow.api.routes._listing import page_limit, parse_order_by
from leoflow.api.security import Permission, Principal, get_security, require
from leoflow.secrets.cipher import DecryptionError, SecretCipher
from leoflow.secrets.connection_tests import ConnectionTester, ProbeTarget, probe
from leoflow.secrets.connections import EXTRA, PASSWORD, open_connection, seal, unseal
from leoflow.secrets.default_connections import create_default_connections
from leoflow.secrets.masking import MASK, merge_masked, redact_json_text
from leoflow.store import connection_tests as test_store
from leoflow.store import connections as store
from leoflow.store.pool import Connection, Pool, acquire

router = APIRouter(prefix="/api/v2/connections", tags=["Connection"])

MULTI_TEAM_DISABLED = (
    "team_name cannot be set when multi_team mode is disabled. Please contact your administrator."
)
TEST_DISABLED = (
    "Testing connections is disabled in Leoflow configuration "
    "(LEOFLOW_TEST_CONNECTION=enabled turns it on). Contact your deployment admin to enable it."
)
_PLAIN_FIELDS = ("conn_type", "description", "host", "login", "schema", "port")
_SORTABLE = tuple(store.SORT_COLUMNS)


def _not_found(connection_id: str) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"The Connection with connection_id: `{connection_id}` was not found",
    )


class ConnectionBody(BaseModel):
    """Connection Serializer for requests body."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    connection_id: str = Field(max_length=200, pattern=r"^[\w.-]+$")
    conn_type: str
    description: str | None = Field(default=None)
    host: str | None = Field(default=None)
    login: str | None = Field(default=None)
    schema_: str | None = Field(default=None, alias="schema")
    port: int | None = Field(default=None, ge=0, le=65535)
    password: str | None = Field(default=None)
    extra: str | None = Field(default=None)
    team_name: str | None = Field(default=None, max_length=50)

    @field_validator("extra")
    @classmethod
    def validate_extra(cls, value: str | None) -> str | None:
        """``extra`` must be a JSON object (``""`` is taken as ``{}``, as Airflow does)."""
        if value is None:
            return value
        if value == "":
            return "{}"
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(
                "The `extra` field must be a valid JSON object (e.g., {'key': 'value'}), "
                "but encountered non-JSON in `extra` field"
            ) from None
        if not isinstance(decoded, dict):
            raise ValueError(
                "The `extra` field must be a valid JSON object (e.g., {'key': 'value'})"
            )
        return value

    @model_validator(mode="after")
    def validate_team_name(self) -> ConnectionBody:
        """Teams are an Airflow multi-team feature; Leoflow scopes by tenant instead."""
        if self.team_name is not None:
            raise ValueError(MULTI_TEAM_DISABLED)
        return self

    def fields_set(self) -> set[str]:
        """Names of the fields the request gave, with ``schema`` under its wire name."""
        names = set(self.model_fields_set)
        if "schema_" in names:
            names.discard("schema_")
            names.add("schema")
        return names

    def plain_value(self, name: str) -> Any:
        """The value of a non-secret field by its wire name."""
        return self.schema_ if name == "schema" else getattr(self, name)


class ConnectionResponse(BaseModel):
    """Connection serializer for responses."""

    model_config = ConfigDict(populate_by_name=True)

    connection_id: str
    conn_type: str
    description: str | None
    host: str | None
    login: str | None
    schema_: str | None = Field(alias="schema")
    port: int | None
    password: str | None
    extra: str | None
    team_name: str | None


class ConnectionCollectionResponse(BaseModel):
    """Connection Collection serializer for responses."""

    connections: list[ConnectionResponse]
    total_entries: int


class ConnectionTestResponse(BaseModel):
    """Connection Test serializer for synchronous test responses."""

    status: bool
    message: str


class ConnectionTestRequestBody(ConnectionBody):
    """Request body for enqueueing a connection test (``commit_on_success`` saves it)."""

    commit_on_success: bool = False
    executor: str | None = Field(default=None)
    queue: str | None = Field(default=None)


class ConnectionTestQueuedResponse(BaseModel):
    """Response returned when a connection test has been enqueued."""

    token: str
    connection_id: str
    state: str


class AsyncConnectionTestResponse(BaseModel):
    """Response returned when polling for the status of an enqueued connection test."""

    token: str
    connection_id: str
    state: str
    result_message: str | None
    created_at: datetime


def _pool(request: Request) -> Pool:
    pool: Pool = request.app.state.pool
    return pool


def _unreadable(exc: DecryptionError) -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"Connection secrets cannot be decrypted: {exc}",
    )


def _response(row: store.Connection, cipher: SecretCipher | None, problem: str | None) -> Any:
    extra: str | None = None
    if row.extra_encrypted is not None:
        if cipher is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, problem)
        try:
            extra = unseal(cipher, row.tenant_id, row.id, EXTRA, row.extra_encrypted)
        except DecryptionError as exc:
            raise _unreadable(exc) from None
    return ConnectionResponse(
        connection_id=row.conn_id,
        conn_type=row.conn_type,
        description=row.description,
        host=row.host,
        login=row.login,
        schema_=row.schema,
        port=row.port,
        password=MASK if row.password_encrypted is not None else None,
        extra=redact_json_text(extra),
        team_name=None,
    )


def _responder(request: Request) -> Any:
    security = get_security(request)
    return lambda row: _response(row, security.cipher, security.cipher_problem)


def _new_connection(
    cipher: SecretCipher, tenant_id: uuid.UUID, body: ConnectionBody
) -> store.NewConnection:
    row_id = uuid.uuid4()
    return store.NewConnection(
        id=row_id,
        tenant_id=tenant_id,
        conn_id=body.connection_id,
        conn_type=body.conn_type,
        description=body.description,
        host=body.host,
        schema=body.schema_,
        login=body.login,
        port=body.port,
        password_encrypted=seal(cipher, tenant_id, row_id, PASSWORD, body.password),
        extra_encrypted=seal(cipher, tenant_id, row_id, EXTRA, body.extra),
    )


def _merged_extra(new: str | None, old: str | None) -> str | None:
    if new is None or old is None:
        return new
    try:
        new_value, old_value = json.loads(new), json.loads(old)
    except json.JSONDecodeError:
        return new
    return json.dumps(merge_masked(new_value, old_value))


def _changes(
    cipher: SecretCipher,
    row: store.Connection,
    body: ConnectionBody,
    update_mask: list[str] | None,
) -> dict[str, Any]:
    """Column changes for a PATCH, following Airflow's rules for ``update_mask`` and for the
    masked values a client sends back (``***`` keeps the stored secret)."""
    given = body.fields_set()
    mask = set(update_mask or ())
    plain = given & set(_PLAIN_FIELDS)
    if mask:
        plain &= mask
    changes: dict[str, Any] = {name: body.plain_value(name) for name in plain}
    try:
        current = open_connection(cipher, row)
    except DecryptionError as exc:
        raise _unreadable(exc) from None
    if (not mask and "password" in given) or "password" in mask:
        password = body.password
        if password == MASK:
            password = current.password
        changes["password_encrypted"] = seal(cipher, row.tenant_id, row.id, PASSWORD, password)
    if (not mask and "extra" in given) or "extra" in mask:
        extra = _merged_extra(body.extra, current.extra)
        changes["extra_encrypted"] = seal(cipher, row.tenant_id, row.id, EXTRA, extra)
    return changes


@router.get("", response_model=ConnectionCollectionResponse)
async def get_connections(
    request: Request,
    *,
    principal: Annotated[Principal, Depends(require(Permission.CONNECTIONS_READ))],
    limit: Annotated[int, Query(ge=0)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    order_by: Annotated[
        list[str],
        Query(
            description="Attributes to order by, multi criteria sort is supported. Prefix with "
            "`-` for descending order. Supported attributes: `conn_id, conn_type, description, "
            "host, port, id, team_name, connection_id`"
        ),
    ] = ["id"],  # noqa: B006 - FastAPI copies defaults per request
    connection_id_pattern: Annotated[
        str | None, Query(description="Case-insensitive substring match (SQL `ILIKE`).")
    ] = None,
    connection_id_prefix_pattern: Annotated[
        str | None, Query(description="Case-sensitive, index-friendly prefix match.")
    ] = None,
) -> Any:
    """Get all connection entries."""
    rows, total = await store.list_connections(
        _pool(request),
        principal.tenant_id,
        conn_id_pattern=connection_id_pattern,
        conn_id_prefix=connection_id_prefix_pattern,
        order_by=parse_order_by(order_by, _SORTABLE),
        limit=page_limit(limit),
        offset=offset,
    )
    respond = _responder(request)
    return ConnectionCollectionResponse(
        connections=[respond(row) for row in rows], total_entries=total
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ConnectionResponse)
async def post_connection(
    request: Request,
    body: ConnectionBody,
    principal: Annotated[Principal, Depends(require(Permission.CONNECTIONS_EDIT))],
) -> Any:
    """Create connection entry."""
    cipher = get_security(request).require_cipher()
    try:
        row = await store.insert_connection(
            _pool(request), _new_connection(cipher, principal.tenant_id, body)
        )
    except store.ConnectionExistsError:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"The Connection with connection_id: `{body.connection_id}` already exists",
        ) from None
    await record_action(request, principal, "post_connection", connection_id=body.connection_id)
    return _responder(request)(row)


@router.patch("", response_model=BulkResponse)
async def bulk_connections(
    request: Request,
    body: BulkBody[ConnectionBody],
    principal: Annotated[Principal, Depends(require(Permission.CONNECTIONS_EDIT))],
) -> BulkResponse:
    """Bulk create, update, and delete connections."""
    security = get_security(request)
    writes = any(not isinstance(action, BulkDeleteAction) for action in body.actions)
    cipher = security.require_cipher() if writes else security.cipher
    results: dict[str, BulkActionResponse] = {}
    async with acquire(_pool(request)) as conn, conn.transaction():
        for action in body.actions:
            result = results.setdefault(action.action.value, BulkActionResponse())
            if isinstance(action, BulkDeleteAction):
                await _bulk_delete(conn, principal, action, result)
            elif isinstance(action, BulkCreateAction):
                assert cipher is not None
                await _bulk_create(conn, cipher, principal, action, result)
            else:
                assert cipher is not None
                await _bulk_update(conn, cipher, principal, action, result)
    await record_action(
        request,
        principal,
        "bulk_connections",
        **{kind: sorted(res.success) for kind, res in results.items()},
    )
    return BulkResponse(**results)


async def _bulk_create(
    conn: Connection,
    cipher: SecretCipher,
    principal: Principal,
    action: BulkCreateAction[ConnectionBody],
    result: BulkActionResponse,
) -> None:
    ids = {entity.connection_id for entity in action.entities}
    existing = await store.get_connections(conn, principal.tenant_id, ids)
    matched = set(existing)
    if action.action_on_existence is BulkActionOnExistence.FAIL and matched:
        result.errors.append(
            {
                "error": f"The connections with these connection_ids: {matched} already exist.",
                "status_code": status.HTTP_409_CONFLICT,
            }
        )
        return
    for entity in action.entities:
        row = existing.get(entity.connection_id)
        if row is None:
            await store.insert_connection(
                conn, _new_connection(cipher, principal.tenant_id, entity)
            )
        elif action.action_on_existence is BulkActionOnExistence.SKIP:
            continue
        else:
            await store.update_connection(conn, row.id, _changes(cipher, row, entity, None))
        result.success.append(entity.connection_id)


async def _bulk_update(
    conn: Connection,
    cipher: SecretCipher,
    principal: Principal,
    action: BulkUpdateAction[ConnectionBody],
    result: BulkActionResponse,
) -> None:
    ids = {entity.connection_id for entity in action.entities}
    existing = await store.get_connections(conn, principal.tenant_id, ids)
    missing = ids - set(existing)
    if action.action_on_non_existence is BulkActionNotOnExistence.FAIL and missing:
        result.errors.append(
            {
                "error": f"The connections with these connection_ids: {missing} were not found.",
                "status_code": status.HTTP_404_NOT_FOUND,
            }
        )
        return
    for entity in action.entities:
        row = existing.get(entity.connection_id)
        if row is None:
            continue
        await store.update_connection(
            conn, row.id, _changes(cipher, row, entity, action.update_mask)
        )
        result.success.append(entity.connection_id)


async def _bulk_delete(
    conn: Connection,
    principal: Principal,
    action: BulkDeleteAction[ConnectionBody],
    result: BulkActionResponse,
) -> None:
    ids = {entity_key(entity, "connection_id") for entity in action.entities}
    existing = await store.get_connections(conn, principal.tenant_id, ids)
    missing = ids - set(existing)
    if action.action_on_non_existence is BulkActionNotOnExistence.FAIL and missing:
        result.errors.append(
            {
                "error": f"The connections with these connection_ids: {missing} were not found.",
                "status_code": status.HTTP_404_NOT_FOUND,
            }
        )
        return
    for conn_id in sorted(existing):
        if await store.delete_connection(conn, principal.tenant_id, conn_id):
            result.success.append(conn_id)


@router.post("/test", response_model=ConnectionTestResponse)
async def test_connection(
    request: Request,
    body: ConnectionBody,
    principal: Annotated[Principal, Depends(require(Permission.CONNECTIONS_EDIT))],
) -> ConnectionTestResponse:
    """Test a connection.

    Disabled unless ``LEOFLOW_TEST_CONNECTION=enabled`` (as Airflow's ``[core]
    test_connection``). The control plane never runs provider hooks (user code), so the test
    is a network reachability check of ``host:port``.
    """
    _require_testing(request)
    await record_action(request, principal, "test_connection", connection_id=body.connection_id)
    result = await probe(body.host, body.port)
    return ConnectionTestResponse(status=result.ok, message=result.message)


def _require_testing(request: Request) -> None:
    if get_security(request).settings.test_connection != "enabled":
        raise HTTPException(status.HTTP_403_FORBIDDEN, TEST_DISABLED)


def _tester(request: Request) -> ConnectionTester:
    state = request.app.state
    tester: ConnectionTester | None = getattr(state, "connection_tester", None)
    if tester is None:
        tester = ConnectionTester(_pool(request))
        state.connection_tester = tester
    return tester


def _saver(request: Request, principal: Principal, body: ConnectionBody) -> Any:
    """What ``commit_on_success`` runs once the test passed: create or update the connection
    with the tested fields (the cipher is checked before the test is enqueued)."""
    cipher = get_security(request).require_cipher()
    pool = _pool(request)

    async def save() -> None:
        async with acquire(pool) as conn, conn.transaction():
            row = await store.get_connection(conn, principal.tenant_id, body.connection_id)
            if row is None:
                await store.insert_connection(
                    conn, _new_connection(cipher, principal.tenant_id, body)
                )
            else:
                await store.update_connection(conn, row.id, _changes(cipher, row, body, None))

    return save


@router.post(
    "/enqueue-test",
    status_code=status.HTTP_202_ACCEPTED,
    responses={403: {}, 409: {}, 422: {}},
)
async def enqueue_connection_test(
    request: Request,
    body: ConnectionTestRequestBody,
    principal: Annotated[Principal, Depends(require(Permission.CONNECTIONS_EDIT))],
) -> ConnectionTestQueuedResponse:
    """Enqueue a connection test; poll ``GET /connections/enqueue-test`` with the token.

    Leoflow runs the same reachability test as ``POST /connections/test``, in the background
    of the control plane (no executor or queue is involved, so naming one is refused). With
    ``commit_on_success`` the connection is created or updated once the test passed.
    """
    _require_testing(request)
    for name in ("executor", "queue"):
        if getattr(body, name) is not None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"{name} cannot be chosen: Leoflow runs connection tests in the control plane, "
                "not on an executor; leave it unset",
            )
    tested = ConnectionBody.model_validate(
        body.model_dump(by_alias=True, include=body.model_fields_set - _TEST_OPTIONS)
    )
    target = ProbeTarget(
        connection_id=body.connection_id,
        host=body.host,
        port=body.port,
        commit=_saver(request, principal, tested) if body.commit_on_success else None,
    )
    try:
        row = await _tester(request).enqueue(
            principal.tenant_id, target, requested_by=principal.username
        )
    except test_store.ActiveTestExistsError:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"An active connection test already exists for connection_id `{body.connection_id}`.",
        ) from None
    await record_action(
        request,
        principal,
        "enqueue_connection_test",
        connection_id=body.connection_id,
        commit_on_success=body.commit_on_success,
    )
    return ConnectionTestQueuedResponse(
        token=row.token, connection_id=row.connection_id, state=row.state
    )


_TEST_OPTIONS = frozenset({"commit_on_success", "executor", "queue"})


@router.get("/enqueue-test", responses={404: {}})
async def get_connection_test(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.CONNECTIONS_READ))],
    connection_test_token: Annotated[str, Header(alias="Airflow-Connection-Test-Token")],
) -> AsyncConnectionTestResponse:
    """Poll an enqueued connection test by its token (passed as a header)."""
    row = await test_store.get_by_token(_pool(request), principal.tenant_id, connection_test_token)
    if row is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"No connection test found for token: `{connection_test_token}`",
        )
    return AsyncConnectionTestResponse(
        token=row.token,
        connection_id=row.connection_id,
        state=row.state,
        result_message=row.result_message,
        created_at=row.created_at,
    )


@router.post("/defaults", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def create_defaults(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.CONNECTIONS_EDIT))],
) -> Response:
    """Create Airflow's well-known default connections that do not exist yet
    (``postgres_default``, ``http_default`` …; see docs/api.md). Existing ones are untouched."""
    cipher = get_security(request).require_cipher()
    created = await create_default_connections(_pool(request), cipher, principal.tenant_id)
    await record_action(request, principal, "create_default_connections", created=created)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{connection_id}", response_model=ConnectionResponse)
async def get_connection(
    request: Request,
    connection_id: str,
    principal: Annotated[Principal, Depends(require(Permission.CONNECTIONS_READ))],
) -> Any:
    """Get a connection entry."""
    row = await store.get_connection(_pool(request), principal.tenant_id, connection_id)
    if row is None:
        raise _not_found(connection_id)
    return _responder(request)(row)


@router.patch("/{connection_id}", response_model=ConnectionResponse)
async def patch_connection(
    request: Request,
    connection_id: str,
    body: ConnectionBody,
    principal: Annotated[Principal, Depends(require(Permission.CONNECTIONS_EDIT))],
    update_mask: Annotated[list[str] | None, Query()] = None,
) -> Any:
    """Update a connection entry."""
    if body.connection_id != connection_id:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "The connection_id in the request body does not match the URL parameter",
        )
    cipher = get_security(request).require_cipher()
    async with acquire(_pool(request)) as conn, conn.transaction():
        row = await store.get_connection(conn, principal.tenant_id, connection_id)
        if row is None:
            raise _not_found(connection_id)
        changes = _changes(cipher, row, body, update_mask)
        updated = await store.update_connection(conn, row.id, changes)
    if updated is None:  # pragma: no cover - deleted between the two statements
        raise _not_found(connection_id)
    fields = sorted(name.removesuffix("_encrypted") for name in changes)
    await record_action(
        request, principal, "patch_connection", connection_id=connection_id, fields=fields
    )
    return _responder(request)(updated)


@router.delete("/{connection_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_connection(
    request: Request,
    connection_id: str,
    principal: Annotated[Principal, Depends(require(Permission.CONNECTIONS_EDIT))],
) -> Response:
    """Delete a connection entry (needs no key: nothing is stored)."""
    if not await store.delete_connection(_pool(request), principal.tenant_id, connection_id):
        raise _not_found(connection_id)
    await record_action(request, principal, "delete_connection", connection_id=connection_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
