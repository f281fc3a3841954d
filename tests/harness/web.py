"""The web UI under test: the real Airflow web app files, the pinned ``/ui`` contract, Chromium.

* :func:`provisioned_assets` provisions the pinned UI files the way ``leoflow setup`` does
  (``pip download`` + checksum), once per machine, into a cache outside the repository;
  :func:`provisioned_editor` does the same for Lite's code editor (``npm pack`` + checksum)
  and :func:`provisioned_docs` for the API reference's renderer (Scalar, ``npm pack``);
* :func:`ui_contract` loads Airflow 3.3.2's ``_private_ui.yaml`` (vendored as a fixture) and
  :class:`UiContract` validates responses against it;
* :func:`ensure_chromium` installs Debian's Chromium with apt when it is missing (and
  :func:`ensure_npm` Debian's npm), so the browser tests run on a fresh machine (the suite
  never downloads a browser build of its own).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from ruamel.yaml import YAML

from leoflow.web.assets import AIRFLOW_UI_VERSION, UiAssets, provision
from leoflow.web.docs_assets import (
    SCALAR_VERSION,
    DocsAssets,
    find_docs_assets,
    provision_docs,
)
from leoflow.web.editor_assets import (
    MONACO_VERSION,
    EditorAssets,
    find_editor_assets,
    provision_editor,
)

FIXTURES = Path(__file__).parent.parent / "web" / "fixtures" / f"airflow-{AIRFLOW_UI_VERSION}"
PRIVATE_UI_SPEC = FIXTURES / "_private_ui.yaml"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ASSETS_ENV = "LEOFLOW_TEST_UI_ASSETS"
EDITOR_ENV = "LEOFLOW_TEST_EDITOR_ASSETS"
DOCS_ENV = "LEOFLOW_TEST_DOCS_ASSETS"


def assets_cache_dir() -> Path:
    """Where the test suite keeps provisioned UI files between sessions."""
    override = os.environ.get(ASSETS_ENV)
    if override:
        return Path(override)
    return Path.home() / ".cache" / "leoflow-tests" / "airflow-ui" / AIRFLOW_UI_VERSION


@cache
def provisioned_assets() -> UiAssets:
    """The pinned UI files, provisioned like ``leoflow setup`` (downloaded once per machine)."""
    return provision(assets_cache_dir())


def editor_cache_dir() -> Path:
    """Where the test suite keeps the provisioned code editor between sessions."""
    override = os.environ.get(EDITOR_ENV)
    if override:
        return Path(override)
    return Path.home() / ".cache" / "leoflow-tests" / "monaco-editor" / MONACO_VERSION


@cache
def provisioned_editor() -> EditorAssets:
    """The pinned code editor files, provisioned like ``leoflow setup`` (once per machine;
    npm is installed with apt first when missing)."""
    found = find_editor_assets(editor_cache_dir())
    if found is not None:
        return found
    ensure_npm()
    return provision_editor(editor_cache_dir())


def docs_cache_dir() -> Path:
    """Where the test suite keeps the provisioned API reference renderer between sessions."""
    override = os.environ.get(DOCS_ENV)
    if override:
        return Path(override)
    return Path.home() / ".cache" / "leoflow-tests" / "scalar-api-reference" / SCALAR_VERSION


@cache
def provisioned_docs() -> DocsAssets:
    """The pinned Scalar bundle, provisioned like ``leoflow setup`` (once per machine; npm is
    installed with apt first when missing)."""
    found = find_docs_assets(docs_cache_dir())
    if found is not None:
        return found
    ensure_npm()
    return provision_docs(docs_cache_dir())


def _apt_install(package: str, binary: Path) -> Path:
    """``binary``, installing Debian's ``package`` with apt if it is missing; raises with
    apt's output on failure."""
    if binary.exists():
        return binary
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"{binary} is missing and apt-get is not available to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
    ):
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    if not binary.exists():
        raise RuntimeError(f"apt installed {package} but {binary} does not exist")
    return binary


def ensure_chromium() -> Path:
    """Debian's Chromium, installed with apt if missing."""
    return _apt_install("chromium", CHROMIUM)


def ensure_npm() -> Path:
    """npm (any install on ``PATH``, else Debian's, installed with apt)."""
    found = shutil.which("npm")
    return Path(found) if found else _apt_install("npm", Path("/usr/bin/npm"))


def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


_FORMATS = jsonschema.FormatChecker(formats=())
_FORMATS.checks("date-time")(_is_datetime)


class UiContract:
    """Airflow 3.3.2's private UI API: its operations and response schemas."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.components = spec["components"]

    def operations(self) -> set[tuple[str, str]]:
        """Every ``(METHOD, path template)`` of the contract."""
        return {
            (method.upper(), path)
            for path, item in self.spec["paths"].items()
            for method in item
            if method in {"get", "post", "put", "patch", "delete"}
        }

    def response_schema(self, method: str, path: str, status: int = 200) -> dict[str, Any]:
        """The JSON schema of the answer to ``method path`` with ``status``."""
        operation = self.spec["paths"][path][method.lower()]
        content = operation["responses"][str(status)]["content"]
        media = content.get("application/json") or next(iter(content.values()))
        return dict(media["schema"])

    def schema_named(self, name: str) -> dict[str, Any]:
        """A ``#/components/schemas`` entry, as a reference."""
        return {"$ref": f"#/components/schemas/{name}"}

    def validate(self, value: Any, schema: dict[str, Any]) -> None:
        """Raise ``jsonschema.ValidationError`` unless ``value`` matches ``schema``."""
        root = {**schema, "components": self.components}
        jsonschema.Draft202012Validator(root, format_checker=_FORMATS).validate(value)

    def validate_response(self, method: str, path: str, value: Any, status: int = 200) -> None:
        """Raise unless ``value`` is a valid answer to ``method path``."""
        self.validate(value, self.response_schema(method, path, status))


@cache
def ui_contract() -> UiContract:
    """The vendored contract (loaded once per session)."""
    data = YAML(typ="safe", pure=True).load(PRIVATE_UI_SPEC.read_text(encoding="utf-8"))
    return UiContract(data)
