"""Sibling package imported by a corpus DAG (the DAG's folder is first on sys.path)."""


def transform(value: int) -> int:
    return value * 2
