"""WorkerSettings: the variables of docs/contract.md §2 for erp-worker, every bad one named at once."""

from __future__ import annotations

import pytest

from erp_core import ConfigurationError
from erp_worker import WorkerSettings

URL = "postgresql://u:pw@127.0.0.1/db"


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> WorkerSettings:
    monkeypatch.setenv("DATABASE_URL", URL)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return WorkerSettings(_env_file=None)


def test_defaults_follow_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch)
    assert settings.smtp_host is None
    assert (settings.smtp_port, settings.smtp_starttls, settings.mail_from) == (
        587,
        True,
        "no-reply@localhost",
    )
    assert settings.invitation_url_template == "http://localhost:8000/invitations/accept?token={token}"
    assert (settings.job_max_attempts, settings.purge_interval_s, settings.purge_retention_s) == (
        8,
        3600,
        604800,
    )
    assert (settings.worker_concurrency, settings.worker_health_port, settings.metrics_port) == (
        4,
        8001,
        9464,
    )
    assert settings.app_name == "erp-worker"


@pytest.mark.parametrize(
    "template",
    [
        "https://erp.example.org/accept",
        "https://x/{token}/{token}",
        "ftp://x/{token}",
        "https://x/{other}?t={token}",
    ],
)
def test_a_template_without_exactly_one_token_is_a_startup_error(
    monkeypatch: pytest.MonkeyPatch, template: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load(monkeypatch, INVITATION_URL_TEMPLATE=template)
    assert list(caught.value.problems) == ["INVITATION_URL_TEMPLATE"]


def test_every_bad_variable_is_named_without_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load(
            monkeypatch, SMTP_PORT="x", JOB_MAX_ATTEMPTS="0", WORKER_CONCURRENCY="-1", MAIL_FROM="nobody",
            SMTP_PASSWORD="", PURGE_INTERVAL_S="soon", WORKER_HEALTH_PORT="70000",
        )  # fmt: skip
    assert set(caught.value.problems) == {
        "SMTP_PORT", "JOB_MAX_ATTEMPTS", "WORKER_CONCURRENCY", "MAIL_FROM",
        "PURGE_INTERVAL_S", "WORKER_HEALTH_PORT",
    }  # fmt: skip


def test_the_smtp_password_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch, SMTP_HOST="mail", SMTP_PASSWORD="hunter2-secret")
    assert "hunter2-secret" not in repr(settings)


def test_a_kubernetes_service_link_leaves_the_default_port(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch, SMTP_PORT="tcp://10.0.0.3:25", WORKER_HEALTH_PORT="tcp://10.0.0.4:8001")
    assert (settings.smtp_port, settings.worker_health_port) == (587, 8001)
