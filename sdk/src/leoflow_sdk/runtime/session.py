"""One try as the runtime sees it: its inputs, its Airflow context and its outputs.

Inputs are decoded from the environment the agent prepared and announced with one metadata
line each; outputs (the return value, ``ti.xcom_push`` values) are written to the files the
agent pushes after the process exits. No line written here contains a data value (ADR 0022).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from leoflow_sdk.runtime import contract
from leoflow_sdk.runtime.json_values import serialize
from leoflow_sdk.runtime.loader import shim
from leoflow_sdk.runtime.notices import describe, notice
from leoflow_sdk.runtime.spec_file import RuntimeSpec, XComSource
from leoflow_sdk.runtime.templating import contains_template, render_value


class TaskSession:
    """The inputs, context and outputs of the try described by ``spec`` and ``environ``."""

    def __init__(self, spec: RuntimeSpec, environ: Mapping[str, str]) -> None:
        self.spec = spec
        self.environ = environ
        self.task_id = spec.run.task_id
        self.params: dict[str, Any] = json.loads(environ.get(contract.PARAMS) or "{}")
        self.call_args: dict[str, Any] = json.loads(environ.get(contract.CALL_ARGS_JSON) or "{}")
        self.input_values: dict[str, Any] = {}
        self.xcom_table: dict[tuple[str, str], Any] = {}
        self._pushes = 0
        self._decode_inputs()

    def _decode_inputs(self) -> None:
        for param, sources in self.spec.xcom_inputs.items():
            text = contract.read_xcom_input(self.environ, param)
            value = json.loads(text) if text is not None else None
            size = len(text.encode("utf-8")) if text is not None else 0
            self.input_values[param] = value
            if len(sources) == 1:
                self.xcom_table[sources[0].task_id, sources[0].key] = value
                origin = sources[0].label() + (" (no value pushed)" if value is None else "")
                notice(f"input '{param}': {describe(value, size)} from {origin}")
                continue
            items = value if isinstance(value, list) and len(value) == len(sources) else None
            for index, source in enumerate(sources):
                self.xcom_table[source.task_id, source.key] = items[index] if items else None
            notice(
                f"input '{param}': fan-in {describe(value, size)} from "
                f"{', '.join(_labels(sources))}"
                + ("" if items is not None else " (not a list of the declared length)")
            )

    def bound_values(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """``call_args`` (templated strings rendered, as Airflow renders ``op_args`` and
        ``op_kwargs``) plus the XCom inputs, by parameter name."""
        values = dict(self.call_args)
        if contains_template(values):
            values = render_value(values, context, f"the arguments of task '{self.task_id}'")
        if values:
            notice(f"call arguments: {', '.join(sorted(values))}")
        values.update(self.input_values)
        return values

    def build_context(self, task: Any, dag: Any) -> dict[str, Any]:
        """The Airflow context of this try."""
        task_context = shim("airflow._leoflow.task_context")
        context: dict[str, Any] = task_context.build_context(
            run=self.spec.run.as_mapping(),
            params=self.params,
            xcom_inputs=self.xcom_table,
            push_xcom=self.push_xcom,
            task=task,
            dag=dag,
        )
        return context

    def push_xcom(self, key: str, value: Any) -> None:
        """Record a ``ti.xcom_push`` for the agent: a file per call, in call order."""
        text = serialize(value, f"ti.xcom_push(key={key!r}) value")
        folder = self.environ.get(contract.PUSHED_XCOM_DIR)
        if not folder:
            raise RuntimeError("ti.xcom_push needs LEOFLOW_PUSHED_XCOM_DIR (set by the agent)")
        if not self._pushes:
            os.makedirs(folder, exist_ok=True)  # made on first use: most tries push nothing
        self._pushes += 1
        path = os.path.join(folder, f"{self._pushes:06d}.xcom")
        contract.write_text_atomic(path, contract.dump_json(key) + "\n" + text)
        notice(f"pushed XCom {key!r}: {describe(value, len(text.encode('utf-8')))}")

    def write_return_value(self, result: Any, multiple_outputs: bool) -> None:
        """Write the return value for the agent (nothing for ``None``), one metadata line."""
        plain_dict = isinstance(result, dict) and all(isinstance(k, str) for k in result)
        if multiple_outputs and result is not None and not plain_dict:
            raise TypeError(
                f"task '{self.task_id}' has multiple_outputs=True, so it must return a dict "
                f"with string keys (or None), but it returned a {type(result).__name__}"
            )
        if result is None:
            notice("returned None (no XCom pushed)")
            return
        text = serialize(result, f"the return value of task '{self.task_id}'")
        contract.write_text_atomic(self.environ[contract.RETURN_VALUE_PATH], text)
        notice(f"returned {describe(result, len(text.encode('utf-8')))}")
        if multiple_outputs:
            notice(f"multiple_outputs: each of its {len(result)} keys is also pushed as an XCom")


def _labels(sources: tuple[XComSource, ...]) -> list[str]:
    return [source.label() for source in sources]
