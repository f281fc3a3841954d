"""``python -m leoflow_sdk.runtime [--standby]``: run the try described by the environment."""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    parent = os.getppid()
    from leoflow_sdk.runtime.lifeline import die_with_parent

    die_with_parent(parent)
    if sys.argv[1:] == ["--standby"]:
        from leoflow_sdk.runtime.standby import main
    else:
        from leoflow_sdk.runtime.main import main
    sys.exit(main())
