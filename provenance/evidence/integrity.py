"""Integrity evidence: an OpenSSF model-signing signature (the ``model-signing`` package's format, a
Sigstore bundle whose DSSE payload lists every file with its digest), verified offline with a public key
or a certificate chain the user passes.

Integrity is not lineage. A valid signature says the files are byte for byte what the holder of the key
signed; it says nothing about where the weights came from (a signer can sign a Llama fine-tune under any
name). So the result is reported beside the lineage verdict, never folded into it.

The signature check and the manifest are the library's own (``model_signing``, optional extra
``provenance[signing]``): its verifier authenticates the manifest, its hashing configuration hashes the
folder as the signer did, and the verdict is the library's test (both manifests map the same files to
the same digests). We only keep the per-file outcome, who signed, and the sha256 digests it computed,
so the audit does not hash the same files twice.

The findings are rules of :mod:`provenance.knowledge.rules`: PROV-INT-001 the signature does not verify,
PROV-INT-002 the files differ from what was signed, PROV-INT-003 a signature is present but no key or
certificate was given, PROV-OK-003 verified and every file matches.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from provenance.errors import ProvenanceError

#: where ``model_signing sign`` writes the signature by default, looked for in a model folder
SIGNATURE_NAME = "model.sig"
#: a manifest lists one digest per file (or shard): 64 MiB is far more than any real model needs
MAX_SIGNATURE_BYTES = 64 << 20
NOT_LINEAGE = ("integrity is not lineage: a valid signature proves these are the files the signer signed, "
               "not where the weights came from")
EVIDENCE_NAME = "integrity.model_signing"


class SignatureState(StrEnum):
    VERIFIED = "verified"  # the signature verifies and every file matches it
    MISMATCH = "mismatch"  # the signature verifies, but files changed, went missing or were added
    INVALID = "invalid"  # the signature does not verify with the key or certificates given
    UNVERIFIED = "unverified"  # a signature is present but nothing to verify it with was given


class FileState(StrEnum):
    MATCH = "match"
    CHANGED = "changed"
    MISSING = "missing"  # signed, not on disk
    UNSIGNED = "unsigned"  # on disk, not covered by the signature


@dataclass(frozen=True)
class SigningCheck:
    """What the user asked for: a signature (else ``model.sig`` in the model folder) and what verifies it."""

    signature: Path | None = None
    key: Path | None = None
    certificates: tuple[Path, ...] = ()


@dataclass
class IntegrityResult:
    """The outcome of one signature check (``to_dict`` is the report's ``integrity`` section)."""

    signature: Path
    state: SignatureState
    method: str | None = None  # key | certificate
    signer: str | None = None
    hash_algorithm: str | None = None
    files: list[tuple[str, FileState]] = field(default_factory=list)
    reason: str | None = None
    sha256: dict[Path, str] = field(default_factory=dict)  # absolute path -> sha256 the library computed

    def to_dict(self) -> dict[str, Any]:
        return {"method": "model-signing", "signature": str(self.signature), "state": self.state.value,
                "verified_with": self.method, "signer": self.signer, "hash_algorithm": self.hash_algorithm,
                "files": [{"path": p, "state": s.value} for p, s in self.files], "reason": self.reason,
                "note": NOT_LINEAGE}

    def summary(self) -> str:
        """One sentence for reports and findings."""
        count = {s: sum(1 for _, st in self.files if st is s) for s in FileState}
        if self.state is SignatureState.VERIFIED:
            return f"model signature verified: {count[FileState.MATCH]} files match, signed by {self.signer}"
        if self.state is SignatureState.MISMATCH:
            bad = [f"{p} ({s.value})" for p, s in self.files if s is not FileState.MATCH]
            return (f"signature by {self.signer} verifies, but {len(bad)} of {len(self.files)} files differ from what "
                    f"was signed: {', '.join(bad[:10])}{' ...' if len(bad) > 10 else ''}")
        if self.state is SignatureState.INVALID:
            return f"model signature {self.signature.name} does not verify: {self.reason}"
        return f"model signature {self.signature.name} present but not verified: no key or certificate given"


def find_signature(model: Path, check: SigningCheck) -> Path | None:
    """The signature to check: the one given, else ``model.sig`` in the model's folder, else None."""
    if check.signature is not None:
        if not check.signature.is_file():
            raise ProvenanceError("signature file not found", check.signature)
        return check.signature
    default = model / SIGNATURE_NAME if model.is_dir() else None
    if default is not None and default.is_file():
        return default
    if check.key is not None or check.certificates:
        raise ProvenanceError(f"no {SIGNATURE_NAME} in the model folder: name the signature with --signature", model)
    return None


def check_signature(model: Path, check: SigningCheck) -> IntegrityResult | None:
    """Verify ``model`` against its model-signing signature (see the module docstring); None when there is
    no signature and none was asked for. Raises ProvenanceError for unusable keys or certificates."""
    sig = find_signature(model, check)
    if sig is None:
        return None
    if check.key is None and not check.certificates:
        return IntegrityResult(sig, SignatureState.UNVERIFIED)
    if check.key is not None and check.certificates:
        raise ProvenanceError("give a key (--verify-key) or certificates (--verify-cert), not both")
    if sig.stat().st_size > MAX_SIGNATURE_BYTES:
        return IntegrityResult(sig, SignatureState.INVALID, reason=f"larger than {MAX_SIGNATURE_BYTES >> 20} MiB")
    return _verify(model, sig, check)


def _verify(model: Path, sig: Path, check: SigningCheck) -> IntegrityResult:
    if importlib.util.find_spec("model_signing") is None:  # an optional extra: only a signature check needs it
        raise ProvenanceError("verifying a model signature needs the model-signing package: "
                              "pip install 'provenance[signing]'")
    from cryptography.exceptions import InvalidSignature
    from model_signing import hashing
    from model_signing._signing import sign_certificate, sign_ec_key, sign_sigstore_pb
    from OpenSSL.crypto import X509StoreContextError

    method = "key" if check.key is not None else "certificate"
    try:
        verifier = (sign_ec_key.Verifier(check.key) if check.key is not None
                    else sign_certificate.Verifier(list(check.certificates)))
    except (ValueError, TypeError, OSError) as e:
        raise ProvenanceError(f"unusable {method} for model signing: {e}", check.key or check.certificates[0]) from None
    broken = (ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError, InvalidSignature,
              X509StoreContextError)
    try:
        bundle = sign_sigstore_pb.Signature.read(sig)
        expected = verifier.verify(bundle)  # authenticates the DSSE envelope, returns the signed manifest
    except broken as e:
        return IntegrityResult(sig, SignatureState.INVALID, method, reason=_reason(e))
    signer = _key_signer(check.key) if check.key is not None else _cert_signer(bundle.bundle)
    params = expected.serialization_type
    root = model if model.is_dir() else model.parent
    recorded = [Path(p) for p in params.get("ignore_paths", ())]
    own = [sig.resolve().relative_to(root.resolve())] if sig.resolve().is_relative_to(root.resolve()) else []
    config = hashing.Config().set_ignored_paths(paths=recorded + own).set_allow_symlinks(False)
    try:
        if params["method"] == "shards":
            config.use_shard_serialization(hashing_algorithm=params["hash_type"], shard_size=params["shard_size"])
        else:
            config.use_file_serialization(hashing_algorithm=params["hash_type"])
        actual = config.hash(model)
    except (ValueError, KeyError, OSError) as e:
        return IntegrityResult(sig, SignatureState.MISMATCH, method, signer, params.get("hash_type"),
                               reason=f"the model could not be hashed as it was signed: {_reason(e)}")
    want = {d.identifier: d.digest.digest_hex for d in expected.resource_descriptors()}
    got = {d.identifier: d.digest.digest_hex for d in actual.resource_descriptors()}
    files = [(name, FileState.MISSING if name not in got else FileState.UNSIGNED if name not in want
              else FileState.MATCH if got[name] == want[name] else FileState.CHANGED) for name in sorted(want | got)]
    state = SignatureState.VERIFIED if want == got else SignatureState.MISMATCH  # the library's own test
    sha: dict[Path, str] = {}
    if params["method"] == "files" and params["hash_type"] == "sha256":  # whole-file sha256: the audit reuses it
        sha = {(root / name).resolve() if model.is_dir() else model.resolve(): digest for name, digest in got.items()}
    return IntegrityResult(sig, state, method, signer, params["hash_type"], files, None, sha)


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split())[:300]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _key_signer(key: Path) -> str:
    """The key as model-signing identifies it: the sha256 of its PEM SubjectPublicKeyInfo."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    public = serialization.load_pem_public_key(key.read_bytes())
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    curve = public.curve.name if isinstance(public, ec.EllipticCurvePublicKey) else type(public).__name__
    return f"the holder of {key.name} ({curve} key, sha256 {hashlib.sha256(pem).hexdigest()})"


def _cert_signer(bundle: Any) -> str:
    """Subject, issuer and alternative names of the signing certificate (the chain already verified)."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(bundle.verification_material.x509_certificate_chain.certificates[0].raw_bytes)
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(v) for v in san.get_values_for_type(x509.RFC822Name) + san.get_values_for_type(x509.DNSName)
                 + san.get_values_for_type(x509.UniformResourceIdentifier)]
    except x509.ExtensionNotFound:
        pass
    alt = f", also {', '.join(names)}" if names else ""
    return f"{cert.subject.rfc4514_string()} (issued by {cert.issuer.rfc4514_string()}{alt})"
