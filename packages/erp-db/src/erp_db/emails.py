"""The one canonical form of an email address, computed in Python only (docs/contract.md §9).

Every place that compares emails compares this form: the unique index of
``users``, the login lookup, the login throttle's key and the acceptance of
an invitation. It is stored beside the address as typed (``email_canonical``)
and never computed by the database: PostgreSQL's ``lower()`` and Python's
disagree on characters such as U+0130 (capital I with a dot), and two spellings that one
side merges and the other keeps apart were a way around the throttle and
into another's invitation.

The form is Unicode's NFKC, case-folded, NFKC again (the "NFKC_Casefold" of
UAX #31, as ``str.casefold`` implements full case folding): ``Ann@X.org``,
``ANN@x.ORG`` and a full-width ``\uff21nn@x.org`` are one address. Look-alike
characters (a Cyrillic ``\u0430``, a dotless ``\u0131``, an ``\u0130``)
are *not* merged: they are other addresses, as a mail server sees them, so
``b\u0130ll@x.org`` is neither ``bill@x.org``'s account nor its invitations.
"""

from __future__ import annotations

import unicodedata


def canonical_email(address: str) -> str:
    """``address`` in the form that every comparison of emails uses."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", address).casefold())
