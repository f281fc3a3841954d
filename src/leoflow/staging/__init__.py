"""Per-run staging space (ADR 0016) outside Kubernetes: Lite's per-run directories.

Pro gives each run a PersistentVolumeClaim (``leoflow.executors.kubernetes.staging``); Lite
gives it a folder on local disk with the same lifecycle, recorded in the same table.
"""

from leoflow.staging.directories import DirectoryStaging, staging_directory

__all__ = ["DirectoryStaging", "staging_directory"]
