"""A distributed Airflow run without Docker: the docker-compose topology, started from this test.

The same Airflow with CeleryExecutor: a throw-away PostgreSQL database as metadata store and Celery
result backend, the local Redis (DB 7) as broker, and api-server, scheduler, dag-processor and one
Celery worker as separate processes. The sample drop goes through both DAGs into a second throw-away
PostgreSQL database, the warehouse (the `warehouse` connection), and must equal the generated truth.
Like the compose file, the worker preloads pandas and GX (etl/celery_config.py).
"""

from __future__ import annotations

import base64
import contextlib
import glob
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pytest
import sqlalchemy as sa

from tests.conftest import IN_CI, create_postgres_database, drop_postgres_database, require_postgres

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 7
INGEST, PUBLISH = "ingest_provincial_drops", "publish_national_reporting"
COMPONENTS = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler"],
    "dag-processor": ["dag-processor"],
    "worker": ["celery", "worker", "--concurrency", "2", "--without-mingle", "--without-gossip"],
}
STARTUP_TIMEOUT = 240.0
RUN_TIMEOUT = 15 * 60.0
STOP_TIMEOUT = 20.0
T = TypeVar("T")


def _redis(*commands: str) -> list[bytes]:
    """Send inline commands to Redis on one connection; returns the one-line replies."""
    with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=3) as connection:
        connection.sendall("".join(f"{command}\r\n" for command in commands).encode())
        replies = b""
        while replies.count(b"\r\n") < len(commands) and (chunk := connection.recv(4096)):
            replies += chunk
    return replies.split(b"\r\n")[: len(commands)]


def require_redis() -> None:
    """Skip with the reason when no Redis answers; in CI (CI=true) fail instead."""
    try:
        reply = _redis("PING")
        problem = None if reply == [b"+PONG"] else f"Redis at {REDIS_HOST}:{REDIS_PORT} answered {reply!r}"
    except OSError as error:
        problem = f"no Redis answers at {REDIS_HOST}:{REDIS_PORT}: {type(error).__name__}"
    if problem:
        if IN_CI:
            pytest.fail(f"CI=true but {problem}")
        pytest.skip(problem)


def flush_redis_db() -> None:
    """Empty the broker's Redis DB, and only that one."""
    replies = _redis(f"SELECT {REDIS_DB}", "FLUSHDB")
    assert replies == [b"+OK", b"+OK"], replies


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tail(path: Path, lines: int) -> str:
    text = path.read_text("utf-8", errors="replace") if path.exists() else "(no file)"
    return "\n".join(text.splitlines()[-lines:])


def _session_members(sessions: set[int]) -> list[int]:
    """Every process in these sessions: task runners sit in process groups of their own, not sessions."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[3]) in sessions:
                members.append(int(stat.parent.name))
    return members


@dataclass
class Cluster:
    """The Airflow components of one test, their environment, and the REST API to drive them."""

    home: Path
    env: dict[str, str] = field(repr=False)  # keeps tracebacks short; its secrets are throw-away anyway
    port: int
    roots: dict[str, Path]
    warehouse: str
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    token: str = ""

    def airflow(self, *args: str, timeout: float = 300) -> None:
        """Run one `airflow` command to its end; its output goes to <home>/<command>.log."""
        log = self.home / f"{args[0]}.log"
        with log.open("w") as out:
            code = subprocess.run(
                [str(BIN / "airflow"), *args],
                env=self.env,
                cwd=self.home,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            ).returncode
        if code:
            pytest.fail(f"`airflow {' '.join(args)}` exited {code}:\n{_tail(log, 60)}")

    def start(self) -> None:
        """Each component in a session of its own, logging to <home>/<component>.log."""
        for name, args in COMPONENTS.items():
            with (self.home / f"{name}.log").open("w") as out:
                self.processes[name] = subprocess.Popen(
                    [str(BIN / "airflow"), *args],
                    env=self.env,
                    cwd=self.home,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

    def stop(self) -> None:
        """SIGTERM everything started, then SIGKILL whatever is left after STOP_TIMEOUT."""
        sessions = {process.pid for process in self.processes.values()}
        for pid in _session_members(sessions):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
        for pid in _session_members(sessions):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for process in self.processes.values():
            process.wait(10)

    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        """One REST call to the api-server; JSON in, JSON out."""
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data, headers, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def logs(self, lines: int = 30) -> str:
        return "\n".join(f"----- {name}.log -----\n{_tail(self.home / f'{name}.log', lines)}" for name in COMPONENTS)

    def fail(self, message: str, run: tuple[str, str] | None = None) -> NoReturn:
        """Fail the test with the components' log tails and, for a (dag_id, run_id), its failed tasks' logs."""
        details = [message, self.logs()]
        if run:
            dag_id, run_id = run
            run_logs = glob.escape(str(self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"))
            with contextlib.suppress(OSError):  # the api-server may be the component that died
                failed = self.call("GET", f"{self.run_path(dag_id, run_id)}/taskInstances?state=failed")
                for ti in failed["task_instances"][:3]:
                    mapped = f"map_index={ti['map_index']}/" if ti["map_index"] >= 0 else ""
                    for log in sorted(glob.glob(f"{run_logs}/task_id={ti['task_id']}/{mapped}attempt=*.log")):
                        details.append(f"----- {log} -----\n{_tail(Path(log), 40)}")
        pytest.fail("\n".join(details))

    def wait_until(self, what: str, check: Callable[[], T | None], timeout: float, every: float = 3.0) -> T:
        """Poll ``check`` until it returns a value; fail when a component died or ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        last_error = ""
        while True:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    self.fail(f"{name} exited with {process.returncode} while waiting for {what}")
            try:
                if (result := check()) is not None:
                    return result
            except OSError as error:  # not listening yet, or a 404 before the DAGs are parsed
                last_error = f" (last error: {error})"
            if time.monotonic() > deadline:
                self.fail(f"no {what} within {timeout:.0f} s{last_error}")
            time.sleep(every)

    def run_path(self, dag_id: str, run_id: str) -> str:
        return f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"

    def healthy(self) -> bool | None:
        health = self.call("GET", "/api/v2/monitor/health")
        parts = ("metadatabase", "scheduler", "dag_processor")
        worker_ready = " ready." in (self.home / "worker.log").read_text("utf-8", errors="replace")
        return True if worker_ready and all((health[part] or {}).get("status") == "healthy" for part in parts) else None

    def log_in(self) -> str:
        return self.call("POST", "/auth/token", {"username": "admin", "password": self.password})["access_token"]

    def dags_parsed(self) -> bool | None:
        errors = self.call("GET", "/api/v2/importErrors")["import_errors"]
        if errors:
            self.fail(f"the DAG files do not import: {errors}")
        return all(self.call("GET", f"/api/v2/dags/{dag_id}")["dag_id"] for dag_id in (INGEST, PUBLISH)) or None

    def published(self) -> bool | None:
        """True once an ingest run that took files and a publish run succeeded; fail on any failed run."""
        runs = {dag_id: self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns")["dag_runs"] for dag_id in (INGEST, PUBLISH)}
        for dag_id, dag_runs in runs.items():
            for run in dag_runs:
                if run["state"] == "failed":
                    self.fail(f"{dag_id} run {run['dag_run_id']} failed", (dag_id, run["dag_run_id"]))
        took_files = any(
            self.call("GET", f"{self.run_path(INGEST, run['dag_run_id'])}/taskInstances/record_run_totals")["state"]
            == "success"
            for run in runs[INGEST]
            if run["state"] == "success"
        )
        return True if took_files and any(run["state"] == "success" for run in runs[PUBLISH]) else None


def _environment(home: Path, metadata: str, warehouse: str, roots: dict[str, Path], port: int) -> dict[str, str]:
    """What docker-compose's x-airflow-common gives every container, for processes on this machine."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "_AIRFLOW", "MASHAGHEL_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    metadata_url = sa.make_url(metadata)

    def url(driver: str, base: sa.URL = metadata_url) -> str:
        return base.set(drivername=driver).render_as_string(hide_password=False)

    env = {
        **inherited,
        "PATH": f"{BIN}{os.pathsep}{inherited.get('PATH', '')}",  # Airflow starts sub-commands as `airflow`
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), inherited.get("PYTHONPATH")])),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url("postgresql+psycopg2"),
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + url("postgresql"),
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "etl.celery_config.CELERY_CONFIG",  # preloads pandas, GX
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),  # the same for every component
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),  # not 8793, which another Airflow may hold
        "AIRFLOW_CONN_WAREHOUSE": url("postgresql", sa.make_url(warehouse)),
        **{f"MASHAGHEL_{name.upper()}_ROOT": str(root) for name, root in roots.items()},
        "MASHAGHEL_SETTLE_SECONDS": "0",
        "MASHAGHEL_DISABLE_DEADLINES": "1",  # no triggerer here, as in the component list
        "MASHAGHEL_RETRY_DELAY_SECONDS": "2",
        "GX_ANALYTICS_ENABLED": "False",
    }
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        # Every task imports pandas and GX afresh; compiling them each time (no .pyc in the venv) costs
        # several seconds a task, so keep the bytecode for the cluster's lifetime, outside the venv.
        env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
    return env


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """A SIGTERM to pytest (a CI timeout) interrupts the test, so the cluster is still stopped."""

    def interrupt(signum: int, frame: object) -> NoReturn:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Migrated metadata, the four components healthy and both DAGs parsed; all stopped and dropped after."""
    require_postgres()
    require_redis()
    with contextlib.ExitStack() as cleanup:
        cleanup.enter_context(_sigterm_interrupts())
        metadata = create_postgres_database()
        cleanup.callback(drop_postgres_database, metadata)
        warehouse = create_postgres_database()
        cleanup.callback(drop_postgres_database, warehouse)
        flush_redis_db()
        cleanup.callback(flush_redis_db)
        home = tmp_path / "airflow"
        home.mkdir()
        roots = {name: tmp_path / name for name in ("ingest", "archive", "outbox")}
        port = free_port()
        cluster = Cluster(home, _environment(home, metadata, warehouse, roots, port), port, roots, warehouse)
        (home / "simple_auth_manager_passwords.json.generated").write_text(json.dumps({"admin": cluster.password}))
        started = time.monotonic()
        cluster.airflow("db", "migrate")
        cleanup.callback(cluster.stop)
        cluster.start()
        cluster.wait_until("healthy api-server, scheduler, dag-processor and worker", cluster.healthy, STARTUP_TIMEOUT)
        cluster.token = cluster.log_in()
        cluster.wait_until("parsed DAGs", cluster.dags_parsed, STARTUP_TIMEOUT)
        print(f"cluster up in {time.monotonic() - started:.0f} s")
        yield cluster


@pytest.mark.celery
@pytest.mark.postgres
@pytest.mark.slow
def test_the_sample_drop_goes_through_a_celery_cluster_to_the_true_views(cluster: Cluster) -> None:
    """Both DAGs on Celery, the publish run started by the asset; an extra scheduled ingest run is fine."""
    from etl.config import Settings
    from etl.sample import build_plan
    from tests.test_pipeline import assert_matches_truth, receipts

    plan = build_plan(persons=20)
    plan.write_batch(cluster.roots["ingest"], 1)
    for dag_id in (PUBLISH, INGEST):  # the consumer first: asset events are not replayed on unpause
        cluster.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
    cluster.call("POST", f"/api/v2/dags/{INGEST}/dagRuns", {"logical_date": None})
    started = time.monotonic()
    cluster.wait_until("successful ingest and publish runs", cluster.published, RUN_TIMEOUT, every=5.0)
    print(f"ingest and publish took {time.monotonic() - started:.0f} s on the cluster")

    truth = plan.truth(after_batch=1)
    outbox = cluster.roots["outbox"]
    settings = Settings(
        ingest_root=cluster.roots["ingest"],
        archive_root=cluster.roots["archive"],
        outbox_root=outbox,
        warehouse=cluster.warehouse,
    )
    assert_matches_truth(settings, truth)
    got = receipts(outbox)
    for relative, expected in truth["files"].items():
        assert relative in got, f"no receipt for {relative}"
        assert {key: got[relative][key] for key in expected} == expected, relative
    assert (outbox / "national" / "rules" / "index.html").exists()
