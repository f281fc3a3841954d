"""``airflow.utils.helpers``: the old home of chain and cross_downstream."""

from __future__ import annotations

from .._leoflow.baseoperator import chain, cross_downstream

__all__ = ["chain", "cross_downstream"]
