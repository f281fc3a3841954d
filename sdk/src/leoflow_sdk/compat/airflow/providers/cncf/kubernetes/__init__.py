"""Kubernetes provider: not supported yet."""

from __future__ import annotations

from ...._leoflow.unsupported import refuse_module

refuse_module("KubernetesPodOperator and the cncf.kubernetes provider")
