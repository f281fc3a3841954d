"""Generate the Python stubs of the agent protocol from ``proto/leoflow/agent/v1/agent.proto``.

The stubs are committed inside ``leoflow-sdk`` (``leoflow_sdk.proto_gen``) so that neither a
DAG image nor a Lite venv needs ``grpcio-tools`` at install time; ``leoflow.devtools.generated``
uses :func:`render_proto_stubs` to check them for drift and to rewrite them (``make regen``).

Why the output is post-processed: protoc names Python modules after the proto package, so the
generated code imports ``leoflow.agent.v1.agent_pb2`` — which, at run time, would resolve to the
*control plane's* ``leoflow`` package (absent in a task image, wrong in the server). The stubs
therefore live under ``leoflow_sdk.proto_gen.leoflow.agent.v1`` and their sibling imports are
rewritten to relative ones, and the message classes get their real ``__module__`` so that they
pickle and repr correctly.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]

PROTO_ROOT = Path("proto")
"""Include root of the ``.proto`` sources, relative to the repository root."""

PROTO_FILES: tuple[str, ...] = ("leoflow/agent/v1/agent.proto",)
"""Sources to compile, relative to :data:`PROTO_ROOT` (their names are part of the wire-level
descriptors, so they follow the proto package: ``leoflow/agent/v1``)."""

OUTPUT_ROOT = Path("sdk/src/leoflow_sdk/proto_gen")
"""Where the generated tree goes, relative to the repository root."""

OUTPUT_PACKAGE = "leoflow_sdk.proto_gen"
"""Python package that :data:`OUTPUT_ROOT` is importable as."""

_PLUGINS = ("protoc-gen-mypy", "protoc-gen-mypy_grpc")

_SIBLING_IMPORT = re.compile(r"^from (leoflow(?:\.\w+)*) import (\w+)", re.MULTILINE)
_ABSOLUTE_LEOFLOW_IMPORT = re.compile(r"^\s*(?:from|import) leoflow\b", re.MULTILINE)
_MODULE_NAME_ARG = re.compile(r"(BuildTopDescriptorsAndMessages\(DESCRIPTOR, )'([\w.]+)'")


class ProtoCodegenError(RuntimeError):
    """The stubs could not be generated (missing tool, protoc error, unexpected output)."""


def render_proto_stubs() -> dict[Path, str]:
    """Compile the agent protocol and return every generated file with its content.

    Keys are paths relative to the repository root (under :data:`OUTPUT_ROOT`), including the
    ``__init__.py`` of every package level; values are the exact text to commit. The result
    depends only on the ``.proto`` sources and the pinned tool versions (grpcio-tools,
    mypy-protobuf), never on the machine or the working directory.
    """
    try:  # lazily: grpcio-tools is a dev-only dependency, absent from production installs
        import grpc_tools
    except ImportError as exc:  # pragma: no cover - dev dependency missing
        raise ProtoCodegenError(
            "grpcio-tools is not installed; install the dev dependencies (`make setup`)"
        ) from exc

    include_well_known = Path(grpc_tools.__file__).parent / "_proto"
    plugins = {name: _find_plugin(name) for name in _PLUGINS}
    header = _header()

    with tempfile.TemporaryDirectory(prefix="leoflow-protoc-") as tmp:
        out = Path(tmp)
        command = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--proto_path={REPO_ROOT / PROTO_ROOT}",
            f"--proto_path={include_well_known}",
            f"--plugin=protoc-gen-mypy={plugins['protoc-gen-mypy']}",
            f"--plugin=protoc-gen-mypy_grpc={plugins['protoc-gen-mypy_grpc']}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            f"--mypy_out=quiet:{out}",
            f"--mypy_grpc_out=quiet:{out}",
            *PROTO_FILES,
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ProtoCodegenError(
                f"protoc failed (exit {result.returncode}) compiling {', '.join(PROTO_FILES)}:\n"
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
        generated = {
            path.relative_to(out): path.read_bytes().decode("utf-8")
            for path in sorted(out.rglob("*"))
            if path.is_file()
        }

    if not generated:  # pragma: no cover - protoc succeeded but wrote nothing
        raise ProtoCodegenError("protoc produced no files")

    files: dict[Path, str] = {}
    packages: set[Path] = {Path()}
    for rel, text in generated.items():
        files[OUTPUT_ROOT / rel] = header + _postprocess(rel, text)
        for parent in rel.parents:
            packages.add(parent)
    for package in packages:
        files[OUTPUT_ROOT / package / "__init__.py"] = header + _init_docstring(package)
    return dict(sorted(files.items()))


def _find_plugin(name: str) -> Path:
    """Locate a protoc plugin script, preferring the running interpreter's environment."""
    bin_dir = Path(sys.executable).parent
    found = shutil.which(name, path=str(bin_dir)) or shutil.which(name)
    if found is None:
        raise ProtoCodegenError(
            f"{name} not found next to {sys.executable} or on PATH; it comes with the "
            "mypy-protobuf dev dependency (`make setup`)"
        )
    return Path(found)


def _header() -> str:
    """Comment put on top of every generated file: what made it and how to redo it."""
    versions = " and ".join(
        f"{dist} {importlib.metadata.version(dist)}" for dist in ("grpcio-tools", "mypy-protobuf")
    )
    sources = " ".join((PROTO_ROOT / name).as_posix() for name in PROTO_FILES)
    return (
        f"# Generated by leoflow.devtools.proto_codegen from {sources}\n"
        f"# with {versions}. DO NOT EDIT: change the .proto, then run\n"
        "# `make regen` (python -m leoflow.devtools.generated --write). That runs\n"
        "#   python -m grpc_tools.protoc -I proto -I <grpc_tools>/_proto --python_out=OUT\n"
        "#     --grpc_python_out=OUT --mypy_out=OUT --mypy_grpc_out=OUT "
        f"{' '.join(PROTO_FILES)}\n"
        f"# and makes imports of sibling modules relative (package {OUTPUT_PACKAGE}).\n"
    )


def _postprocess(rel: Path, text: str) -> str:
    """Make one generated module importable from inside :data:`OUTPUT_PACKAGE`.

    Every expected rewrite is checked, so a change in protoc's output shape fails loudly here
    instead of producing stubs that import the control plane's ``leoflow`` package.
    """
    own_package = ".".join(rel.parent.parts)

    def relative(match: re.Match[str]) -> str:
        module, name = match.group(1), match.group(2)
        if module != own_package:
            raise ProtoCodegenError(
                f"{rel}: import of `{module}.{name}` is not a sibling module; only imports "
                f"within {own_package} can be made relative"
            )
        return f"from . import {name}"

    text = _SIBLING_IMPORT.sub(relative, text)
    if rel.name.endswith("_pb2.py"):
        real_module = f"{OUTPUT_PACKAGE}.{own_package}.{rel.stem}"
        text, count = _MODULE_NAME_ARG.subn(rf"\1'{real_module}'", text)
        if count != 1:
            raise ProtoCodegenError(f"{rel}: expected one module-name argument, found {count}")
    if rel.name.endswith("_pb2_grpc.py") and "from . import " not in text:
        raise ProtoCodegenError(f"{rel}: expected an import of the sibling _pb2 module")
    leftover = _ABSOLUTE_LEOFLOW_IMPORT.search(text)
    if leftover is not None:
        raise ProtoCodegenError(f"{rel}: absolute import left after rewriting: {leftover[0]!r}")
    return text


def _init_docstring(package: Path) -> str:
    """Body of a generated ``__init__.py`` (``package`` is relative to the output root)."""
    if package == Path():
        return (
            '"""Generated protobuf/gRPC stubs of the Leoflow agent protocol.\n\n'
            "Import them as ``leoflow_sdk.proto_gen.leoflow.agent.v1.agent_pb2`` and\n"
            "``..._pb2_grpc``. The ``leoflow`` folder below mirrors the proto package\n"
            "``leoflow.agent.v1``; it is not the control plane's ``leoflow`` package.\n"
            '"""\n'
        )
    proto_package = ".".join(package.parts)
    return f'"""Stubs of the proto package ``{proto_package}``."""\n'
