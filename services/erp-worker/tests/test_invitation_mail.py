"""The invitation mail itself: addressed, signed and linked as configured; errors in our words."""

from __future__ import annotations

import time

import pytest

from erp_worker import InvitationMailer, JobFailed

from .conftest import MailHandler, free_port

PAYLOAD = {"invitation_id": "0b9e", "email": "ann@example.org", "token": "tok-secret-123"}


def mailer(port: int) -> InvitationMailer:
    return InvitationMailer(
        host="127.0.0.1", port=port, mail_from="erp@example.org", starttls=False,
        url_template="https://erp.example.org/accept?token={token}",
    )  # fmt: skip


async def test_the_mail_reaches_the_invited_address_with_the_link(smtp: tuple[MailHandler, int]) -> None:
    handler, port = smtp
    await mailer(port).send(PAYLOAD)
    [message] = handler.to("ann@example.org")
    assert message["From"] == "erp@example.org"
    assert message["Message-ID"] == "<invitation-0b9e@example.org>"
    assert "https://erp.example.org/accept?token=tok-secret-123" in message.get_payload(decode=True).decode()


async def test_mails_share_one_connection_and_a_broken_one_is_replaced(smtp: tuple[MailHandler, int]) -> None:
    handler, port = smtp
    sender = mailer(port)
    for number in range(3):
        await sender.send({**PAYLOAD, "email": f"n{number}@example.org"})
    assert len(handler.messages) == 3
    assert len(set(handler.sessions)) == 1
    # The kept connection breaks between two mails: the next one goes over a new connection.
    [kept] = sender._idle
    assert kept.transport is not None
    kept.transport.abort()
    await sender.send({**PAYLOAD, "email": "after@example.org"})
    assert len(handler.to("after@example.org")) == 1
    assert len(set(handler.sessions)) == 2
    sender.close()
    assert sender._idle == []


async def test_a_server_that_stops_answering_fails_the_mail_within_its_timeout(
    smtp: tuple[MailHandler, int],
) -> None:
    """The wait for the server's answer is bounded, and the connection it cut short is not kept."""
    handler, port = smtp
    sender = mailer(port)
    sender.timeout_s = 0.5
    handler.hold_for = "ann@example.org"  # the server sits on the DATA of this mail
    started = time.monotonic()
    with pytest.raises(JobFailed, match=r"SMTP delivery failed \(SMTPReadTimeoutError\)"):
        await sender.send(PAYLOAD)
    assert time.monotonic() - started < 5
    assert handler.holding.is_set()
    assert sender._idle == []
    handler.release.set()


async def test_an_unreachable_server_fails_without_the_token() -> None:
    with pytest.raises(JobFailed) as caught:
        await mailer(free_port()).send(PAYLOAD)
    assert "tok-secret" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_a_payload_without_its_fields_fails_by_name() -> None:
    with pytest.raises(JobFailed, match="'token'"):
        mailer(25).message({"invitation_id": "1", "email": "a@example.org"})
