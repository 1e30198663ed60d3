"""A citizen corrects their e-mail address: the new address is used only once a link mailed to it is opened.

- :func:`request_change` (from the profile page, signed in) mails the NEW address a single-use link
  (a random token; the store keeps only its hash, with the registration link's TTL
  ``EMAIL_VERIFY_TTL``) and mails the OLD address a notice.  Until the link is opened nothing
  changes: the account, the sign-in by e-mail and the ``email``/``email_verified`` claims (OpenID
  Connect Core 5.1) keep the old, verified address, so ``email_verified`` is always true of ``email``.
- An address that another account already uses gets the same answer on the page and the same number
  of mails: the new address (whose owner is that other account) receives a notice that the address is
  in use, instead of a link.  No enumeration.
- :func:`confirm` (the link: a GET page with a button, then a POST, so mail scanners cannot use up
  the link) swaps the address in one transaction and audits it.  Only the newest link of an account
  works; a link stops working when the address changed meanwhile.

The audit trail holds ``email.change_requested`` and ``profile.updated`` (``fields=["email"]``)
events, never the addresses.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from idp import audit, mail, ratelimit
from idp.extensions import db, state
from idp.models import CitizenAccount, utcnow
from idp.people import notices
from idp.sources import citizen

KIND = "email-change"
# The newest request of an account (a random generation, not the token): older links stop working.
GENERATION = "email-change-gen"
REQUESTS_PER_HOUR = 3


class TooMany(Exception):
    """The person asked too often this hour (about their own account: no enumeration in saying so)."""



def _ttl() -> int:
    return int(state().config["EMAIL_VERIFY_TTL"])


def request_change(account: CitizenAccount, new_email: str) -> None:
    """Mail the link (or the "address in use" notice) to ``new_email`` and a notice to the current address.

    ``new_email`` is validated and normalised by the caller.  Raises :class:`TooMany` past the hourly
    limit, :class:`idp.mail.MailError` when a mail cannot be sent (the link is then withdrawn).
    """
    new_email = citizen.normalize_email(new_email)
    if not ratelimit.allow("email-change", account.public_id, REQUESTS_PER_HOUR, 3600):
        raise TooMany()
    store = state().store
    hours = max(1, _ttl() // 3600)
    owner = citizen.find_by_email(new_email)
    token = None
    try:
        if owner is not None and owner.id != account.id:
            # The address belongs to another account: tell its owner (the mailbox is theirs), link nothing.
            # At most a few such notices per owner and hour, whoever asks (the registration flow's limit).
            audit.record("email.change_refused", person_id=owner.person_id, reason="address_of_this_account")
            if ratelimit.allow("owner-notice", owner.public_id, citizen.OWNER_NOTICES_PER_HOUR, 3600):
                mail.send_template(new_email, "auth/mail/email_in_use.txt", name=owner.full_name,
                                   login_url=url_for("auth.login", _external=True))
        else:
            generation = secrets.token_urlsafe(16)
            token = secrets.token_urlsafe(32)
            store.put(GENERATION, account.public_id, generation, _ttl())
            store.put(KIND, token, {"account": account.public_id, "old": account.email, "new": new_email,
                                    "gen": generation}, _ttl())
            mail.send_template(new_email, "auth/mail/email_change.txt", name=account.full_name,
                               link=url_for("account.confirm_email", token=token, _external=True), hours=hours)
        if account.email:  # a phone-only account has no current address to tell
            mail.send_template(account.email, "auth/mail/email_change_notice.txt", name=account.full_name,
                               new_address=mail.mask_address(new_email), hours=hours,
                               password_url=url_for("account.password", _external=True))
    except mail.MailError:
        if token is not None:
            store.delete(KIND, token)
        raise
    # The same event whichever branch was taken (the person's own data download shows it).
    audit.record("email.change_requested", person_id=account.person_id, in_use=owner is not None)
    db.session.commit()


def peek(token: str) -> dict[str, Any] | None:
    """The pending change a link names, without using it up (the GET page)."""
    if not isinstance(token, str) or not token or len(token) > 128:
        return None
    value = state().store.get(KIND, token)
    return value if isinstance(value, dict) else None


def confirm(token: str) -> CitizenAccount | None:
    """Use the link (single use): the account's address becomes the new, verified one; None when invalid."""
    if not isinstance(token, str) or not token or len(token) > 128:
        return None
    store = state().store
    value = store.take(KIND, token)
    if not isinstance(value, dict):
        return None
    account = db.session.execute(
        select(CitizenAccount).where(CitizenAccount.public_id == value.get("account"))).scalar_one_or_none()
    if account is None or account.status != "active" or account.person.status != "active":
        return None
    if store.get(GENERATION, account.public_id) != value.get("gen") or account.email != value.get("old"):
        return None  # a newer request replaced this link, or the address changed meanwhile
    new_email = str(value.get("new") or "")
    taken = citizen.find_by_email(new_email)
    if not new_email or (taken is not None and taken.id != account.id):
        return None  # another account took the address after the request
    old_email = account.email
    account.email = new_email
    account.email_verified_at = utcnow()
    account.person.email = new_email
    account.person.email_verified = True
    audit.record("profile.updated", person_id=account.person_id, fields=["email"])
    try:
        db.session.commit()
    except IntegrityError:  # a registration with this address won a race
        db.session.rollback()
        return None
    store.delete(GENERATION, account.public_id)
    if old_email:
        notices.notify(account.person, notices.EMAIL, to_email=old_email)  # the replaced address is told
        db.session.commit()
    return account
