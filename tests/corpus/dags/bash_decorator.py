"""@task.bash: the function returns the command; BashOperator arguments still apply."""

from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2024, 1, 1))
def bash_decorator():
    @task
    def pick_file() -> str:
        return "data.csv"

    @task.bash(env={"GREETING": "hello"}, append_env=True, cwd="/tmp")
    def greet(name: str = "leoflow") -> str:
        """Says hello to `name`."""
        return f"echo hello from {name}"

    @task.bash(skip_on_exit_code=[3, 4], retries=1)
    def sized(path: str, limit: int = 64) -> str:
        return f"head -c {limit} {path}"

    greet() >> sized(pick_file())
    sized("x")


bash_decorator()
