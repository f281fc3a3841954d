"""``/api/v2/variables``: Airflow 3.3.2's variable endpoints, scoped to the caller's tenant.

Values are text; a JSON value posted as an object or list is stored as its JSON text, as
Airflow does. With ``LEOFLOW_SECRET_KEY`` set every value is sealed at rest
(``is_encrypted``); without it a variable whose key looks secret is refused with 503. Values
under a secret-looking key (``api_key``, ``db_password``…), and secret keys inside a JSON
value, are answered as ``***``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

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
from leoflow.secrets.cipher import DecryptionError
from leoflow.secrets.masking import redact_json_text
from leoflow.secrets.variables import (
    StoredValue,
    VariableSecretsUnavailable,
    read_value,
    store_value,
)
from leoflow.store import variables as store
from leoflow.store.pool import Connection, Pool, acquire

router = APIRouter(prefix="/api/v2/variables", tags=["Variable"])

MULTI_TEAM_DISABLED = (
    "team_name cannot be set when multi_team mode is disabled. Please contact your administrator."
)
_IMMUTABLE = {"key"}
_SORTABLE = tuple(store.SORT_COLUMNS)


def _not_found(key: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"The Variable with key: `{key}` was not found")


class VariableBody(BaseModel):
    """Variable serializer for bodies."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    key: str = Field(min_length=1, max_length=250)
    value: JsonValue
    description: str | None = Field(default=None)
    team_name: str | None = Field(default=None, max_length=50)

    @field_validator("value", mode="after")
    @classmethod
    def serialize_non_string_value(cls, value: JsonValue) -> str:
        """Variables are text: a non-string JSON value is kept as its JSON encoding."""
        if isinstance(value, str):
            return value
        return json.dumps(value, indent=2)

    @model_validator(mode="after")
    def validate_team_name(self) -> VariableBody:
        """Teams are an Airflow multi-team feature; Leoflow scopes by tenant instead."""
        if self.team_name is not None:
            raise ValueError(MULTI_TEAM_DISABLED)
        return self


class VariableResponse(BaseModel):
    """Variable serializer for responses."""

    key: str
    value: str | None = None
    description: str | None
    is_encrypted: bool
    team_name: str | None


class VariableCollectionResponse(BaseModel):
    """Variable Collection serializer for responses."""

    variables: list[VariableResponse]
    total_entries: int


class _Sealer:
    """Turns plaintext values into their stored form and back, for one request."""

    def __init__(self, request: Request, tenant_id: UUID) -> None:
        security = get_security(request)
        self.cipher = security.cipher
        self.problem = security.cipher_problem
        self.tenant_id = tenant_id

    def seal(self, key: str, value: str | None) -> StoredValue:
        try:
            return store_value(
                self.cipher, self.tenant_id, key, value, missing_key_reason=self.problem
            )
        except VariableSecretsUnavailable as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None

    def changes(self, key: str, changes: dict[str, Any]) -> dict[str, Any]:
        if "value" not in changes:
            return changes
        stored = self.seal(key, changes["value"])
        return {**changes, "value": stored.value, "is_encrypted": stored.is_encrypted}

    def response(self, row: store.Variable) -> VariableResponse:
        try:
            plain = read_value(
                self.cipher,
                row.tenant_id,
                row.key,
                row.value,
                row.is_encrypted,
                missing_key_reason=self.problem,
            )
        except VariableSecretsUnavailable as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
        except DecryptionError as exc:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, f"Variable cannot be decrypted: {exc}"
            ) from None
        return _response(row, plain)


def _response(row: store.Variable, plain: str | None) -> VariableResponse:
    return VariableResponse(
        key=row.key,
        value=redact_json_text(plain, row.key),
        description=row.description,
        is_encrypted=row.is_encrypted,
        team_name=None,
    )


def _pool(request: Request) -> Pool:
    pool: Pool = request.app.state.pool
    return pool


def _patch_changes(body: VariableBody, update_mask: list[str] | None) -> dict[str, Any]:
    fields = set(body.model_fields_set)
    if update_mask:
        restricted = set(update_mask) & _IMMUTABLE
        if restricted:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                "Update not allowed: the following fields are immutable and cannot be "
                f"modified: {restricted}",
            )
        fields &= set(update_mask)
    fields -= _IMMUTABLE
    return {name: getattr(body, name) for name in ("value", "description") if name in fields}


@router.get("", response_model=VariableCollectionResponse)
async def get_variables(
    request: Request,
    *,
    principal: Annotated[Principal, Depends(require(Permission.VARIABLES_READ))],
    limit: Annotated[int, Query(ge=0)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    order_by: Annotated[
        list[str],
        Query(
            description="Attributes to order by, multi criteria sort is supported. Prefix with "
            "`-` for descending order. Supported attributes: `key, id, _val, description, "
            "is_encrypted, team_name`"
        ),
    ] = ["id"],  # noqa: B006 - FastAPI copies defaults per request
    variable_key_pattern: Annotated[
        str | None, Query(description="Case-insensitive substring match (SQL `ILIKE`).")
    ] = None,
    variable_key_prefix_pattern: Annotated[
        str | None, Query(description="Case-sensitive, index-friendly prefix match.")
    ] = None,
) -> VariableCollectionResponse:
    """Get all Variables entries."""
    rows, total = await store.list_variables(
        _pool(request),
        principal.tenant_id,
        key_pattern=variable_key_pattern,
        key_prefix=variable_key_prefix_pattern,
        order_by=parse_order_by(order_by, _SORTABLE),
        limit=page_limit(limit),
        offset=offset,
    )
    sealer = _Sealer(request, principal.tenant_id)
    return VariableCollectionResponse(
        variables=[sealer.response(row) for row in rows], total_entries=total
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=VariableResponse)
async def post_variable(
    request: Request,
    body: VariableBody,
    principal: Annotated[Principal, Depends(require(Permission.VARIABLES_EDIT))],
) -> VariableResponse:
    """Create a variable."""
    sealer = _Sealer(request, principal.tenant_id)
    stored = sealer.seal(body.key, _text(body.value))
    try:
        row = await store.create_variable(
            _pool(request),
            principal.tenant_id,
            body.key,
            stored.value,
            body.description,
            is_encrypted=stored.is_encrypted,
        )
    except store.VariableExistsError:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"The Variable with key: `{body.key}` already exists"
        ) from None
    await record_action(request, principal, "post_variable", key=body.key)
    return sealer.response(row)


@router.patch("", response_model=BulkResponse)
async def bulk_variables(
    request: Request,
    body: BulkBody[VariableBody],
    principal: Annotated[Principal, Depends(require(Permission.VARIABLES_EDIT))],
) -> BulkResponse:
    """Bulk create, update, and delete variables."""
    results: dict[str, BulkActionResponse] = {}
    sealer = _Sealer(request, principal.tenant_id)
    async with acquire(_pool(request)) as conn, conn.transaction():
        for action in body.actions:
            result = results.setdefault(action.action.value, BulkActionResponse())
            if isinstance(action, BulkCreateAction):
                await _bulk_create(conn, sealer, principal, action, result)
            elif isinstance(action, BulkUpdateAction):
                await _bulk_update(conn, sealer, principal, action, result)
            else:
                await _bulk_delete(conn, principal, action, result)
    await record_action(
        request,
        principal,
        "bulk_variables",
        **{kind: sorted(res.success) for kind, res in results.items()},
    )
    return BulkResponse(**results)


def _text(value: JsonValue) -> str:
    return value if isinstance(value, str) else json.dumps(value, indent=2)


async def _bulk_create(
    conn: Connection,
    sealer: _Sealer,
    principal: Principal,
    action: BulkCreateAction[VariableBody],
    result: BulkActionResponse,
) -> None:
    keys = {entity.key for entity in action.entities}
    existing = await store.get_variables(conn, principal.tenant_id, keys)
    matched = set(existing)
    if action.action_on_existence is BulkActionOnExistence.FAIL and matched:
        result.errors.append(
            {
                "error": f"The variables with these keys: {matched} already exist.",
                "status_code": status.HTTP_409_CONFLICT,
            }
        )
        return
    for entity in action.entities:
        if entity.key in matched and action.action_on_existence is BulkActionOnExistence.SKIP:
            continue
        stored = sealer.seal(entity.key, _text(entity.value))
        await store.upsert_variable(
            conn,
            principal.tenant_id,
            entity.key,
            stored.value,
            entity.description,
            is_encrypted=stored.is_encrypted,
        )
        result.success.append(entity.key)


async def _bulk_update(
    conn: Connection,
    sealer: _Sealer,
    principal: Principal,
    action: BulkUpdateAction[VariableBody],
    result: BulkActionResponse,
) -> None:
    keys = {entity.key for entity in action.entities}
    existing = await store.get_variables(conn, principal.tenant_id, keys)
    missing = keys - set(existing)
    if action.action_on_non_existence is BulkActionNotOnExistence.FAIL and missing:
        result.errors.append(
            {
                "error": f"The variables with these keys: {missing} were not found.",
                "status_code": status.HTTP_404_NOT_FOUND,
            }
        )
        return
    for entity in action.entities:
        if entity.key not in existing:
            continue
        try:
            changes = _patch_changes(entity, action.update_mask)
        except HTTPException as exc:
            result.errors.append({"error": f"{exc.detail}", "status_code": exc.status_code})
            continue
        await store.update_variable(
            conn, principal.tenant_id, entity.key, sealer.changes(entity.key, changes)
        )
        result.success.append(entity.key)


async def _bulk_delete(
    conn: Connection,
    principal: Principal,
    action: BulkDeleteAction[VariableBody],
    result: BulkActionResponse,
) -> None:
    keys = {entity_key(entity, "key") for entity in action.entities}
    existing = await store.get_variables(conn, principal.tenant_id, keys)
    missing = keys - set(existing)
    if action.action_on_non_existence is BulkActionNotOnExistence.FAIL and missing:
        result.errors.append(
            {
                "error": f"The variables with these keys: {missing} were not found.",
                "status_code": status.HTTP_404_NOT_FOUND,
            }
        )
        return
    for key in sorted(existing):
        if await store.delete_variable(conn, principal.tenant_id, key):
            result.success.append(key)


@router.get("/{variable_key:path}", response_model=VariableResponse)
async def get_variable(
    request: Request,
    variable_key: str,
    principal: Annotated[Principal, Depends(require(Permission.VARIABLES_READ))],
) -> VariableResponse:
    """Get a variable entry."""
    row = await store.get_variable(_pool(request), principal.tenant_id, variable_key)
    if row is None:
        raise _not_found(variable_key)
    return _Sealer(request, principal.tenant_id).response(row)


@router.patch("/{variable_key:path}", response_model=VariableResponse)
async def patch_variable(
    request: Request,
    variable_key: str,
    body: VariableBody,
    principal: Annotated[Principal, Depends(require(Permission.VARIABLES_EDIT))],
    update_mask: Annotated[list[str] | None, Query()] = None,
) -> VariableResponse:
    """Update a variable by key."""
    if body.key != variable_key:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "Invalid body, key from request body doesn't match uri parameter",
        )
    changes = _patch_changes(body, update_mask)
    sealer = _Sealer(request, principal.tenant_id)
    row = await store.update_variable(
        _pool(request), principal.tenant_id, variable_key, sealer.changes(variable_key, changes)
    )
    if row is None:
        raise _not_found(variable_key)
    await record_action(
        request, principal, "patch_variable", key=variable_key, fields=sorted(changes)
    )
    return sealer.response(row)


@router.delete(
    "/{variable_key:path}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
async def delete_variable(
    request: Request,
    variable_key: str,
    principal: Annotated[Principal, Depends(require(Permission.VARIABLES_EDIT))],
) -> Response:
    """Delete a variable entry."""
    if not await store.delete_variable(_pool(request), principal.tenant_id, variable_key):
        raise _not_found(variable_key)
    await record_action(request, principal, "delete_variable", key=variable_key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
