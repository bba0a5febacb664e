"""OpenSSF model signing: a real model folder signed in the test by the model-signing package (an EC key
made here with cryptography, and a certificate chain made here), verified offline by the audit; then the
same folder with one byte changed, a file added, a wrong key and a broken signature."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import model_signing
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from provenance.checkpoint import open_checkpoint
from provenance.cli import cli
from provenance.errors import ProvenanceError
from provenance.evidence.integrity import (
    EVIDENCE_NAME,
    FileState,
    IntegrityResult,
    SignatureState,
    SigningCheck,
    check_signature,
)
from provenance.knowledge.rules import Anchor, RiskInput, assess
from provenance.report import json_
from tests.exporters import save_hf
from tests.models import stories260k


def _write_key(key: ec.EllipticCurvePrivateKey, folder: Path, name: str) -> tuple[Path, Path]:
    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def _sign(model: Path, signer: Any) -> Path:
    """Sign ``model`` as ``model_signing sign`` does: the signature in the folder, left out of what it covers."""
    sig = model / "model.sig"
    signer.set_hashing_config(model_signing.hashing.Config().set_ignored_paths(paths=["model.sig"])).sign(model, sig)
    return sig


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    private, public = _write_key(ec.generate_private_key(ec.SECP256R1()), folder, "signer")
    _, other = _write_key(ec.generate_private_key(ec.SECP384R1()), folder, "other")
    return {"private": private, "public": public, "other": other}


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Path]) -> Path:
    """stories260K as a Hugging Face folder (weights, config, model card), signed with an EC P-256 key made here."""
    stories = stories260k()
    if stories is None:
        pytest.skip("../shared/data/models/stories260K.bin is absent")
    out = tmp_path_factory.mktemp("signed") / "model"
    with open_checkpoint(stories) as ckpt:
        save_hf(ckpt, ckpt.args, out, card={"model_name": "stories-signed", "license": "mit"})
    # signed by the publisher's tool, as the README shows: the model-signing command line
    subprocess.run([sys.executable, "-m", "model_signing", "sign", "key", str(out), "--private_key", str(keys["private"]),
                    "--signature", str(out / "model.sig")], check=True, capture_output=True, timeout=120)
    return out


@pytest.fixture()
def copy(signed: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(signed, tmp_path / "model"))


def _integrity_findings(result: IntegrityResult) -> list[tuple[str, str]]:
    """The findings the risk rules raise for one signature check (and nothing else about the model)."""
    report = assess(RiskInput(integrity=result, anchors={"signature": Anchor("model.sig")}))
    return [(f.id, f.severity.value) for f in report.findings if f.evidence == (EVIDENCE_NAME,)]


def _audit(args: list[str]) -> tuple[int, dict[str, Any]]:
    res = CliRunner().invoke(cli, ["--quiet", "audit", *args, "--no-behaviour", "--format", "json"])
    assert res.exit_code in (0, 1), res.output
    return res.exit_code, json.loads(res.stdout)


def test_signed_folder_verifies_and_is_reported_as_integrity_not_lineage(signed: Path, keys: dict[str, Path]) -> None:
    code, body = _audit([str(signed), "--verify-key", str(keys["public"])])
    jsonschema.Draft202012Validator(json_.schema()).validate(body)
    integrity = body["integrity"]
    on_disk = sorted(p.name for p in signed.iterdir() if p.name != "model.sig")
    assert integrity["state"] == "verified" and integrity["verified_with"] == "key"
    assert [f["path"] for f in integrity["files"]] == on_disk and {f["state"] for f in integrity["files"]} == {"match"}
    # the signer is named by the sha256 of its public key, as model-signing's bundle hints it
    pem_hash = hashlib.sha256(keys["public"].read_bytes()).hexdigest()
    assert pem_hash in integrity["signer"]
    assert "integrity is not lineage" in integrity["note"]
    assert not any(e["name"].startswith("integrity") for e in body["lineage"]["evidence"])
    ok = next(f for f in body["findings"] if f["id"] == "PROV-OK-003")
    assert ok["severity"] == "none" and ok["anchor"]["path"] == "model.sig"
    # the digests model-signing computed are the audit's own (reused, not recomputed), and they are right
    for f in body["model"]["files"]:
        assert f["sha256"] == hashlib.sha256(Path(f["path"]).read_bytes()).hexdigest()
    assert code == 0


def test_one_changed_byte_is_a_high_finding(copy: Path, keys: dict[str, Path]) -> None:
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one bit of the last weight: the model still loads and audits
    weights.write_bytes(bytes(data))
    # the field's own verifier refuses the folder too
    with pytest.raises(ValueError, match="model.safetensors"):
        model_signing.verifying.Config().use_elliptic_key_verifier(public_key=keys["public"]).verify(copy, copy / "model.sig")
    code, body = _audit([str(copy), "--verify-key", str(keys["public"]), "--fail-on", "high"])
    assert code == 1
    states = {f["path"]: f["state"] for f in body["integrity"]["files"]}
    assert body["integrity"]["state"] == "mismatch" and states.pop("model.safetensors") == "changed"
    assert set(states.values()) == {"match"}
    finding = next(f for f in body["findings"] if f["id"] == "PROV-INT-002")
    assert finding["severity"] == "high" and "model.safetensors" in finding["message"]
    assert "not lineage" in finding["message"]


def test_added_file_wrong_key_and_broken_signature(copy: Path, keys: dict[str, Path]) -> None:
    (copy / "tokenizer.json").write_text("{}")
    added = check_signature(copy, SigningCheck(key=keys["public"]))
    assert added is not None and added.state is SignatureState.MISMATCH
    assert ("tokenizer.json", FileState.UNSIGNED) in added.files
    (copy / "tokenizer.json").unlink()
    (copy / "config.json").unlink()
    missing = check_signature(copy, SigningCheck(key=keys["public"]))
    assert missing is not None and ("config.json", FileState.MISSING) in missing.files
    wrong = check_signature(copy, SigningCheck(key=keys["other"]))
    assert wrong is not None and wrong.state is SignatureState.INVALID and wrong.signer is None
    assert _integrity_findings(wrong) == [("PROV-INT-001", "high")]
    sig = copy / "model.sig"
    bundle = json.loads(sig.read_text())
    bundle["dsseEnvelope"]["payload"] = bundle["dsseEnvelope"]["payload"][:-8] + "AAAAAAA="  # forged manifest
    sig.write_text(json.dumps(bundle))
    assert check_signature(copy, SigningCheck(key=keys["public"])).state is SignatureState.INVALID  # type: ignore[union-attr]
    for junk in ("not json", "[]", '{"mediaType": 1}', "[" * 100_000):
        sig.write_text(junk)
        result = check_signature(copy, SigningCheck(key=keys["public"]))
        assert result is not None and result.state is SignatureState.INVALID, junk[:20]


def test_unverified_signature_and_bad_options(copy: Path, keys: dict[str, Path], tmp_path: Path) -> None:
    found = check_signature(copy, SigningCheck())
    assert found is not None and found.state is SignatureState.UNVERIFIED
    assert _integrity_findings(found) == [("PROV-INT-003", "low")]
    bad_key = tmp_path / "bad.pub"
    bad_key.write_text("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
    with pytest.raises(ProvenanceError, match="unusable key"):
        check_signature(copy, SigningCheck(key=bad_key))
    with pytest.raises(ProvenanceError, match="not both"):
        check_signature(copy, SigningCheck(key=keys["public"], certificates=(keys["public"],)))
    (copy / "model.sig").unlink()
    assert check_signature(copy, SigningCheck()) is None
    with pytest.raises(ProvenanceError, match="--signature"):
        check_signature(copy, SigningCheck(key=keys["public"]))
    res = CliRunner().invoke(cli, ["audit", str(copy), "--verify-key", str(bad_key), "--no-behaviour"])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "Traceback" not in res.output


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
          ca: bool) -> x509.Certificate:
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                                            crl_sign=ca, encipher_only=False, decipher_only=False), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name("release@example.org")]),
                                        critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def test_certificate_signed_folder_names_its_signer(copy: Path, tmp_path: Path) -> None:
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Example Models Root CA", ca_key, None, ca=True)
    leaf = _cert("Example Models Release", leaf_key, ("Example Models Root CA", ca_key), ca=False)
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    private, _ = _write_key(leaf_key, tmp_path, "leaf-key")
    (copy / "model.sig").unlink()
    _sign(copy, model_signing.signing.Config().use_certificate_signer(
        private_key=private, signing_certificate=tmp_path / "leaf.pem", certificate_chain=[tmp_path / "ca.pem"]))
    result = check_signature(copy, SigningCheck(certificates=(tmp_path / "ca.pem",)))
    assert result is not None and result.state is SignatureState.VERIFIED and result.method == "certificate"
    assert "CN=Example Models Release" in (result.signer or "") and "release@example.org" in (result.signer or "")
    # a certificate from another root does not establish trust
    other = _cert("Someone Else", ec.generate_private_key(ec.SECP256R1()), None, ca=True)
    (tmp_path / "other.pem").write_bytes(other.public_bytes(pem))
    untrusted = check_signature(copy, SigningCheck(certificates=(tmp_path / "other.pem",)))
    assert untrusted is not None and untrusted.state is SignatureState.INVALID
