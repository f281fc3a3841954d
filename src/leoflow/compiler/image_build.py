"""DAG-as-image (Pro): build, push and record the image a compiled DAG runs in.

``compile_project`` yields the DAG; this module gives it an image (ADR 0002). Three ways:

- ``--image REF`` alone: the image exists already (built by the user's own pipeline); it is
  only recorded.
- ``--build``: a Dockerfile is generated from ``leoflow.yaml`` (or the user's own,
  ``--dockerfile`` / ``build.dockerfile``) and built by a container CLI found on PATH. The
  image is tagged with a hash of everything that went into it, so an unchanged project
  produces the same tag and the builder's cache makes the rebuild nearly free.
- ``--push``: the image is pushed and ``dag.json`` records the digest-qualified reference
  (``repo:tag@sha256:…``), so a DAG version keeps naming the exact bytes it was tested with
  even if someone re-tags the image later.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from rich.console import Console

from leoflow.compiler.builders import Builder, BuilderError, find_builder, run_builder
from leoflow.compiler.dockerfile import (
    base_image_of,
    context_hash,
    image_name_for,
    project_files,
    render_dockerfile,
    stage_context,
)
from leoflow.compiler.errors import CompileError
from leoflow.compiler.project import CompileResult, load_config
from leoflow.spec import LeoflowYaml, SpecError, dag_spec_from_data
from leoflow.spec.fields import ImageRef, Repository

BUILD_FLAGS_ENV = "LEOFLOW_BUILD_FLAGS"
"""Extra flags for the builder's build command (shell-split), e.g. ``--network=none``."""

LOCAL_REPOSITORY = "localhost/leoflow"
"""Where an image goes when no registry is configured: a name that is plainly not pushed."""

TAG_LENGTH = 16

_IMAGE_REF: TypeAdapter[str] = TypeAdapter(ImageRef)
_REPOSITORY: TypeAdapter[str] = TypeAdapter(Repository)


class ImageBuildError(CompileError):
    """The image could not be resolved, built or pushed (``kind`` is ``image``)."""

    def __init__(self, problem: str, detail: str | None = None) -> None:
        super().__init__("image", [problem], detail)


@dataclass(frozen=True)
class ImageOptions:
    """The image flags of ``leoflow compile``; see the module docstring for their meaning.

    ``exclude`` lists files never copied into the image (the ``dag.json`` being written, when
    it lies inside the project under another name).
    """

    build: bool = False
    push: bool = False
    image: str | None = None
    dockerfile: Path | None = None
    builder: str | None = None
    registry: str | None = None
    exclude: tuple[Path, ...] = ()

    @property
    def requested(self) -> bool:
        """Whether any image flag was given (otherwise the DAG is compiled without an image)."""
        flags = (self.build, self.push, self.image, self.dockerfile, self.builder, self.registry)
        return any(flag for flag in flags)

    @property
    def builds(self) -> bool:
        """``--build``, or ``--dockerfile`` (which names what to build)."""
        return self.build or self.dockerfile is not None


@dataclass(frozen=True)
class ImageOutcome:
    """The compile result with ``image`` set, and what was done to get there."""

    result: CompileResult
    reference: str
    built: bool = False
    pushed: bool = False
    digest: str | None = None
    builder: str | None = None
    dockerfile: str | None = None
    tag: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The image part of ``leoflow compile --json``."""
        return {
            "reference": self.reference,
            "tag": self.tag,
            "built": self.built,
            "pushed": self.pushed,
            "digest": self.digest,
            "builder": self.builder,
            "dockerfile": self.dockerfile,
        }


def _valid(adapter: TypeAdapter[str], value: str, flag: str) -> str:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise ImageBuildError(f"{flag}: {reason}") from None


def _check_options(options: ImageOptions) -> None:
    if options.image is not None:
        _valid(_IMAGE_REF, options.image, "--image")
        if options.builds and "@" in options.image:
            raise ImageBuildError(
                f"--image {options.image} has a digest, which names an existing image; drop "
                "the @sha256:… part to tag the build, or drop --build to use that image"
            )
        if options.push and not options.builds and "@" in options.image:
            raise ImageBuildError(
                f"--image {options.image} has a digest, so it is already in a registry; drop "
                "--push to record it, or name a local tag to push"
            )
        if options.registry:
            raise ImageBuildError(
                "--registry and --image both say where the image goes; put the registry in "
                "the --image reference, or drop --image to get a generated name"
            )
    if options.registry is not None:
        _valid(_REPOSITORY, options.registry, "--registry")
    if not options.builds and options.image is None:
        if options.push:
            raise ImageBuildError(
                "--push needs an image: add --build to build one, or --image REF to push a "
                "local image"
            )
        raise ImageBuildError(
            "--builder and --registry only apply to a build; add --build (or --image REF to "
            "record a pre-built image)"
        )


def with_image(result: CompileResult, reference: str) -> CompileResult:
    """``result`` with ``spec.image`` set to ``reference``, re-validated as a whole spec."""
    data = {**result.spec.model_dump(mode="json"), "image": reference}
    try:
        spec = dag_spec_from_data(data, source=str(result.dag_file))
    except SpecError as exc:
        raise CompileError("spec", exc.problems) from None
    return dataclasses.replace(result, spec=spec)


def _load_project_config(project_dir: Path, dag_id: str) -> LeoflowYaml:
    return load_config(project_dir) or LeoflowYaml(dag_id=dag_id)


def build_flags() -> list[str]:
    """``LEOFLOW_BUILD_FLAGS`` split like a shell would (``--network=none --platform …``)."""
    try:
        return shlex.split(os.environ.get(BUILD_FLAGS_ENV, ""))
    except ValueError as exc:
        raise ImageBuildError(f"{BUILD_FLAGS_ENV} is not valid shell words: {exc}") from None


@dataclass(frozen=True)
class _Plan:
    """What to build: the Dockerfile and context on disk and the tag to give the image."""

    dockerfile: Path
    context: Path
    tag: str
    label: str
    origin: str


def _repository(config: LeoflowYaml, options: ImageOptions, dag_id: str) -> str:
    registry = options.registry or config.registry
    return f"{registry or LOCAL_REPOSITORY}/{image_name_for(dag_id)}"


def _user_dockerfile(
    project_dir: Path, config: LeoflowYaml, options: ImageOptions
) -> tuple[Path, Path] | None:
    """The user's own Dockerfile and context, when one is named (flag first, then config)."""
    if options.dockerfile is not None:
        dockerfile = options.dockerfile
    elif config.build and config.build.dockerfile:
        dockerfile = project_dir / config.build.dockerfile
    else:
        return None
    if not dockerfile.is_file():
        raise ImageBuildError(f"Dockerfile {dockerfile} does not exist; fix the path")
    context = project_dir / (config.build.context if config.build else ".")
    if not context.is_dir():
        raise ImageBuildError(f"build.context {context} is not a folder; fix leoflow.yaml")
    return dockerfile, context


def _plan_build(
    project_dir: Path, config: LeoflowYaml, options: ImageOptions, dag_id: str, staging: Path
) -> _Plan:
    args = config.build.args if config.build else {}
    own = _user_dockerfile(project_dir, config, options)
    if own is not None:
        dockerfile, context = own
        text = dockerfile.read_text(encoding="utf-8", errors="replace")
        files = project_files(context, options.exclude)
        digest = context_hash(text, context, files, args)
        label = str(dockerfile)
        origin = f"Dockerfile {dockerfile}"
    else:
        if config.build and config.build.context != ".":
            raise ImageBuildError(
                f"build.context {config.build.context!r} only applies to your own Dockerfile "
                "(build.dockerfile); the generated Dockerfile copies the project folder. "
                "Remove build.context or set build.dockerfile"
            )
        staged = stage_context(
            project_dir, staging, render_dockerfile(config), args, options.exclude
        )
        dockerfile, context, digest = staged.dockerfile, staged.path, staged.content_hash
        label = "generated"
        origin = f"generated Dockerfile, FROM {base_image_of(config)}"
    tag = options.image or f"{_repository(config, options, dag_id)}:{digest[:TAG_LENGTH]}"
    return _Plan(dockerfile, context, tag, label, origin)


def _push(builder: Builder, reference: str, console: Console, staging: Path) -> str | None:
    digest_file = staging / "pushed.digest"
    output = run_builder(
        builder.push_command(reference, digest_file),
        console=console,
        title=f"pushing {reference} with {builder.kind}",
    )
    digest = builder.pushed_digest(output.lines, digest_file)
    if digest is None:
        console.print(
            f"pushed {reference} in {output.seconds:.1f} s, but {builder.kind} reported no "
            "digest: dag.json records the tag only",
            highlight=False,
        )
    else:
        console.print(f"pushed {reference}@{digest} in {output.seconds:.1f} s", highlight=False)
    return digest


def _resolve_builder(config: LeoflowYaml, options: ImageOptions) -> Builder:
    wanted = options.builder or (config.build.builder if config.build else None)
    try:
        return find_builder(wanted)
    except BuilderError as exc:
        raise ImageBuildError(exc.problem) from None


def _digest_reference(reference: str, digest: str | None) -> str:
    if digest is None:
        return reference
    return f"{reference.split('@', 1)[0]}@{digest}"


def apply_image(
    result: CompileResult,
    project_dir: Path,
    options: ImageOptions,
    *,
    console: Console | None = None,
) -> ImageOutcome:
    """Resolve, build and/or push the DAG's image and return the result with ``image`` set.

    Raises ``ImageBuildError`` (a ``CompileError``) naming the problem and the fix; a failed
    builder's output is in its ``detail``.
    """
    _check_options(options)
    console = console or Console(stderr=True, soft_wrap=True)
    dag_id = result.spec.dag_id
    config = _load_project_config(project_dir, dag_id)
    if options.push and not options.image and not (options.registry or config.registry):
        raise ImageBuildError(
            "--push needs a registry: set registry in leoflow.yaml (e.g. ghcr.io/acme), pass "
            "--registry, or name the image with --image"
        )
    if not options.builds and not options.push:
        assert options.image is not None
        return ImageOutcome(with_image(result, options.image), options.image)
    builder = _resolve_builder(config, options)
    with tempfile.TemporaryDirectory(prefix="leoflow-image-") as tmp:
        staging = Path(tmp)
        try:
            if options.builds:
                plan = _plan_build(project_dir, config, options, dag_id, staging / "context")
                output = run_builder(
                    builder.build_command(
                        dockerfile=plan.dockerfile,
                        context=plan.context,
                        tag=plan.tag,
                        build_args=config.build.args if config.build else {},
                        extra_flags=build_flags(),
                    ),
                    console=console,
                    title=f"building {plan.tag} with {builder.kind} ({plan.origin})",
                )
                console.print(f"built {plan.tag} in {output.seconds:.1f} s", highlight=False)
                tag, label = plan.tag, plan.label
            else:
                assert options.image is not None
                tag, label = options.image, None
            digest = _push(builder, tag, console, staging) if options.push else None
        except BuilderError as exc:
            raise ImageBuildError(exc.problem, exc.detail) from None
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise ImageBuildError(
                f"cannot prepare the build context{where}: {exc.strerror or exc}"
            ) from None
    reference = _digest_reference(tag, digest)
    return ImageOutcome(
        with_image(result, reference),
        reference,
        built=options.builds,
        pushed=options.push,
        digest=digest,
        builder=builder.executable,
        dockerfile=label,
        tag=tag,
    )
