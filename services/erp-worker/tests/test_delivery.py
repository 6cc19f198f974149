"""The outbox to the mail, with a real worker, PostgreSQL and SMTP server (docs/contract.md §14)."""

from __future__ import annotations

import logging

import pytest
from procrastinate import App
from prometheus_client import generate_latest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from erp_core import RequestIdFilter
from erp_worker import INVITATION_MAIL_JOB, list_failed_jobs, retry_failed_job
from erp_worker.job_logging import JobIdFilter

from .conftest import MailHandler, RunWorker, eventually, invite, outbox_row

Sessions = async_sessionmaker[AsyncSession]


async def test_a_job_committed_while_no_worker_runs_is_mailed_once_it_starts(
    smtp: tuple[MailHandler, int], sessionmaker: Sessions, start_worker: RunWorker
) -> None:
    handler, port = smtp
    outbox_id, email, token = await invite(sessionmaker)
    await start_worker(port)

    async def completed() -> bool:
        return (await outbox_row(sessionmaker, outbox_id)).completed_at is not None

    await eventually(completed, what="the outbox row completed")
    [message] = handler.to(email)
    assert message["From"] == "erp@example.org"
    assert f"https://erp.example.org/accept?token={token}" in message.get_payload(decode=True).decode()
    row = await outbox_row(sessionmaker, outbox_id)
    assert "token" not in row.payload  # erased once the mail is sent
    assert row.payload["email"] == email


async def test_a_rolled_back_request_asks_for_nothing(
    smtp: tuple[MailHandler, int], sessionmaker: Sessions, start_worker: RunWorker
) -> None:
    handler, port = smtp
    _, rolled_back_email, _ = await invite(sessionmaker, commit=False)
    marker_id, marker_email, _ = await invite(sessionmaker)
    await start_worker(port)

    async def marker_sent() -> bool:
        return (await outbox_row(sessionmaker, marker_id)).completed_at is not None

    # The marker was committed after the rolled-back job: once it is out, the other had its chance.
    await eventually(marker_sent, what="the committed job completed")
    assert len(handler.to(marker_email)) == 1
    assert handler.to(rolled_back_email) == []


async def test_a_second_delivery_of_the_same_job_sends_no_second_mail(
    smtp: tuple[MailHandler, int], sessionmaker: Sessions, start_worker: RunWorker, queue_app: App
) -> None:
    handler, port = smtp
    outbox_id, email, _ = await invite(sessionmaker)
    # The same outbox row deferred twice more by hand, as a relay that crashed twice would.
    for _ in range(2):
        await queue_app.configure_task(INVITATION_MAIL_JOB).defer_async(outbox_id=str(outbox_id))
    await start_worker(port)

    async def all_three_ran() -> bool:
        jobs = await queue_app.job_manager.list_jobs_async(task=INVITATION_MAIL_JOB)
        mine = [job for job in jobs if job.task_kwargs.get("outbox_id") == str(outbox_id)]
        # Succeeded jobs are deleted: none left waiting or running, and the row is done. The relay's
        # job counts too: it may come after the two by hand, and it is deferred before the row is
        # marked relayed.
        row = await outbox_row(sessionmaker, outbox_id)
        return not mine and row.completed_at is not None and row.relayed_at is not None

    await eventually(all_three_ran, what="every delivery of the job ran")
    assert len(handler.to(email)) == 1


async def test_a_failing_mail_is_retried_then_kept_failed_without_its_token(
    smtp: tuple[MailHandler, int],
    sessionmaker: Sessions,
    start_worker: RunWorker,
    queue_app: App,
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler, port = smtp
    handler.refuse = "550 5.7.1 mailbox unavailable"
    caplog.set_level(logging.DEBUG)
    caplog.handler.addFilter(RequestIdFilter())
    caplog.handler.addFilter(JobIdFilter())
    outbox_id, email, token = await invite(sessionmaker, request_id="req-failing-mail")
    metrics = await start_worker(port, job_max_attempts=3)

    async def failed() -> bool:
        return (await outbox_row(sessionmaker, outbox_id)).failed_at is not None

    await eventually(failed, what="the outbox row failed")
    row = await outbox_row(sessionmaker, outbox_id)
    assert row.attempts == 3
    assert row.last_error == "SMTP server refused the mail (SMTPDataError, code 550)"
    [failed_job] = [
        job for job in await list_failed_jobs(queue_app, sessionmaker) if job.outbox_id == str(outbox_id)
    ]
    assert (failed_job.job, failed_job.last_error) == (INVITATION_MAIL_JOB, row.last_error)
    assert handler.to(email) == []
    # The token is nowhere but the payload, which keeps it for a retry.
    assert token not in caplog.text
    assert all(token not in str(vars(record)) for record in caplog.records)
    assert token not in generate_latest(metrics.registry).decode()
    assert row.payload["token"] == token
    # The job's lines carry its id and the request that asked for it.
    [final] = [r for r in caplog.records if r.getMessage() == "outbox job failed" and r.__dict__.get("final")]
    assert final.__dict__["request_id"] == "req-failing-mail"
    assert final.__dict__["job_id"] == str(failed_job.id)
    failures = metrics.jobs_total.labels(INVITATION_MAIL_JOB, "failed")._value.get()
    retries = metrics.jobs_total.labels(INVITATION_MAIL_JOB, "retried")._value.get()
    assert (failures, retries) == (1, 2)

    handler.refuse = None
    assert await retry_failed_job(queue_app, sessionmaker, failed_job.id)

    async def completed() -> bool:
        return (await outbox_row(sessionmaker, outbox_id)).completed_at is not None

    await eventually(completed, what="the retried job completed")
    assert len(handler.to(email)) == 1
    assert not await retry_failed_job(queue_app, sessionmaker, failed_job.id)


async def test_without_smtp_host_mail_jobs_stay_pending_with_one_warning(
    sessionmaker: Sessions, start_worker: RunWorker, queue_app: App, caplog: pytest.LogCaptureFixture
) -> None:
    outbox_id, _, _ = await invite(sessionmaker)
    await start_worker(None)

    async def relayed() -> bool:
        return (await outbox_row(sessionmaker, outbox_id)).relayed_at is not None

    await eventually(relayed, what="the job relayed to the queue")
    jobs = await queue_app.job_manager.list_jobs_async(task=INVITATION_MAIL_JOB, status="todo")
    assert [job for job in jobs if job.task_kwargs.get("outbox_id") == str(outbox_id)]
    warnings = [r for r in caplog.records if "SMTP_HOST is not set" in r.getMessage()]
    assert len(warnings) == 1
    assert (await outbox_row(sessionmaker, outbox_id)).completed_at is None
