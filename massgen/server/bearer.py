"""Bearer JWTs beside API keys: :class:`JWTVerifier` checks a token's signature (an HS256
secret, an RSA/EC/Ed25519 public key, or the keys of a JWKS URL), its ``exp`` and ``nbf``,
its audience and issuer, and names its owner from ``sub`` (docs/architecture.md, "The
server"). A token is never logged nor echoed: a refusal says only what was wrong with it.

A JWKS is fetched at start and again every :data:`JWKS_REFRESH` seconds (and soon after a
token names a key it does not hold) in a thread, so a request never waits on the network."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt

log = logging.getLogger("massgen.server")

#: The HMAC secret's shortest length (RFC 7518 3.2: a key as long as the hash, 32 bytes).
MIN_SECRET_BYTES = 32
#: Seconds between fetches of a JWKS; and the least time between fetches a token can cause.
JWKS_REFRESH = 300.0
JWKS_COOLDOWN = 10.0
#: Clock skew allowed on ``exp`` and ``nbf``, in seconds.
LEEWAY = 30.0
_ASYMMETRIC = {
    "RSA": ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
    "EC": ["ES256", "ES384", "ES512"],
    "OKP": ["EdDSA"],
}


class TokenRejected(Exception):
    """Why a bearer token was refused (one line, never the token)."""


def owner_of_subject(issuer: str, subject: str) -> str:
    """The store owner of a token's ``iss`` and ``sub`` (a digest, apart from API keys')."""
    return hashlib.sha256(f"jwt\0{issuer}\0{subject}".encode()).hexdigest()[:32]


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def _public_key(text: str) -> tuple[Any, list[str]]:
    """A PEM public key (its text, or a path to it) and the algorithms it verifies."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    pem = text.strip()
    if not pem.startswith("-----BEGIN"):
        try:
            pem = Path(pem).expanduser().read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"--jwt-public-key: cannot read {text!r}: {exc}") from None
    try:
        key = load_pem_public_key(pem.encode())
    except ValueError:
        raise ValueError("--jwt-public-key: not a PEM public key") from None
    if isinstance(key, rsa.RSAPublicKey):
        return key, _ASYMMETRIC["RSA"]
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key, _ASYMMETRIC["EC"]
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key, _ASYMMETRIC["OKP"]
    raise ValueError("--jwt-public-key: an RSA, EC or Ed25519 public key is needed")


def _check_jwks_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    loopback = host == "localhost"
    with contextlib.suppress(ValueError):
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    if parts.scheme == "https" or (parts.scheme == "http" and loopback):
        return url
    raise ValueError("--jwt-jwks-url: an https:// URL (http:// only on this host) is needed")


@dataclass(frozen=True)
class JWTSettings:
    """What the operator configured (see ``massgen serve --help``); exactly one of
    ``secret``, ``public_key``, ``jwks_url``."""

    secret: str | None = None
    public_key: str | None = None
    jwks_url: str | None = None
    audience: str | None = None
    issuer: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.secret or self.public_key or self.jwks_url)


def verifier_for(settings: JWTSettings) -> JWTVerifier | None:
    """The verifier of ``settings`` (None when no JWT is accepted); ``ValueError`` names a
    setting that is wrong or alone."""
    if settings.enabled:
        return JWTVerifier(settings)
    if settings.audience or settings.issuer:
        raise ValueError(
            "--jwt-audience and --jwt-issuer need one of --jwt-secret, --jwt-public-key, "
            "--jwt-jwks-url"
        )
    return None


class JWTVerifier:
    """See module. Raises ``ValueError`` (one line naming the option) for bad settings."""

    def __init__(self, settings: JWTSettings) -> None:
        given = [s for s in (settings.secret, settings.public_key, settings.jwks_url) if s]
        if len(given) != 1:
            raise ValueError("use exactly one of --jwt-secret, --jwt-public-key, --jwt-jwks-url")
        self.settings = settings
        self.key: Any = None
        self.algorithms: list[str] = []
        self.jwks: jwt.PyJWKClient | None = None
        self.jwk_set: jwt.PyJWKSet | None = None
        self.fetched_at = 0.0
        self.refresh_wanted = False
        if settings.secret:
            if len(settings.secret.encode()) < MIN_SECRET_BYTES:
                raise ValueError(
                    f"--jwt-secret: at least {MIN_SECRET_BYTES} bytes are needed "
                    "(openssl rand -base64 32)"
                )
            self.key, self.algorithms = settings.secret, ["HS256"]
        elif settings.public_key:
            self.key, self.algorithms = _public_key(settings.public_key)
        else:
            url = _check_jwks_url(str(settings.jwks_url))
            self.jwks = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=10)

    # ------------------------------------------------------------------ JWKS

    def fetch(self) -> None:
        """Fetch the JWKS now (blocking: call it from a thread)."""
        assert self.jwks is not None
        self.fetched_at = time.monotonic()
        self.refresh_wanted = False
        self.jwk_set = self.jwks.get_jwk_set(refresh=True)

    async def refresh(self) -> None:
        """Fetch the JWKS in a thread (a failed fetch keeps the keys held, and is logged)."""
        if self.jwks is None:
            return
        try:
            await asyncio.to_thread(self.fetch)
        except Exception as exc:
            log.warning("massgen: --jwt-jwks-url: cannot fetch the keys (%s)", exc)

    async def keep_fresh(self) -> None:
        """Fetch the JWKS again every :data:`JWKS_REFRESH` seconds, or soon after a token
        named a key it lacks (after a first :meth:`refresh`)."""
        while self.jwks is not None:
            await asyncio.sleep(1.0)
            since = time.monotonic() - self.fetched_at
            if since >= JWKS_REFRESH or (self.refresh_wanted and since >= JWKS_COOLDOWN):
                await self.refresh()

    def _jwks_key(self, token: str) -> tuple[Any, list[str]]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError:
            raise TokenRejected("malformed token") from None
        if self.jwk_set is None:
            raise TokenRejected("the server has not fetched its JWKS yet; try again shortly")
        keys = [k for k in self.jwk_set.keys if not k.algorithm_name.startswith("HS")]
        for key in keys:  # public keys only: a JWKS is public
            if key.key_id == kid or (kid is None and len(keys) == 1):
                return key.key, [key.algorithm_name]
        self.refresh_wanted = True
        raise TokenRejected("signed by a key the JWKS does not hold (unknown kid)")

    # ------------------------------------------------------------------ tokens

    def owner(self, token: str) -> str:
        """The owner of a valid token; :class:`TokenRejected` says why one is not."""
        key, algorithms = (
            self._jwks_key(token) if self.jwks is not None else (self.key, self.algorithms)
        )
        settings = self.settings
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=settings.audience,
                issuer=settings.issuer,
                leeway=LEEWAY,
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("token expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenRejected("token not valid yet (nbf)") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected("token audience is not this server's (--jwt-audience)") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected("token issuer is not the one trusted (--jwt-issuer)") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRejected(f"token has no {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise TokenRejected("token signature does not verify") from None
        except jwt.InvalidAlgorithmError:
            raise TokenRejected(
                f"token algorithm not accepted (accepted: {', '.join(algorithms)})"
            ) from None
        except jwt.InvalidTokenError:
            raise TokenRejected("malformed token") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise TokenRejected("token 'sub' claim must be a non-empty string")
        return owner_of_subject(str(claims.get("iss") or ""), subject)
