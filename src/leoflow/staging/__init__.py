"""Per-run staging space (ADR 0016): where the tasks of one run share files.

Pro gives each run a PersistentVolumeClaim (``leoflow.executors.kubernetes.staging``); the
subprocess executor (Lite) gives it a folder on local disk with the same lifecycle, recorded in
the same table. :mod:`leoflow.staging.paths` says which path a try sees.
"""

from leoflow.staging.directories import DirectoryStaging
from leoflow.staging.paths import POD_STAGING_DIR, staging_directory, task_staging_dir

__all__ = ["POD_STAGING_DIR", "DirectoryStaging", "staging_directory", "task_staging_dir"]
