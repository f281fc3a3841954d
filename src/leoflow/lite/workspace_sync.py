"""Lite's workspace sync: every DAG project of the workspace compiled, registered, hot-reloaded.

A workspace is a folder of DAG projects (``dag.py``/``dag.yaml`` + ``leoflow.yaml``). At start
and within a second of every save, the projects that changed are compiled by the same compiler
CI uses (:func:`leoflow.compiler.compile_project`), with the DAG's own virtualenv as the
interpreter, so a top-level ``import pendulum`` works exactly when ``pendulum`` is a declared
dependency. What compiled is registered as the DAG's latest version (nothing new when the spec
hash is unchanged); what did not becomes an Airflow import error, shown in the API, the UI and
the terminal, and cleared once the file compiles again.

The sync is level-triggered, like the scheduler: each pass computes the *desired* state of the
whole workspace from the latest outcome of every project (:func:`plan_workspace`, pure), then
closes the gap with the database (register, record or clear import errors, mark DAGs whose
project disappeared as stale). A pass therefore repairs whatever an earlier one could not do,
and a restart converges to the same state.

Which DAG ids the workspace owns is remembered in ``<home>/lite/workspace-state.json``, so a
project deleted while Lite was stopped still has its DAG marked stale at the next start, and a
DAG pushed through the API (not from the workspace) is never touched.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from leoflow.compiler.errors import CompileError
from leoflow.compiler.extract import DEFAULT_TIMEOUT_SECONDS
from leoflow.compiler.project import DAG_SOURCES, CompileResult, compile_project, load_config
from leoflow.compiler.workspace import scan_workspace
from leoflow.config import Settings
from leoflow.executors.inline_http import inline_http_problems
from leoflow.lite.venvs import VenvBuildError, VenvInputs, VenvManager
from leoflow.scheduler.operations import FULL_PASS
from leoflow.spec import DagSpec, LeoflowYaml, dump_dag_json, spec_hash
from leoflow.store import import_errors
from leoflow.store.dag_versions import register_dag_version
from leoflow.store.dags import set_dag_active, upsert_dag
from leoflow.store.pool import Pool
from leoflow.store.tenants import get_default_tenant_id
from leoflow.store.wakeups import SCHEDULER_CHANNEL, notify
from leoflow.telemetry import get_logger

log = get_logger(__name__)

STATE_FILE = "workspace-state.json"
DEBOUNCE_MS = 150
"""Saves are coalesced for this long: editors write a file in several steps."""
_IGNORED_DIRS = frozenset({"__pycache__", ".venv", "venv", "node_modules"})
_IGNORED_FILES = frozenset({"dag.json"})
_IGNORED_SUFFIXES = (".pyc", ".pyo", ".swp", ".swx", ".tmp", "~")

Report = Callable[[str], None]
Interpreter = Callable[[LeoflowYaml | None, Report], Awaitable[str | None]]
"""Gives the Python that imports a project's DAG file (``None``: this interpreter)."""


# --- outcomes and the plan (pure) ------------------------------------------------------------


@dataclass(frozen=True)
class ProjectOutcome:
    """The latest compilation of one project: a spec, or the error and the DAG it claims."""

    project: Path
    filename: str
    """The DAG file (the import error's ``filename``)."""
    spec: DagSpec | None = None
    spec_hash: str | None = None
    error: str | None = None
    claimed_dag_id: str | None = None
    """For a failure: the DAG this project defines (from leoflow.yaml or its last success)."""

    @property
    def dag_id(self) -> str | None:
        return self.spec.dag_id if self.spec is not None else self.claimed_dag_id


@dataclass(frozen=True)
class Registration:
    """A compiled spec to register as its DAG's latest version."""

    dag_id: str
    project: Path
    spec: DagSpec
    spec_hash: str


@dataclass(frozen=True)
class ImportProblem:
    """An import error to show: the file, why, and the DAG it belongs to (if known)."""

    filename: str
    stacktrace: str
    dag_id: str | None


@dataclass
class WorkspacePlan:
    """What the database should say about the workspace."""

    registrations: dict[str, Registration] = field(default_factory=dict)
    errors: dict[str, ImportProblem] = field(default_factory=dict)
    owners: dict[str, Path] = field(default_factory=dict)
    """dag_id → the project that defines it (compiled or failing)."""


def plan_workspace(
    outcomes: Mapping[Path, ProjectOutcome], previous_owners: Mapping[str, Path]
) -> WorkspacePlan:
    """Decide registrations, import errors and ownership from every project's outcome.

    Two projects defining the same dag_id: the one that owned it before keeps it (a new copy
    never hijacks a working DAG), else the first by path; every other one gets an import error
    naming both folders, and nothing of it is registered.
    """
    plan = WorkspacePlan()
    claims: dict[str, list[ProjectOutcome]] = {}
    for outcome in sorted(outcomes.values(), key=lambda o: o.project):
        if outcome.error is not None:
            plan.errors[outcome.filename] = ImportProblem(
                outcome.filename, outcome.error, outcome.claimed_dag_id
            )
        if outcome.dag_id is not None:
            claims.setdefault(outcome.dag_id, []).append(outcome)
    for dag_id, claimants in claims.items():
        owner = next(
            (o for o in claimants if o.project == previous_owners.get(dag_id)), claimants[0]
        )
        plan.owners[dag_id] = owner.project
        for other in claimants:
            if other is owner:
                continue
            message = (
                f"dag_id '{dag_id}' is defined by both {owner.project} and {other.project}; "
                f"rename one (dag_id in leoflow.yaml or the DAG's id). Only {owner.project} "
                "is registered."
            )
            plan.errors[other.filename] = ImportProblem(other.filename, message, None)
        if owner.spec is not None and owner.spec_hash is not None:
            plan.registrations[dag_id] = Registration(
                dag_id, owner.project, owner.spec, owner.spec_hash
            )
    return plan


def error_text(error: CompileError) -> str:
    """An import error's stack trace: every problem, then the traceback or output excerpt."""
    text = "\n".join(error.problems)
    if error.detail:
        text += "\n\n" + error.detail.rstrip()
    return text


def dag_file_of(project: Path, config: LeoflowYaml | None = None) -> Path:
    """The DAG file of a project (also when it does not compile): what its errors name."""
    if config is not None and (project / config.dag_source).is_file():
        return project / config.dag_source
    for name in DAG_SOURCES:
        if (project / name).is_file():
            return project / name
    return project / DAG_SOURCES[0]


def venv_inputs_for(config: LeoflowYaml | None, venvs: VenvManager) -> VenvInputs:
    """The venv a project's DAG runs in, from its leoflow.yaml, before it is compiled."""
    return VenvInputs.for_config(config, venvs.sdk)


def is_relevant_change(path: Path, root: Path) -> bool:
    """Whether a changed path can change a compiled DAG (not caches, editor droppings, VCS)."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return False
    if any(part.startswith(".") or part in _IGNORED_DIRS for part in parts):
        return False
    name = path.name
    return name not in _IGNORED_FILES and not name.endswith(_IGNORED_SUFFIXES)


def owning_project(path: Path, projects: Iterable[Path]) -> Path | None:
    """The deepest project folder that contains ``path``."""
    best: Path | None = None
    for project in projects:
        if (path == project or project in path.parents) and (
            best is None or len(project.parts) > len(best.parts)
        ):
            best = project
    return best


# --- the persisted ownership -------------------------------------------------------------------


def load_owners(state_file: Path, root: Path) -> dict[str, Path]:
    """The dag_id → project map saved for ``root`` (empty for another or no workspace)."""
    try:
        data = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("workspace") != str(root):
        return {}
    dags = data.get("dags")
    if not isinstance(dags, dict):
        return {}
    return {str(dag_id): Path(str(path)) for dag_id, path in dags.items()}


def save_owners(state_file: Path, root: Path, owners: Mapping[str, Path]) -> None:
    """Write the ownership map atomically (a crash leaves the old file, never half a file)."""
    state_file.parent.mkdir(parents=True, exist_ok=True)
    payload = {"workspace": str(root), "dags": {k: str(v) for k, v in sorted(owners.items())}}
    scratch = state_file.with_suffix(".tmp")
    scratch.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    os.replace(scratch, state_file)


# --- the sync (I/O) --------------------------------------------------------------------------


def _print(line: str) -> None:
    print(line, flush=True)


class WorkspaceSync:
    """Keeps the registered DAGs and import errors in step with one workspace folder.

    ``run(pool)`` does a full pass, then watches the folder until cancelled. ``dag_dir_for``
    (hand it to the control plane) maps a dag_id to its project, where its tasks run.
    """

    def __init__(
        self,
        root: Path,
        settings: Settings,
        venvs: VenvManager,
        *,
        state_file: Path | None = None,
        report: Report = _print,
        interpreter: Interpreter | None = None,
        compile_timeout: float = DEFAULT_TIMEOUT_SECONDS,
        concurrency: int = 2,
    ) -> None:
        self.root = root.resolve()
        self.settings = settings
        self.venvs = venvs
        self.state_file = state_file or Path(settings.home) / "lite" / STATE_FILE
        self.report = report
        self.interpreter = interpreter or self._venv_python
        self.compile_timeout = compile_timeout
        self._semaphore = asyncio.Semaphore(max(1, concurrency))
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self.outcomes: dict[Path, ProjectOutcome] = {}
        self.owners: dict[str, Path] = load_owners(self.state_file, self.root)
        self._registered: dict[str, str] = {}
        """dag_id → spec hash registered by this process (skips no-op writes)."""
        self._recorded_errors: dict[str, tuple[str, str | None]] | None = None
        self.passes = 0
        """Completed passes (tests and the start-up banner wait on it)."""
        self.changed = asyncio.Condition()

    # --- public surface -----------------------------------------------------------------

    def dag_dir_for(self, dag_id: str) -> Path | None:
        """The project folder of ``dag_id`` (tasks run there), or ``None`` if not ours."""
        return self.owners.get(dag_id)

    async def run(self, pool: Pool) -> None:
        """Sync everything, then follow saves until cancelled or :meth:`stop`."""
        await self.sync(pool, None)
        await self.watch(pool)

    def stop(self) -> None:
        """Stop watching (the current pass, if any, finishes first)."""
        self._stop.set()

    async def wait_for_pass(self, count: int) -> None:
        """Block until ``count`` passes have completed (for callers that need a settled state;
        bound it with ``asyncio.timeout``)."""
        async with self.changed:
            await self.changed.wait_for(lambda: self.passes >= count)

    async def sync(self, pool: Pool, changed: set[Path] | None) -> WorkspacePlan:
        """One pass: compile the projects touched by ``changed`` (all when ``None``), then
        bring the database in line with the whole workspace."""
        async with self._lock:
            projects = await asyncio.to_thread(scan_workspace, self.root)
            for gone in set(self.outcomes) - set(projects):
                del self.outcomes[gone]
                self.report(f"[leoflow] project removed: {gone}")
            if changed is None:
                todo = list(projects)
            else:
                todo = sorted(
                    {p for p in projects if p not in self.outcomes}
                    | {
                        owner
                        for path in changed
                        if (owner := owning_project(path, projects)) is not None
                    }
                )
            started = time.monotonic()
            results = await asyncio.gather(*(self._compile(p) for p in todo))
            for outcome in results:
                self.outcomes[outcome.project] = outcome
            plan = plan_workspace(self.outcomes, self.owners)
            await self._apply(pool, plan, {o.project for o in results}, started)
            async with self.changed:
                self.passes += 1
                self.changed.notify_all()
            return plan

    async def watch(self, pool: Pool) -> None:
        """Re-sync within a second of any relevant change under the workspace."""
        from watchfiles import awatch

        # watchfiles logs every batch at INFO; the sync reports what the batch changed.
        logging.getLogger("watchfiles").setLevel(logging.WARNING)
        while not self._stop.is_set():
            try:
                async for batch in awatch(
                    self.root,
                    watch_filter=lambda _change, path: is_relevant_change(Path(path), self.root),
                    debounce=DEBOUNCE_MS,
                    step=50,
                    stop_event=self._stop,
                ):
                    changed = {Path(path) for _change, path in batch}
                    try:
                        await self.sync(pool, changed)
                    except Exception as exc:  # a pass must never end the watch
                        log.exception("workspace sync pass failed")
                        self.report(f"[leoflow] workspace sync failed: {exc}; retrying on save")
            except FileNotFoundError:
                self.report(f"[leoflow] workspace {self.root} is gone; waiting for it to return")
                await asyncio.sleep(1.0)
                self.root.mkdir(parents=True, exist_ok=True)

    # --- compiling ----------------------------------------------------------------------

    async def _venv_python(self, config: LeoflowYaml | None, report: Report) -> str | None:
        inputs = venv_inputs_for(config, self.venvs)

        def progress(line: str) -> None:
            if line.startswith(("building the DAG virtualenv", "DAG virtualenv ready")):
                report(f"[leoflow] {line}")

        venv = await self.venvs.ensure(inputs, progress)
        return str(venv.python)

    async def _compile(self, project: Path) -> ProjectOutcome:
        config: LeoflowYaml | None = None
        async with self._semaphore:
            try:
                config = load_config(project)
                python = await self.interpreter(config, self.report)
                result: CompileResult = await asyncio.to_thread(
                    compile_project, project, timeout=self.compile_timeout, python=python
                )
            except CompileError as exc:
                return self._failure(project, config, error_text(exc))
            except VenvBuildError as exc:
                return self._failure(
                    project, config, f"the DAG's virtualenv could not be built: {exc}"
                )
            except Exception as exc:  # a crash of one project must not stop the others
                log.exception("compiling a workspace project failed", project=str(project))
                return self._failure(project, config, f"compiling failed: {exc!r}")
        problems = inline_http_problems(result.spec, self.settings)
        if problems:
            return self._failure(project, config, "\n".join(problems), result.spec.dag_id)
        return ProjectOutcome(
            project=project,
            filename=str(result.dag_file),
            spec=result.spec,
            spec_hash=spec_hash(result.spec),
        )

    def _failure(
        self,
        project: Path,
        config: LeoflowYaml | None,
        text: str,
        dag_id: str | None = None,
    ) -> ProjectOutcome:
        if dag_id is None and config is not None:
            dag_id = config.dag_id
        if dag_id is None:
            dag_id = next((d for d, p in self.owners.items() if p == project), None)
        return ProjectOutcome(
            project=project,
            filename=str(dag_file_of(project, config)),
            error=text,
            claimed_dag_id=dag_id,
        )

    # --- applying the plan --------------------------------------------------------------

    async def _apply(
        self, pool: Pool, plan: WorkspacePlan, compiled: set[Path], started: float
    ) -> None:
        tenant_id = await get_default_tenant_id(pool)
        registered_any = False
        for dag_id, registration in sorted(plan.registrations.items()):
            if self._registered.get(dag_id) == registration.spec_hash:
                if registration.project in compiled:
                    self.report(f"[leoflow] DAG {dag_id}: saved, compiled spec unchanged")
                continue
            version, created = await self._register(pool, tenant_id, registration)
            self._registered[dag_id] = registration.spec_hash
            registered_any = True
            if registration.project in compiled or created:
                what = f"version {version} registered" if created else f"version {version}"
                tasks = len(registration.spec.tasks)
                self.report(
                    f"[leoflow] DAG {dag_id} ({tasks} task{'s' if tasks != 1 else ''}) from "
                    f"{registration.project}: {what} ({time.monotonic() - started:.1f} s)"
                )
        await self._reconcile_errors(pool, tenant_id, plan, compiled)
        for dag_id in sorted(set(self.owners) - set(plan.owners)):
            self._registered.pop(dag_id, None)
            if await set_dag_active(pool, tenant_id, dag_id, False) is not None:
                self.report(f"[leoflow] DAG {dag_id}: its project is gone; marked inactive")
        if registered_any:
            await notify(pool, SCHEDULER_CHANNEL, FULL_PASS)
        if plan.owners != self.owners:
            self.owners = dict(plan.owners)
            await asyncio.to_thread(save_owners, self.state_file, self.root, self.owners)

    async def _register(
        self, pool: Pool, tenant_id: UUID, registration: Registration
    ) -> tuple[int, bool]:
        spec = registration.spec
        paused = self.settings.paused_at_creation()
        async with pool.connection() as conn, conn.transaction():
            await upsert_dag(
                conn,
                tenant_id,
                spec.dag_id,
                description=spec.description,
                owners=[spec.owner] if spec.owner else [],
                tags=spec.tags,
                paused_on_create=paused,
            )
            version, created = await register_dag_version(
                conn,
                tenant_id,
                spec.dag_id,
                dump_dag_json(spec),
                registration.spec_hash,
                image=spec.image,
                paused_on_create=paused,
            )
        return version.version_number, created

    async def _reconcile_errors(
        self, pool: Pool, tenant_id: UUID, plan: WorkspacePlan, compiled: set[Path]
    ) -> None:
        if self._recorded_errors is None:
            self._recorded_errors = await self._load_recorded_errors(pool, tenant_id)
        recorded = self._recorded_errors
        for filename in sorted(set(recorded) - set(plan.errors)):
            await import_errors.clear_import_errors(pool, tenant_id, filename=filename)
            del recorded[filename]
            self.report(f"[leoflow] import error cleared: {filename}")
        for filename, problem in sorted(plan.errors.items()):
            wanted = (problem.stacktrace, problem.dag_id)
            if recorded.get(filename) == wanted:
                continue
            await import_errors.upsert_import_error(
                pool, tenant_id, filename, problem.stacktrace, dag_id=problem.dag_id
            )
            recorded[filename] = wanted
            self._announce_error(problem)

    def _announce_error(self, problem: ImportProblem) -> None:
        lines = problem.stacktrace.splitlines() or ["(no detail)"]
        shown = "\n".join(f"    {line}" for line in lines[:30])
        more = f"\n    … {len(lines) - 30} more lines" if len(lines) > 30 else ""
        self.report(f"[leoflow] import error in {problem.filename}:\n{shown}{more}")

    async def _load_recorded_errors(
        self, pool: Pool, tenant_id: UUID
    ) -> dict[str, tuple[str, str | None]]:
        """Import errors recorded under this workspace by an earlier process."""
        prefix = str(self.root).rstrip("/") + "/"
        recorded: dict[str, tuple[str, str | None]] = {}
        offset = 0
        while True:
            page, total = await import_errors.list_import_errors(
                pool, tenant_id, filename_prefix=prefix, limit=100, offset=offset
            )
            for row in page:
                recorded[row.filename] = (row.stacktrace, row.dag_id)
            offset += len(page)
            if not page or offset >= total:
                return recorded

    def status(self) -> list[dict[str, Any]]:
        """Each project's latest outcome, for status displays."""
        rows = []
        for project, outcome in sorted(self.outcomes.items()):
            rows.append(
                {
                    "project": str(project),
                    "dag_id": outcome.dag_id,
                    "ok": outcome.error is None,
                    "error": outcome.error,
                }
            )
        return rows


async def run_until_cancelled(sync: WorkspaceSync, pool: Pool) -> None:
    """Background-task entry point: ``sync.run`` that logs rather than raises on failure."""
    try:
        await sync.run(pool)
    except Exception:
        log.exception("the workspace sync stopped")
        sync.report("[leoflow] the workspace sync stopped; restart Lite to resume hot reload")
