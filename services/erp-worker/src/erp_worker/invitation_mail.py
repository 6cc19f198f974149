"""The invitation mail (docs/contract.md §14): one message per invitation, over SMTP with aiosmtplib.

The payload is the outbox row's: ``email``, ``token`` and ``invitation_id``.
The token appears in the message body only; every error raised from here is
a :class:`~erp_worker.errors.JobFailed` in this module's own words (the SMTP
reply code at most), so neither a log line nor the stored ``last_error`` can
carry it. The ``Message-ID`` is derived from the invitation, so if a crash
between the send and the commit ever makes the job run twice, the two copies
are recognisably one message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from email.mime.text import MIMEText
from typing import Any

import aiosmtplib

from erp_worker.errors import JobFailed
from erp_worker.settings import TOKEN_PLACEHOLDER

logger = logging.getLogger(__name__)

SUBJECT = "You are invited to an organisation"


@dataclass(slots=True)
class InvitationMailer:
    """Where and how invitation mails go: the SMTP server, the sender, the link template.

    Keeps up to ``keep_connections`` SMTP connections open between mails
    (one per concurrent job is enough); one event loop only.
    """

    host: str
    port: int
    mail_from: str
    url_template: str
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    timeout_s: float = 30.0
    keep_connections: int = 4
    _idle: list[aiosmtplib.SMTP] = field(default_factory=list, init=False, repr=False)

    def __repr__(self) -> str:
        return f"InvitationMailer(host={self.host!r}, port={self.port})"

    def message(self, payload: dict[str, Any]) -> MIMEText:
        """The mail for one outbox payload; raises JobFailed when the payload lacks a field."""
        try:
            email, token, invitation_id = payload["email"], payload["token"], payload["invitation_id"]
        except KeyError as exc:
            raise JobFailed(f"invitation payload lacks {exc.args[0]!r}") from None
        domain = self.mail_from.rpartition("@")[2]
        link = self.url_template.replace(TOKEN_PLACEHOLDER, token)
        # compat32 MIMEText rather than EmailMessage: the default policy's header objects
        # cost a third of a delivery's CPU (cProfile under nox -s bench), for plain ASCII headers.
        message = MIMEText(
            "You have been invited to join an organisation.\n\n"
            f"Accept the invitation within 7 days at:\n{link}\n\n"
            "If you did not expect this mail, ignore it.\n",
            "plain",
            "utf-8",
        )
        message["From"] = self.mail_from
        message["To"] = email
        message["Subject"] = SUBJECT
        message["Message-ID"] = f"<invitation-{invitation_id}@{domain}>"
        return message

    async def send(self, payload: dict[str, Any]) -> None:
        """Deliver the invitation of ``payload``; raises JobFailed, never the SMTP library's error."""
        message = self.message(payload)
        try:
            await self._send(message, message["To"])
        except aiosmtplib.SMTPResponseException as exc:
            raise JobFailed(f"SMTP server refused the mail ({type(exc).__name__}, code {exc.code})") from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise JobFailed(f"SMTP delivery failed ({type(exc).__name__})") from None

    async def _send(self, message: MIMEText, recipient: str) -> None:
        """Send over a connection kept from an earlier mail, else a new one; keep it for the next.

        A new connection per mail (connect, EHLO, STARTTLS, AUTH, QUIT) was most
        of a delivery's SMTP cost. A kept connection the server has closed
        meanwhile fails at its first command, before any mail was accepted,
        so that one failure is retried once on a new connection. The envelope
        is given rather than parsed back out of the headers by aiosmtplib (a
        twentieth of a delivery's CPU): MAIL_FROM is a bare address (its
        setting's pattern), and so is the invited one.
        """
        client = self._idle.pop() if self._idle else None
        if client is not None and client.is_connected:
            try:
                await client.send_message(message, sender=self.mail_from, recipients=[recipient])
            except aiosmtplib.SMTPServerDisconnected:
                client.close()
            except BaseException:
                client.close()
                raise
            else:
                self._keep(client)
                return
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            start_tls=self.starttls,
            timeout=self.timeout_s,
        )
        try:
            await client.connect()
            await client.send_message(message, sender=self.mail_from, recipients=[recipient])
        except BaseException:
            client.close()
            raise
        self._keep(client)

    def _keep(self, client: aiosmtplib.SMTP) -> None:
        if len(self._idle) < self.keep_connections:
            self._idle.append(client)
        else:
            client.close()

    def close(self) -> None:
        """Drop the kept connections (at shutdown; the server sees them end)."""
        while self._idle:
            self._idle.pop().close()
