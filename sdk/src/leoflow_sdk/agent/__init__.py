"""The thin agent: the process that runs one try of one task instance (ADR 0003).

Started as ``python -m leoflow_sdk.agent`` by an executor (PID 1 of a task pod in Pro, a child
process in Lite), it talks only gRPC to the control plane's AgentService, runs the user code
in a child process (``leoflow_sdk.runtime`` or bash) and reports the outcome. Its settings are
environment variables, all named in ``leoflow_sdk.agent.settings``.

Nothing is imported here: ``settings`` is importable by an executor without loading gRPC.
"""
