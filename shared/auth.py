"""API keys per client with scopes, stored as SHA-256 hashes; `Authorization: Bearer <key>`."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from shared.errors import NotFound, Problem
from shared.settings import Settings

log = logging.getLogger(__name__)

# Scopes every service knows; each service declares its own in its ServiceSpec (`<service>:<action>`).
GENERIC_SCOPES = ("events:publish", "privacy:admin", "ops:admin")
SCOPE_PATTERN = re.compile(r"^[a-z][a-z-]*:[a-z][a-z-]*$")


CUSTOMER_HEADER = "X-Customer-Id"
CUSTOMER_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")  # a customer id as the events carry it


@dataclass(frozen=True, slots=True)
class Client:
    """Who calls. A customer-facing client (the booking website and mobile app backends) acts for the
    signed-in customer it names in X-Customer-Id on every request, and reaches only that customer's
    resources; staff clients act for nobody and reach what their scopes allow."""

    name: str
    scopes: frozenset[str]
    every_scope: bool = False  # the development key of embedded mode
    customer_facing: bool = False
    acting_for: str | None = None  # the signed-in customer of this request (customer-facing clients)

    def holds(self, scope: str) -> bool:
        return self.every_scope or scope in self.scopes

    def reaches(self, customer_id: str | None) -> bool:
        """Whether this client may see or change a resource of `customer_id`."""
        return not self.customer_facing or (customer_id is not None and customer_id == self.acting_for)

    def ensure_reaches(self, customer_id: str | None, what: str, ident: object) -> None:
        """A resource of another customer is a 404 for a customer-facing client (a 403 would confirm it exists)."""
        if not self.reaches(customer_id):
            raise NotFound(what, ident)

    def for_customer(self, customer_id: str | None) -> str | None:
        """The customer a list is limited to: the signed-in one for a customer-facing client, else the filter given."""
        return self.acting_for if self.customer_facing else customer_id


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "tcrm_" + secrets.token_urlsafe(32)


class KeyStore:
    """Hash → client. Keys come from a JSON file or TOURCRM_API_KEYS; development adds its own key."""

    def __init__(self, clients: dict[str, Client] | None = None) -> None:
        self._by_hash: dict[str, Client] = dict(clients or {})

    def add(self, key_hash: str, client: Client) -> None:
        malformed = {scope for scope in client.scopes if not SCOPE_PATTERN.match(scope)}
        if malformed:
            raise ValueError(f"client {client.name}: malformed scopes {sorted(malformed)} (want service:action)")
        self._by_hash[key_hash] = client

    def find(self, key: str) -> Client | None:
        # A lookup by the key's SHA-256: what is compared is a hash of the secret, not the secret.
        return self._by_hash.get(hash_key(key))

    def load(self, text: str) -> None:
        """Entries: [{"client": "booking-web", "key_sha256": "…", "scopes": ["profile:read", …],
        "customer_facing": true}, …] (customer_facing: the client acts for the customer in X-Customer-Id)."""
        for entry in json.loads(text):
            if "key" in entry:
                raise ValueError(f"client {entry.get('client')}: store key_sha256, never the key itself")
            self.add(entry["key_sha256"].lower(), Client(entry["client"], frozenset(entry["scopes"]),
                                                          customer_facing=bool(entry.get("customer_facing", False))))

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyStore:
        store = cls()
        if settings.api_keys_file:
            store.load(Path(settings.api_keys_file).read_text())
        if settings.api_keys:
            store.load(settings.api_keys)
        if settings.environment == "development":
            store.add(hash_key(dev_key(settings.var_dir)), Client("development", frozenset(), every_scope=True))
        return store


def dev_key(var_dir: Path) -> str:
    """The all-scopes development key, kept alone on one line in var/dev-api-key and reused."""
    path = var_dir / "dev-api-key"
    if path.exists() and (key := path.read_text().strip()):
        return key
    var_dir.mkdir(parents=True, exist_ok=True)
    key = new_key()
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def require(*scopes: str, customers: bool = False):  # noqa: ANN201 - a FastAPI dependency
    """Dependency: the calling client, which must hold one of `scopes` (401 without a valid key, 403 without).

    Customer-facing clients reach only routes that serve customers (`customers=True`; other routes are
    for staff: 403), must name the signed-in customer (400 without X-Customer-Id), and a `{customer_id}`
    in the path must be that customer (404 otherwise). Routes that address a customer's resource by its
    own id (a complaint, a redemption) check its owner with `client.ensure_reaches`.
    """
    malformed = [scope for scope in scopes if not SCOPE_PATTERN.match(scope)]
    if not scopes or malformed:
        raise ValueError(f"malformed scopes {malformed!r} (want service:action)")
    named = scopes[0] if len(scopes) == 1 else list(scopes)

    async def dependency(request: Request) -> Client:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Problem(401, "an API key is required: Authorization: Bearer <key>", headers={"WWW-Authenticate": "Bearer"})
        client = request.app.state.keys.find(key.strip())
        if client is None:
            raise Problem(401, "the API key is not valid", headers={"WWW-Authenticate": "Bearer"})
        if not any(client.holds(scope) for scope in scopes):
            raise Problem(403, f"this key lacks the scope {' or '.join(scopes)}", required_scope=named)
        if client.customer_facing:
            if not customers:
                raise Problem(403, "this operation is for staff; a customer-facing key cannot use it",
                              required_scope=named)
            client = replace(client, acting_for=_signed_in_customer(request))
            client.ensure_reaches(request.path_params.get("customer_id", client.acting_for), "customer",
                                  request.path_params.get("customer_id"))
        request.state.client = client
        return client

    dependency.scope = scopes[0]  # type: ignore[attr-defined] - lets tests list every route's scope
    dependency.customers = customers  # type: ignore[attr-defined]
    return dependency


def _signed_in_customer(request: Request) -> str:
    customer_id = request.headers.get(CUSTOMER_HEADER, "").strip()
    if not CUSTOMER_ID.match(customer_id):
        raise Problem(400, f"a customer-facing key must name the signed-in customer in {CUSTOMER_HEADER}",
                      title="Bad Request",
                      errors=[{"field": CUSTOMER_HEADER, "location": "header", "message": "missing or malformed"}])
    return customer_id


def Scope(*scopes: str, customers: bool = False):  # noqa: N802, ANN201 - reads as a type: `client: Scope("loyalty:read")`
    """`client: Scope("loyalty:read")` authorises a staff route; `Scope("loyalty:read", customers=True)` one that
    also serves customer-facing clients acting for their signed-in customer; several scopes: any of them."""
    return Annotated[Client, Depends(require(*scopes, customers=customers))]
