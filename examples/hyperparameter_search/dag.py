"""Map-reduce fan-in: a small hyper-parameter search.

One ``train`` task per point of the grid runs in parallel; ``pick_best`` receives the list of
all their results, in the order they were declared (the fan-in of ``[train(...) for ...]``).
The "model" is a closed-form quadratic so the example needs no data and no ML library.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

GRID = [{"learning_rate": lr, "depth": depth} for lr in (0.01, 0.1, 0.3) for depth in (2, 4)]


@dag(schedule=None, start_date=datetime(2025, 1, 1), catchup=False, tags=["example", "fan-in"])
def hyperparameter_search():
    @task
    def make_dataset() -> dict:
        return {"rows": 1000, "noise": 0.05}

    @task
    def train(dataset: dict, learning_rate: float, depth: int) -> dict:
        # Pretend validation loss: best near learning_rate 0.1 and depth 4.
        loss = (learning_rate - 0.1) ** 2 * 10 + (depth - 4) ** 2 * 0.01 + dataset["noise"]
        print(f"lr={learning_rate} depth={depth} → loss {loss:.4f}")
        return {"learning_rate": learning_rate, "depth": depth, "loss": round(loss, 6)}

    @task
    def pick_best(results: list[dict]) -> dict:
        best = min(results, key=lambda r: r["loss"])
        print(f"{len(results)} candidates; best: {best}")
        assert len(results) == len(GRID)
        assert (best["learning_rate"], best["depth"]) == (0.1, 4)
        return best

    dataset = make_dataset()
    pick_best([train(dataset, **point) for point in GRID])


hyperparameter_search()
