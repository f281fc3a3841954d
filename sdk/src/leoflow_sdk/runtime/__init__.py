"""The task runtime: the child process that runs one try's user code.

Started by the agent as ``python -m leoflow_sdk.runtime`` in the DAG's own environment, it
imports the DAG module through the Airflow shim, calls the task's callable with its bound
arguments and the Airflow context (or renders and runs a bash command), and hands its results
back through files the agent reads after it exits. It never talks to the network: everything
arrives in the environment and the per-try work folder (DESIGN §5, ``runtime.contract``).

Nothing is imported here, so the agent can use ``leoflow_sdk.runtime.contract`` without
paying for the runtime.
"""
