"""Creating an invitation records its mail job in the outbox, in the same transaction (contract §14).

erp-worker delivers it (services/erp-worker/tests); here: what the API writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from erp_api_testing.organizations import API, Caller, OrganizationsApi
from erp_db import OutboxJob

MakeCaller = Callable[..., Awaitable[Caller]]


async def test_an_invitation_records_one_mail_job_with_the_request_id(
    api: OrganizationsApi, make_caller: MakeCaller, db_session: AsyncSession
) -> None:
    owner = await make_caller()
    organization = await api.create_organization(owner)
    request_id = f"req-{uuid.uuid4().hex}"
    answer = await api.client.post(
        f"{API}/organizations/{organization['id']}/invitations",
        json={"email": "mail-me@example.org", "role": "admin"},
        headers={**owner.headers, "X-Request-ID": request_id},
    )
    assert answer.status_code == 201, answer.text
    created = answer.json()

    [job] = (
        await db_session.scalars(
            select(OutboxJob).where(OutboxJob.idempotency_key == f"invitation.mail:{created['id']}")
        )
    ).all()
    assert job.job == "invitation.mail"
    assert job.payload == {
        "invitation_id": created["id"],
        "email": "mail-me@example.org",
        "token": created["token"],
    }
    assert job.request_id == request_id
    assert (job.relayed_at, job.completed_at) == (None, None)
    # The token waits in the outbox for the worker, and nowhere else: not in the audit log.
    audit = (await db_session.execute(text("SELECT changes::text FROM audit_events"))).scalars().all()
    assert not any(created["token"] in changes for changes in audit)


async def test_a_refused_invitation_records_no_job(
    api: OrganizationsApi, make_caller: MakeCaller, db_session: AsyncSession
) -> None:
    owner, member = await make_caller(), await make_caller()
    organization = await api.create_organization(owner)
    await api.add_member(organization["id"], owner, member)
    refused = await api.client.post(
        f"{API}/organizations/{organization['id']}/invitations",
        json={"email": "nobody-mailed@example.org"},
        headers=member.headers,
    )
    assert refused.status_code == 403
    payloads = (await db_session.scalars(select(OutboxJob.payload))).all()
    assert not any(payload.get("email") == "nobody-mailed@example.org" for payload in payloads)
