"""Ed25519 signatures on model versions, so a model is unpickled only if a registering step made it.

A version's `metadata.json` holds its model file's SHA-256; `metadata.json.sig` is the Ed25519 signature
of those exact bytes. The private key lives in the signing volume, which only the steps that register
models mount (read-only); the public key lives in the trust volume, which every step that loads or checks
a model mounts read-only. Neither is on the models volume: whoever can write a model and its checksum there
(a step, the serving side, a person) cannot make it trusted.

The key pair is made once per install: by airflow-init in the compose stacks, or by the demo bootstrap on
empty volumes. `cryptography` is imported only here and only when a key is used, so a step that never
touches a model pays nothing for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mindpulse import atomic
from mindpulse.paths import Layout
from mindpulse.protocol import StepError, say

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def ensure_keys(layout: Layout) -> bool:
    """Make the install's key pair unless it exists; True when it was made now. A public key missing beside
    an existing private key is derived from it again (never a new pair: that would orphan every version)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if layout.private_key.is_file():
        if not layout.public_key.is_file():
            _write_public(layout, _private_key(layout).public_key())
        return False
    if layout.public_key.is_file():
        raise StepError(
            f"{layout.private_key}: missing, but {layout.public_key} exists; a new pair would not match the "
            "versions signed so far. Restore the private key, or delete both to start a new pair"
        )
    key = Ed25519PrivateKey.generate()
    layout.signing_dir.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with atomic.atomic_path(layout.private_key) as staging:
        staging.chmod(0o600)  # before the key is in it
        staging.write_bytes(pem)
    _write_public(layout, key.public_key())
    say(f"made the model-signing key pair: {layout.private_key}, {layout.public_key}")
    return True


def sign(layout: Layout, path: Path) -> None:
    """Write `path`.sig: the signature of `path`'s bytes with the install's private key."""
    signature = _private_key(layout).sign(path.read_bytes())
    atomic.write_bytes(_signature_path(path), signature.hex().encode() + b"\n")


def verified_bytes(layout: Layout, path: Path) -> bytes:
    """`path`'s bytes, once its signature checks out with the install's public key; one ERROR line if not.
    The caller parses these bytes, not a second read, so nothing can change between check and use."""
    from cryptography.exceptions import InvalidSignature

    data = path.read_bytes()
    signature_path = _signature_path(path)
    try:
        signature = bytes.fromhex(signature_path.read_text().strip())
    except FileNotFoundError:
        raise StepError(f"{signature_path}: missing: the model version is not signed; refusing to load it") from None
    except ValueError:
        raise StepError(f"{signature_path}: not a signature; refusing to load the model") from None
    try:
        _public_key(layout).verify(signature, data)
    except InvalidSignature:
        raise StepError(
            f"{path}: its signature does not match (changed after it was registered, or signed with another "
            "key); refusing to load the model"
        ) from None
    return data


def _signature_path(path: Path) -> Path:
    return path.with_name(path.name + ".sig")


def _private_key(layout: Layout) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(layout.private_key.read_bytes(), password=None)
    except FileNotFoundError:
        raise StepError(
            f"{layout.private_key}: no model-signing key (this step must mount the signing volume; "
            "airflow-init or the bootstrap makes the key)"
        ) from None
    except (ValueError, PermissionError) as error:
        raise StepError(f"{layout.private_key}: unreadable model-signing key ({error})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise StepError(f"{layout.private_key}: not an Ed25519 key")
    return key


def _public_key(layout: Layout) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(layout.public_key.read_bytes())
    except FileNotFoundError:
        raise StepError(
            f"{layout.public_key}: no model-signing public key, so no model can be trusted (this step must "
            "mount the trust volume; airflow-init or the bootstrap makes the key)"
        ) from None
    except ValueError as error:
        raise StepError(f"{layout.public_key}: unreadable public key ({error})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise StepError(f"{layout.public_key}: not an Ed25519 key")
    return key


def _write_public(layout: Layout, key: Ed25519PublicKey) -> None:
    from cryptography.hazmat.primitives import serialization

    layout.trust_dir.mkdir(parents=True, exist_ok=True)
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    atomic.write_bytes(layout.public_key, pem)
