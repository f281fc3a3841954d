"""Leoflow Lite: one process on one machine (embedded database, workspace, per-DAG venvs)."""
