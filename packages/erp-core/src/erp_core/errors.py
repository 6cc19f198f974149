"""The errors erp-core raises.

    ErpError                      root of every error the ERP libraries raise
    ├── ConfigurationError        settings failed validation (one entry per variable)
    └── ProbeFailed               a health probe failed, with the short reason to report

Other packages derive their own trees from :class:`ErpError`, so a caller can
catch everything from the ERP libraries with one ``except``.
"""

from __future__ import annotations


class ErpError(Exception):
    """Root of the errors raised by the ERP libraries."""


class ConfigurationError(ErpError, ValueError):
    """The configuration is invalid; ``problems`` maps each environment variable to its reason.

    The message names variables by their environment name (``REDIS_PORT``), never by
    field name, and never contains the rejected value: a value may be a secret.
    """

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = dict(sorted(problems.items()))
        lines = "\n".join(f"  {name}: {reason}" for name, reason in self.problems.items())
        super().__init__(f"invalid configuration ({len(self.problems)} variable(s)):\n{lines}")


class ProbeFailed(ErpError):
    """Raised by a probe to fail with a chosen short reason instead of the exception's text."""
