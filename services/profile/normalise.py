"""Normalising contact data so that the same phone or email always finds the same customer."""

from __future__ import annotations

import difflib
import unicodedata

import phonenumbers
from email_validator import EmailNotValidError, validate_email


class InvalidContact(ValueError):
    """A phone or email that cannot be normalised; the message never repeats the value."""


def phone(raw: str, region: str = "CN") -> str:
    """E.164 form of a phone number; Chinese numbers may come with or without +86 / 0086, spaces, dashes."""
    text = unicodedata.normalize("NFKC", raw or "").strip()
    if not text:
        raise InvalidContact("empty phone number")
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidContact("not a phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidContact("not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def email(raw: str) -> str:
    """A syntactically valid email, case-folded (no deliverability check: no network on the write path)."""
    text = unicodedata.normalize("NFKC", raw or "").strip()
    try:
        valid = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidContact("not a valid email address") from exc
    return valid.normalized.casefold()


def name_key(name: str | None) -> str:
    """A name for comparison: NFKC, no spaces or middle dots, case-folded (Chinese names stay whole)."""
    if not name:
        return ""
    text = unicodedata.normalize("NFKC", name)
    return "".join(ch for ch in text if not ch.isspace() and ch not in "·・.-").casefold()


def similar_names(a: str | None, b: str | None, threshold: float = 0.8) -> bool:
    ka, kb = name_key(a), name_key(b)
    if not ka or not kb:
        return False
    return ka == kb or difflib.SequenceMatcher(None, ka, kb).ratio() >= threshold
