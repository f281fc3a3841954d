"""A bash pipeline with Jinja templating: the run's date, its id and its params in commands.

Commands are rendered when the task runs (``{{ ds }}``, ``{{ run_id }}``, ``{{ params.rows }}``,
loops, filters), exactly as Airflow renders ``bash_command``. The tasks share files through a
folder named after the run under the system temp directory.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

# One folder per run; the run id contains ':' and '+', which are replaced for the shell.
WORK = (
    '"${TMPDIR:-/tmp}/leoflow-bash-pipeline/{{ run_id | replace(":", "_") | replace("+", "_") }}"'
)

GENERATE = (
    "mkdir -p " + WORK + " && "
    "{% for i in range(params.rows) %}"
    'echo "{{ ds }},row{{ i }},{{ i * i }}" >> ' + WORK + "/data.csv; "
    "{% endfor %}"
    "wc -l < " + WORK + "/data.csv"
)

# sum of i*i for i < n is (n-1)n(2n-1)/6: the pipeline checks its own arithmetic.
SUMMARIZE = (
    "total=$(awk -F, '{s += $3} END {print s}' " + WORK + "/data.csv) && "
    'echo "sum of squares for {{ ds }}: $total" && '
    'test "$total" -eq {{ (params.rows - 1) * params.rows * (2 * params.rows - 1) // 6 }}'
)

with DAG(
    "bash_pipeline",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={"rows": 5},
    default_args={"retries": 1, "retry_delay": timedelta(seconds=2)},
    tags=["example", "bash"],
) as dag:
    generate = BashOperator(task_id="generate", bash_command=GENERATE)
    summarize = BashOperator(task_id="summarize", bash_command=SUMMARIZE)
    cleanup = BashOperator(
        task_id="cleanup",
        bash_command="rm -rf " + WORK + ' && echo "cleaned up after {{ run_id }}"',
    )
    generate >> summarize >> cleanup
