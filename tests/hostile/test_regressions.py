"""Regression tests for every crash the fuzz runs (tests/fuzz) found, each with the input that found it."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch

from provenance.checkpoint import detect_format, open_checkpoint
from provenance.describe import describe_checkpoint
from provenance.errors import FormatError, UnsupportedError
from provenance.fingerprint.format import Fingerprint, read_header
from provenance.tokenizer.files import load_tokenizer
from tests.hostile import corpus


def _header(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    (n,) = struct.unpack_from("<Q", raw)
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def test_safetensors_whose_header_length_starts_like_a_pickle(hf_folder: Path) -> None:
    """A header length whose low byte is 0x80 (one real file in 256) was taken for a raw pickle and
    handed to torch.load, whose safetensors error escaped."""
    target = hf_folder / "model.safetensors"
    header, data = _header(target)
    text = json.dumps(header).encode()
    text += b" " * ((0x80 - len(text)) % 256)  # JSON allows the padding; safetensors pads with spaces too
    target.write_bytes(struct.pack("<Q", len(text)) + text + data)
    assert target.read_bytes()[0] == 0x80
    assert detect_format(target) == "hf"
    ckpt = open_checkpoint(hf_folder)
    assert ckpt.format == "hf-safetensors"
    assert torch.equal(ckpt.get("model.norm.weight"), corpus.stories_state()["model.norm.weight"])


def test_safetensors_dtype_of_the_wrong_type(hf_folder: Path) -> None:
    target = hf_folder / "model.safetensors"
    header, data = _header(target)
    header["model.norm.weight"]["dtype"] = {"F32": 1}  # was: TypeError (unhashable dict) inside a set test
    text = json.dumps(header).encode()
    target.write_bytes(struct.pack("<Q", len(text)) + text + data)
    with pytest.raises(FormatError, match="has no known dtype"):
        open_checkpoint(hf_folder)


@pytest.mark.parametrize(
    "front",
    ["license: " + "[" * 5000 + "]" * 5000, "license: " + "1" * 6000, "license: 2020-13-45"],
    ids=["deep", "6000 digits", "month 13"],
)
def test_model_cards_the_yaml_parser_chokes_on(front: str, hf_folder: Path) -> None:
    """RecursionError / ValueError from the YAML constructors made the whole model unreadable."""
    (hf_folder / "README.md").write_text(f"---\n{front}\n---\n# card\n")
    ckpt = open_checkpoint(hf_folder)
    assert "not YAML" in ckpt.metadata.source_fields["card.error"]
    assert describe_checkpoint(ckpt, hashes=False)["declared"]["license"] is None


def test_config_with_zero_heads_and_no_head_dim(hf_folder: Path) -> None:
    """``hidden_size // num_attention_heads`` raised ZeroDivisionError straight through the loader."""
    cfg = json.loads((hf_folder / "config.json").read_text())
    del cfg["head_dim"]
    (hf_folder / "config.json").write_text(json.dumps({**cfg, "num_attention_heads": 0}))
    with pytest.raises(FormatError, match="config.json has a malformed field"):
        open_checkpoint(hf_folder)


def test_config_token_ids_that_are_not_ids(hf_folder: Path) -> None:
    """A 900-deep list as bos_token_id reached ModelArgs and made ``to_dict`` recurse to death."""
    cfg = json.loads((hf_folder / "config.json").read_text())
    deep = json.loads("[" * 900 + "]" * 900)
    (hf_folder / "config.json").write_text(json.dumps({**cfg, "bos_token_id": deep, "eos_token_id": True}))
    ckpt = open_checkpoint(hf_folder)
    assert (ckpt.args.bos_token_id, ckpt.args.eos_token_id) == (None, None)
    assert describe_checkpoint(ckpt, hashes=False)["architecture"]["bos_token_id"] is None


def test_integers_beyond_the_conversion_limit(hf_folder: Path, tmp_path: Path) -> None:
    """json.loads raises a plain ValueError (not JSONDecodeError) for ints over 4300 digits."""
    cfg = (hf_folder / "config.json").read_text()
    (hf_folder / "config.json").write_text(cfg.replace('"vocab_size": 512', '"vocab_size": ' + "7" * 5000))
    with pytest.raises(FormatError, match="config.json is not valid JSON"):
        open_checkpoint(hf_folder)
    (hf_folder / "config.json").write_text(cfg)
    target = hf_folder / "model.safetensors"
    header, data = _header(target)
    text = json.dumps(header).encode().replace(b'"format": "pt"', b'"format": ' + b"7" * 5000)
    target.write_bytes(struct.pack("<Q", len(text)) + text + data)
    with pytest.raises(FormatError, match="corrupt safetensors header"):
        open_checkpoint(hf_folder)
    (hf_folder / "tokenizer_config.json").write_text('{"bos_token": ' + "7" * 5000 + "}")
    with pytest.raises(FormatError, match="not valid JSON"):
        load_tokenizer(hf_folder)
    fp = tmp_path / "big.fingerprint.safetensors"
    meta = json.dumps({"provenance.fingerprint": '{"format": ' + "7" * 5000 + "}"})
    text = ('{"__metadata__": ' + meta + "}").encode()
    fp.write_bytes(struct.pack("<Q", len(text)) + text)
    with pytest.raises(FormatError, match="not JSON"):
        read_header(fp)
    text = b'{"__metadata__": {"x": ' + b"7" * 5000 + b"}}"
    fp.write_bytes(struct.pack("<Q", len(text)) + text)
    with pytest.raises(FormatError, match="not JSON"):
        Fingerprint.load(fp)


def test_fingerprint_with_a_list_where_an_object_belongs(tmp_path: Path) -> None:
    """``arch.rope_scaling`` wrapped in a list raised AttributeError out of Fingerprint.load."""
    header, data = _header(corpus.fingerprint_path())
    doc = json.loads(header["__metadata__"]["provenance.fingerprint"])
    doc["arch"]["rope_scaling"] = [doc["arch"]["rope_scaling"]]
    header["__metadata__"]["provenance.fingerprint"] = json.dumps(doc)
    text = json.dumps(header).encode()
    fp = tmp_path / "list.fingerprint.safetensors"
    fp.write_bytes(struct.pack("<Q", len(text)) + text + data)
    with pytest.raises(FormatError, match="invalid fingerprint"):
        Fingerprint.load(fp)


def test_sentencepiece_piece_that_is_not_utf8(tmp_path: Path) -> None:
    """The C++ parser accepts a piece with invalid UTF-8; reading it back raised UnicodeDecodeError."""
    raw = bytearray(corpus.spm_path().read_bytes())
    raw[len(raw) - 4096 + 57] = 1  # the fuzz case: one byte of the trailing 4 KiB set to 0x01
    path = tmp_path / "tokenizer.model"
    path.write_bytes(bytes(raw))
    with pytest.raises(FormatError, match="not valid UTF-8"):
        load_tokenizer(path)


def test_messages_quoting_file_content_stay_on_one_line(tmp_path: Path) -> None:
    """File content with newlines reached messages verbatim (a PEFT type, a safetensors error quoting a dtype)."""
    lora = corpus.stories_lora(tmp_path / "lora")
    cfg = json.loads((lora / "adapter_config.json").read_text())
    (lora / "adapter_config.json").write_text(json.dumps({**cfg, "peft_type": "\n"}))
    with pytest.raises(UnsupportedError) as err:
        open_checkpoint(lora)
    assert "\n" not in str(err.value) and "PEFT type '\\n'" in str(err.value)
    header, data = _header(corpus.fingerprint_path())
    text = json.dumps({"__metadata__": header["__metadata__"], "entries": ["\n---\n"]}).encode()
    fp = tmp_path / "lines.fingerprint.safetensors"
    fp.write_bytes(struct.pack("<Q", len(text)) + text + data)
    with pytest.raises(FormatError, match="unreadable fingerprint tensors") as err:
        Fingerprint.load(fp)
    assert "\n" not in str(err.value)


def test_legacy_pickle_claiming_a_4gb_string(tmp_path: Path) -> None:
    """A 168-byte legacy torch file whose pickle claims a string of ~4 GB: torch's reader allocated
    the claimed length up front (MemoryError under the fuzz memory cap)."""
    from tests.fuzz.harness import bounded

    folder = corpus.stories_meta(tmp_path / "meta")
    raw = bytearray((folder / "consolidated.00.pth").read_bytes()[:172])
    raw[0:43] = raw[133:176]  # the fuzz case: truncated, then a splice over the zip signature
    (folder / "consolidated.00.pth").write_bytes(bytes(raw))
    with bounded(), pytest.raises(FormatError, match="not a readable torch archive"):
        open_checkpoint(folder)


@pytest.mark.parametrize("number", ["Infinity", "NaN", "-Infinity", "1e999"])
def test_fingerprint_document_with_non_finite_numbers(number: str, tmp_path: Path) -> None:
    """``checkpoint.format: Infinity`` loaded, then could not be written back (or compared) anywhere."""
    header, data = _header(corpus.fingerprint_path())
    doc = header["__metadata__"]["provenance.fingerprint"]
    header["__metadata__"]["provenance.fingerprint"] = doc.replace('"format":"', f'"junk":{number},"format":"', 1)
    text = json.dumps(header).encode()
    fp = tmp_path / "inf.fingerprint.safetensors"
    fp.write_bytes(struct.pack("<Q", len(text)) + text + data)
    with pytest.raises(FormatError, match="not JSON"):
        Fingerprint.load(fp)
