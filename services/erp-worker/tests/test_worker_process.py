"""``erp-worker`` as deployed: a killed worker's job runs again, SIGTERM drains, the jobs commands."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from procrastinate import App
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from erp_worker import INVITATION_MAIL_JOB

from .conftest import MailHandler, RunWorker, WorkerProcess, eventually, free_port, invite, outbox_row

Sessions = async_sessionmaker[AsyncSession]
StartProcess = Callable[[dict[str, str]], WorkerProcess]


async def held(handler: MailHandler) -> bool:
    return handler.holding.is_set()


async def test_a_worker_killed_mid_job_leaves_it_to_another_and_one_mail_goes_out(
    smtp: tuple[MailHandler, int],
    sessionmaker: Sessions,
    worker_env: Callable[..., dict[str, str]],
    worker_processes: StartProcess,
    start_worker: RunWorker,
) -> None:
    handler, port = smtp
    handler.refuse_after_hold = True  # the killed worker's conversation never completes
    outbox_id, email, _ = await invite(sessionmaker)
    handler.hold_for = email
    doomed = worker_processes(worker_env(port))
    await eventually(lambda: held(handler), what="the first worker in the middle of the mail")
    doomed.kill()
    handler.release.set()
    # A second worker sees the first one's heartbeat stop and runs the job again.
    await start_worker(port)

    async def completed() -> bool:
        return (await outbox_row(sessionmaker, outbox_id)).completed_at is not None

    await eventually(completed, what="the job completed by the second worker")
    assert len(handler.to(email)) == 1


async def test_sigterm_lets_the_running_job_finish_then_exits_0(
    smtp: tuple[MailHandler, int],
    sessionmaker: Sessions,
    worker_env: Callable[..., dict[str, str]],
    worker_processes: StartProcess,
) -> None:
    handler, port = smtp
    outbox_id, email, token = await invite(sessionmaker, request_id="req-sigterm")
    handler.hold_for = email
    worker = worker_processes(worker_env(port))
    await eventually(lambda: held(handler), what="the worker in the middle of the mail")
    worker.process.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.2)  # not a measurement: gives the signal time to arrive before the release
    handler.release.set()
    status, output = await asyncio.to_thread(worker.wait)
    assert status == 0, output
    assert len(handler.to(email)) == 1
    assert (await outbox_row(sessionmaker, outbox_id)).completed_at is not None
    # JSON lines; the job's carry its id and its request's; the token is in none.
    assert token not in output
    done = [line for line in output.splitlines() if '"outbox job done"' in line]
    assert len(done) == 1
    line = json.loads(done[0])
    assert line["request_id"] == "req-sigterm"
    assert line["job_id"].isdigit()


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(WorkerProcess.command), *args], env={"PATH": "", **env}, cwd=cwd,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


async def test_jobs_failed_lists_and_jobs_retry_requeues(
    smtp: tuple[MailHandler, int],
    sessionmaker: Sessions,
    start_worker: RunWorker,
    worker_env: Callable[..., dict[str, str]],
    queue_app: App,
    tmp_path: Path,
) -> None:
    handler, port = smtp
    handler.refuse = "554 5.7.1 no"
    outbox_id, email, token = await invite(sessionmaker)
    await start_worker(port, job_max_attempts=1)

    async def failed() -> bool:
        return (await outbox_row(sessionmaker, outbox_id)).failed_at is not None

    await eventually(failed, what="the job kept as failed")
    listing = await asyncio.to_thread(run_cli, "jobs", "failed", env=worker_env(), cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    [line] = [line for line in listing.stdout.splitlines() if str(outbox_id) in line]
    job_id, job, _attempts, _outbox, error = line.split("\t")
    assert (job, error) == (INVITATION_MAIL_JOB, "SMTP server refused the mail (SMTPDataError, code 554)")
    assert token not in listing.stdout + listing.stderr

    handler.refuse = None
    retried = await asyncio.to_thread(run_cli, "jobs", "retry", job_id, env=worker_env(), cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr

    async def completed() -> bool:
        return (await outbox_row(sessionmaker, outbox_id)).completed_at is not None

    await eventually(completed, what="the retried job completed")
    assert len(handler.to(email)) == 1
    unknown = await asyncio.to_thread(run_cli, "jobs", "retry", job_id, env=worker_env(), cwd=tmp_path)
    assert unknown.returncode == 1
    assert f"no failed job with id {job_id}" in unknown.stderr


def test_an_unreachable_database_stops_the_start_with_a_message(tmp_path: Path) -> None:
    closed = free_port()
    env = {"DATABASE_URL": f"postgresql://u:pw-secret@127.0.0.1:{closed}/db", "METRICS_PORT": "0"}
    for args in (("run",), ("jobs", "failed")):
        result = run_cli(*args, env=env, cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        assert "queue schema" in result.stderr
        assert "Traceback" not in result.stderr
        assert "pw-secret" not in result.stderr + result.stdout


def test_bad_settings_stop_the_command_naming_each_variable(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": "postgresql://u:pw-secret@127.0.0.1/db",
        "INVITATION_URL_TEMPLATE": "https://erp.example.org/accept",
        "SMTP_PORT": "many",
    }
    result = run_cli("run", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "INVITATION_URL_TEMPLATE" in result.stderr
    assert "SMTP_PORT" in result.stderr
    assert "pw-secret" not in result.stderr
