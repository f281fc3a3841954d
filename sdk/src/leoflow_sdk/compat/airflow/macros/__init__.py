"""``airflow.macros``: the date helpers templates and tasks use (``ds_add``, ``ds_format``)."""

from __future__ import annotations

import datetime
import json
import random
import time
import uuid
from datetime import timedelta

from .._leoflow.task_context import MACROS

ds_add = MACROS.ds_add
ds_format = MACROS.ds_format

__all__ = ["datetime", "ds_add", "ds_format", "json", "random", "time", "timedelta", "uuid"]
