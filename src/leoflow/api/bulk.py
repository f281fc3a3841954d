"""Airflow's bulk request/response models (``PATCH /variables``, ``/connections``, ``/pools``).

Generic over the entity body, exactly like Airflow's, so the OpenAPI schema names come out the
same (``BulkBody_VariableBody_``…) and the official client's models accept our answers.
"""

from __future__ import annotations

from enum import Enum, StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

T = TypeVar("T")


class BulkAction(StrEnum):
    """Bulk Action to be performed on the used model."""

    CREATE = "create"
    DELETE = "delete"
    UPDATE = "update"


class BulkActionOnExistence(Enum):
    """Bulk Action to be taken if the entity already exists or not."""

    FAIL = "fail"
    SKIP = "skip"
    OVERWRITE = "overwrite"


class BulkActionNotOnExistence(Enum):
    """Bulk Action to be taken if the entity does not exist."""

    FAIL = "fail"
    SKIP = "skip"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class BulkCreateAction(_Strict, Generic[T]):
    """Bulk Create entity serializer for request bodies."""

    action: Literal[BulkAction.CREATE] = Field(
        description="The action to be performed on the entities."
    )
    entities: list[T] = Field(..., description="A list of entities to be created.")
    action_on_existence: BulkActionOnExistence = BulkActionOnExistence.FAIL


class BulkUpdateAction(_Strict, Generic[T]):
    """Bulk Update entity serializer for request bodies."""

    action: Literal[BulkAction.UPDATE] = Field(
        description="The action to be performed on the entities."
    )
    entities: list[T] = Field(..., description="A list of entities to be updated.")
    update_mask: list[str] | None = Field(
        default=None,
        description=(
            "A list of field names to update for each entity."
            "Only these fields will be applied from the request body to the database model."
            "Any extra fields provided will be ignored."
        ),
    )
    action_on_non_existence: BulkActionNotOnExistence = BulkActionNotOnExistence.FAIL


class BulkDeleteAction(_Strict, Generic[T]):
    """Bulk Delete entity serializer for request bodies."""

    action: Literal[BulkAction.DELETE] = Field(
        description="The action to be performed on the entities."
    )
    entities: list[str | T] = Field(
        ..., description="A list of entity id/key or entity objects to be deleted."
    )
    action_on_non_existence: BulkActionNotOnExistence = BulkActionNotOnExistence.FAIL


def _action_discriminator(action: Any) -> str | None:
    """The tag of a bulk action: its ``action`` value as given.

    A value that is no action kind is returned as is, and ``None`` when there is no string to
    read, so pydantic answers 422 naming the expected kinds instead of the request failing.
    """
    raw = action.get("action") if isinstance(action, dict) else getattr(action, "action", None)
    return str(raw) if isinstance(raw, str) else None


class BulkBody(_Strict, Generic[T]):
    """Serializer for bulk entity operations."""

    actions: list[
        Annotated[
            Annotated[BulkCreateAction[T], Tag(BulkAction.CREATE.value)]
            | Annotated[BulkUpdateAction[T], Tag(BulkAction.UPDATE.value)]
            | Annotated[BulkDeleteAction[T], Tag(BulkAction.DELETE.value)],
            Discriminator(_action_discriminator),
        ]
    ]


class BulkActionResponse(BaseModel):
    """Serializer for individual bulk action responses.

    The keys that succeeded and the errors met by one bulk operation (create, update or delete).
    """

    success: list[str] = Field(
        default_factory=list,
        description="A list of unique id/key representing successful operations.",
    )
    errors: list[dict[str, Any]] = Field(
        default_factory=list,
        description=(
            "A list of errors encountered during the operation, each containing details "
            "about the issue."
        ),
    )


class BulkResponse(BaseModel):
    """Serializer for responses to bulk entity operations.

    A field is set only when the request had an action of that kind.
    """

    create: BulkActionResponse | None = Field(
        default=None,
        description="Details of the bulk create operation, including successful keys and errors.",
    )
    update: BulkActionResponse | None = Field(
        default=None,
        description="Details of the bulk update operation, including successful keys and errors.",
    )
    delete: BulkActionResponse | None = Field(
        default=None,
        description="Details of the bulk delete operation, including successful keys and errors.",
    )


def entity_key(entity: object, attribute: str) -> str:
    """The id/key of a delete entity given either as a bare string or as a body object."""
    if isinstance(entity, str):
        return entity
    return str(getattr(entity, attribute))
