"""Cryptography in one place: JWT access tokens (RFC 9068), signing keys, secret hashing,
signed checkpoints of the audit chain.

This is the ONLY module that imports python-jose (an import-linter contract checks it).
python-jose is lenient by default: it accepts tokens without ``aud`` or ``exp`` and ignores
``kid``. Here it is made strict: the algorithm is pinned to RS256 before decoding, ``typ``
must be ``at+jwt``, ``kid`` must name a known, unretired key, and every claim RFC 9068
requires must be present and valid.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jose import jwk, jws, jwt
from jose.exceptions import ExpiredSignatureError, JOSEError, JWTClaimsError

ALGORITHM = "RS256"
TOKEN_TYPE = "at+jwt"
MAX_TOKEN_BYTES = 8192
# Claims RFC 9068 requires of an access token, plus jti for revocation.
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope")
CLOCK_SKEW_SECONDS = 30


class InvalidAccessToken(Exception):
    """The token must be refused; the message says why (logged, never shown in detail)."""


# --- secrets (client secrets, passwords) -----------------------------------------------

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) defaults
# Verified against when the claimed identity does not exist, so that an unknown client or
# user costs the same time as a wrong secret.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(32))


def hash_secret(secret: str) -> str:
    """argon2id: for human passwords. Slow on purpose (CPU-bound: run it off the loop)."""
    return _hasher.hash(secret)


def verify_secret(secret: str, secret_hash: str | None) -> bool:
    """Constant-work argon2 check: a missing hash is verified against a dummy and fails.
    CPU-bound for the hash's cost: callers in the service run it in a thread."""
    try:
        _hasher.verify(secret_hash or _DUMMY_HASH, secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return secret_hash is not None


def is_password_hash(stored: str) -> bool:
    """An argon2 hash (every user's password; a client secret stored before HMAC)."""
    return stored.startswith("$argon2")


# --- client secrets: 256 random bits, checked with a keyed fast hash ---------------------

CLIENT_SECRET_SCHEME = "hmac-sha256"


@lru_cache(maxsize=4)
def client_secret_pepper(server_secret: str) -> bytes:
    """The key of client-secret hashes, derived from the server secret (HKDF, own label),
    so that it is never the key of anything else (the signing keys' Fernet key is another)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"wecare client secrets v1"
    ).derive(server_secret.encode())


def hash_client_secret(secret: str, pepper: bytes) -> str:
    """``hmac-sha256$<hex>``: a 256-bit random secret needs no slow hash to resist guessing;
    the pepper keeps a stolen table of hashes useless without the server secret."""
    digest = hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()
    return f"{CLIENT_SECRET_SCHEME}${digest}"


# Compared against when the client does not exist: the same HMAC and compare as a real one.
_DUMMY_CLIENT_HASH = f"{CLIENT_SECRET_SCHEME}${'0' * 64}"


def verify_client_secret(secret: str, stored: str | None, pepper: bytes) -> bool:
    """Constant-time check of an HMAC-stored secret; a missing hash does the same work and
    fails. An argon2 hash (stored before HMAC) is not checked here: see is_password_hash."""
    expected = stored if stored and stored.startswith(f"{CLIENT_SECRET_SCHEME}$") else None
    computed = hash_client_secret(secret, pepper)
    return hmac.compare_digest(computed, expected or _DUMMY_CLIENT_HASH) and expected is not None


def new_client_secret() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def fingerprint(token: str) -> str:
    """SHA-256 of a high-entropy opaque token (refresh tokens): stored instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# --- signing keys ----------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_pem: str


@dataclass(frozen=True)
class GeneratedKey:
    kid: str
    encrypted_private_key: str
    public_jwk: dict[str, str]


def _fernet(secret: str) -> Fernet:
    digest = hashlib.sha256(b"wecare-signing-keys:" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def generate_signing_key(secret: str) -> GeneratedKey:
    """A new RSA-2048 key: private part encrypted with the server secret, public part as JWK."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    # Hex, never base64url: a kid starting with '-' reads as an option to `wecare keys retire`.
    kid = secrets.token_hex(12)
    public = jwk.construct(pem, ALGORITHM).public_key().to_dict()
    public_jwk = {k: str(v) for k, v in public.items()} | {"kid": kid, "use": "sig"}
    public_jwk["alg"] = ALGORITHM
    return GeneratedKey(
        kid=kid,
        encrypted_private_key=_fernet(secret).encrypt(pem.encode()).decode(),
        public_jwk=public_jwk,
    )


class SigningKeyUndecryptable(RuntimeError):
    """The stored signing key was encrypted under another WECARE_SECRET_KEY."""


def decrypt_signing_key(kid: str, encrypted_private_key: str, secret: str) -> SigningKey:
    try:
        pem = _fernet(secret).decrypt(encrypted_private_key.encode()).decode()
    except InvalidToken as error:
        raise SigningKeyUndecryptable(
            f"signing key {kid} cannot be decrypted with this WECARE_SECRET_KEY; "
            "rotate keys after changing the secret"
        ) from error
    return SigningKey(kid=kid, private_pem=pem)


@lru_cache(maxsize=8)
def _private_key(pem: str) -> jwk.Key:
    """The signing key parsed once: loading an RSA PEM checks the key (about 20 ms of CPU,
    60% of the route table test's time), signing with it about 1 ms. A few entries: the
    newest key, and the last ones while keys rotate."""
    return jwk.construct(pem, ALGORITHM)


# --- access tokens ---------------------------------------------------------------------


@dataclass(frozen=True)
class AccessTokenClaims:
    subject: str
    client_id: str
    scopes: frozenset[str]
    jti: str
    issued_at: datetime
    expires_at: datetime
    raw: Mapping[str, Any]


def issue_access_token(
    key: SigningKey,
    *,
    issuer: str,
    audience: str,
    subject: str,
    client_id: str,
    scopes: frozenset[str],
    ttl: timedelta,
    now: datetime | None = None,
    extra: Mapping[str, Any] | None = None,
) -> tuple[str, AccessTokenClaims]:
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    expires = issued + ttl
    claims: dict[str, Any] = {
        **(extra or {}),
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "client_id": client_id,
        "scope": " ".join(sorted(scopes)),
        "iat": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": secrets.token_urlsafe(16),
    }
    token = jwt.encode(
        claims,
        _private_key(key.private_pem),
        algorithm=ALGORITHM,
        headers={"kid": key.kid, "typ": TOKEN_TYPE},
    )
    return token, AccessTokenClaims(
        subject=subject,
        client_id=client_id,
        scopes=scopes,
        jti=claims["jti"],
        issued_at=issued,
        expires_at=expires,
        raw=claims,
    )


@lru_cache(maxsize=64)
def _verifying_key(public_jwk: str) -> Any:
    """The RS256 key of a public JWK (as canonical JSON), built once: given the JWK as a
    dict, jose builds the key anew for every token, two thirds of a verification's CPU."""
    return jwk.construct(json.loads(public_jwk), ALGORITHM)


def token_header(token: str) -> dict[str, Any]:
    """The unverified JOSE header, after the size check; raises InvalidAccessToken."""
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidAccessToken("token too large")
    try:
        header = jwt.get_unverified_header(token)
    except JOSEError as error:
        raise InvalidAccessToken("malformed token") from error
    if not isinstance(header, dict):
        raise InvalidAccessToken("malformed header")
    return header


def verify_access_token(
    token: str,
    *,
    public_keys: Mapping[str, Mapping[str, Any]],
    issuer: str,
    audience: str,
    max_lifetime: timedelta,
    now: datetime | None = None,
) -> AccessTokenClaims:
    """Verify signature, header and claims strictly; ``public_keys`` maps kid to public JWK.

    ``max_lifetime``: the configured TTL; a token whose exp - iat exceeds it (plus the
    clock leeway) is refused."""
    header = token_header(token)
    if header.get("alg") != ALGORITHM:
        raise InvalidAccessToken(f"algorithm {header.get('alg')!r} is not accepted")
    if str(header.get("typ", "")).lower() not in (TOKEN_TYPE, f"application/{TOKEN_TYPE}"):
        raise InvalidAccessToken("typ is not at+jwt")
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in public_keys:
        raise InvalidAccessToken("unknown signing key")
    options = {f"require_{claim}": True for claim in ("aud", "exp", "iat", "iss", "sub", "jti")}
    options["leeway"] = CLOCK_SKEW_SECONDS  # type: ignore[assignment]
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            _verifying_key(json.dumps(dict(public_keys[kid]), sort_keys=True)),
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            options=options,
        )
    except ExpiredSignatureError as error:
        raise InvalidAccessToken("token expired") from error
    except JWTClaimsError as error:
        raise InvalidAccessToken(f"invalid claims: {error}") from error
    except JOSEError as error:
        raise InvalidAccessToken(f"invalid token: {error}") from error
    for claim in REQUIRED_CLAIMS:
        if claim not in claims:
            raise InvalidAccessToken(f"missing claim {claim}")
    if not all(isinstance(claims[c], str) for c in ("sub", "client_id", "scope", "jti")):
        raise InvalidAccessToken("malformed claims")
    if not all(isinstance(claims[c], int) for c in ("iat", "exp")):
        raise InvalidAccessToken("malformed time claims")
    if claims["exp"] - claims["iat"] > (max_lifetime.total_seconds() + CLOCK_SKEW_SECONDS):
        # Only this service signs, and never for longer than the TTL: a longer-lived token
        # was minted with a leaked key or under a TTL since shortened.
        raise InvalidAccessToken("token lifetime exceeds the configured TTL")
    current = int((now or datetime.now(UTC)).timestamp())
    if claims["iat"] > current + CLOCK_SKEW_SECONDS:
        raise InvalidAccessToken("token issued in the future")
    if claims["exp"] <= current - CLOCK_SKEW_SECONDS:  # jose checks too; no reliance on it
        raise InvalidAccessToken("token expired")
    return AccessTokenClaims(
        subject=claims["sub"],
        client_id=claims["client_id"],
        scopes=frozenset(claims["scope"].split()),
        jti=claims["jti"],
        issued_at=datetime.fromtimestamp(claims["iat"], UTC),
        expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        raw=claims,
    )


# --- audit checkpoints -----------------------------------------------------------------

CHECKPOINT_TYPE = "audit-checkpoint+jwt"


class InvalidCheckpoint(Exception):
    """A checkpoint's signature or content does not hold; the message says why."""


@dataclass(frozen=True)
class CheckpointClaims:
    seq: int
    hash: str
    issued_at: int
    issuer: str
    kid: str


def sign_checkpoint(key: SigningKey, *, seq: int, digest: str, issuer: str, now: datetime) -> str:
    """A compact JWS (RS256, ``kid`` header) over ``{"seq", "hash", "iat", "iss"}``."""
    claims = {"seq": seq, "hash": digest, "iat": int(now.timestamp()), "iss": issuer}
    return str(
        jwt.encode(
            claims,
            _private_key(key.private_pem),
            algorithm=ALGORITHM,
            headers={"kid": key.kid, "typ": CHECKPOINT_TYPE},
        )
    )


def verify_checkpoint(
    token: str, *, public_keys: Mapping[str, Mapping[str, Any]]
) -> CheckpointClaims:
    """Verify a checkpoint's signature with the key its ``kid`` names (a JWKS's keys by
    kid), RS256 only; return what it signs. Raises InvalidCheckpoint."""
    try:
        header = jwt.get_unverified_header(token)
    except JOSEError as error:
        raise InvalidCheckpoint("malformed JWS") from error
    if not isinstance(header, dict) or header.get("alg") != ALGORITHM:
        raise InvalidCheckpoint("algorithm is not RS256")
    if header.get("typ") != CHECKPOINT_TYPE:
        raise InvalidCheckpoint(f"typ is not {CHECKPOINT_TYPE}")
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in public_keys:
        raise InvalidCheckpoint(f"signed with an unknown key {kid!r}")
    try:
        payload = jws.verify(token, dict(public_keys[kid]), algorithms=[ALGORITHM])
        claims = json.loads(payload)
    except (JOSEError, ValueError) as error:
        raise InvalidCheckpoint("the signature does not verify") from error
    if not (
        isinstance(claims, dict)
        and type(claims.get("seq")) is int
        and isinstance(claims.get("hash"), str)
        and type(claims.get("iat")) is int
        and isinstance(claims.get("iss"), str)
    ):
        raise InvalidCheckpoint("malformed claims")
    return CheckpointClaims(
        seq=claims["seq"],
        hash=claims["hash"],
        issued_at=claims["iat"],
        issuer=claims["iss"],
        kid=kid,
    )


def signing_key_is_authentic(
    kid: str, encrypted_private_key: str, public_jwk: Mapping[str, Any], secret: str
) -> bool:
    """Whether a stored key row was made with this server secret: its private part decrypts
    and ``public_jwk`` is that key's public half. A row planted in the database by someone
    without the secret (the runtime role can write the table) fails, so it never verifies a
    token nor appears in the JWKS. Memoised: each row is checked once per process."""
    return _authentic(
        kid, encrypted_private_key, str(public_jwk.get("n")), str(public_jwk.get("e")), secret
    )


@lru_cache(maxsize=1024)
def _authentic(kid: str, encrypted_private_key: str, n: str, e: str, secret: str) -> bool:
    try:
        key = decrypt_signing_key(kid, encrypted_private_key, secret)
    except SigningKeyUndecryptable:
        return False
    return public_jwk_is_authentic(key, {"n": n, "e": e})


def public_jwk_is_authentic(key: SigningKey, public_jwk: Mapping[str, Any]) -> bool:
    """Whether ``public_jwk`` is the public half of ``key`` (a decrypted private key): a key
    row planted in the database by someone without the server secret cannot pass."""
    public = jwk.construct(key.private_pem, ALGORITHM).public_key().to_dict()
    return all(str(public[member]) == str(public_jwk.get(member)) for member in ("n", "e"))


# Webhook signing secrets (Standard Webhooks: "whsec_" and base64 of 24 to 64 random bytes).
# Kept encrypted at rest with the server secret: the worker needs them back to sign.
WEBHOOK_SECRET_PREFIX = "whsec_"


def _webhook_fernet(secret: str) -> Fernet:
    digest = hashlib.sha256(b"wecare-webhook-secrets:" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def new_webhook_secret() -> str:
    """A fresh 256-bit signing secret in the Standard Webhooks form."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def encrypt_webhook_secret(webhook_secret: str, secret: str) -> str:
    return _webhook_fernet(secret).encrypt(webhook_secret.encode()).decode()


def decrypt_webhook_secret(encrypted: str, secret: str) -> str:
    return _webhook_fernet(secret).decrypt(encrypted.encode()).decode()
