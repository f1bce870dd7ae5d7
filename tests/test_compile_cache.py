"""The persistent compile cache: ``tfbundle.load(path, compile_cache=DIR)``.

A cached load must give the uncached load's outputs exactly, and TensorFlow's, on every model of
the zoo; an entry that does not belong to the load (the model rewritten in place, another
TensorFlow version, other CPU features, a truncated or corrupt file) is detected, ignored and
rewritten; a cache folder that cannot be made or written never fails the load.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import tfbundle
from _util import ModelZoo, _field, assert_outputs_match, read_varint
from makers.zoo import CASE_IDS
from tfbundle import _core

MODEL_NAMES = sorted({case_id.split("/")[0].split("@")[0] for case_id in CASE_IDS})

# The cache file's layout (cpp/compile_cache.h): magic, format, header and payload lengths,
# header, payload, masked CRC-32C of everything before it.
MAGIC = b"TFBCACHE"
HEADER_FIELDS = {"tfbundle": 1, "tensorflow": 2, "cpu": 3, "model": 4, "options": 5}


def _mask(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _parse(data: bytes) -> tuple[dict[int, bytes], bytes]:
    assert data[:8] == MAGIC
    header_len = int.from_bytes(data[12:16], "little")
    payload_len = int.from_bytes(data[16:24], "little")
    assert len(data) == 24 + header_len + payload_len + 4
    header = data[24 : 24 + header_len]
    fields: dict[int, bytes] = {}
    pos = 0
    while pos < len(header):
        tag, pos = read_varint(header, pos)
        assert tag & 7 == 2
        n, pos = read_varint(header, pos)
        fields[tag >> 3] = header[pos : pos + n]
        pos += n
    crc = int.from_bytes(data[-4:], "little")
    assert crc == _mask(_core.crc32c(data[:-4])), (
        "the stored CRC is the masked CRC-32C of the bytes before it"
    )
    return fields, data[24 + header_len : -4]


def _build(fields: dict[int, bytes], payload: bytes, fmt: int = 1) -> bytes:
    header = b"".join(_field(n, v) for n, v in sorted(fields.items()))
    body = (
        MAGIC
        + fmt.to_bytes(4, "little")
        + len(header).to_bytes(4, "little")
        + len(payload).to_bytes(8, "little")
    )
    body += header + payload
    return body + _mask(_core.crc32c(body)).to_bytes(4, "little")


def _payload_fields(payload: bytes) -> list[tuple[int, bytes | int]]:
    """The payload's fields in order: (1, pruned GraphDef) or (2, 1), then (3, compiled calls)."""
    out: list[tuple[int, bytes | int]] = []
    pos = 0
    while pos < len(payload):
        tag, pos = read_varint(payload, pos)
        value, pos = read_varint(payload, pos)
        if tag & 7 == 2:
            out.append((tag >> 3, payload[pos : pos + value]))
            pos += value
        else:
            out.append((tag >> 3, value))
    return out


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.tfbcache"))


def _cases(models: ModelZoo, model: str) -> list:
    return [models.case(c) for c in CASE_IDS if models.case(c).model == model]


def _outputs(path: Path, case, **kw) -> tuple[dict[str, np.ndarray], tfbundle.Model]:
    m = tfbundle.load(path, tags=list(case.tags), **kw)
    try:
        return m.signatures[case.signature](**case.inputs), m
    finally:
        m.close()


@pytest.fixture
def one_model(models: ModelZoo, tmp_path: Path):
    """A copy of the zoo's tf2_module (restored from the mapped checkpoint), and its cases."""
    folder = tmp_path / "model"
    shutil.copytree(models.folder("tf2_module"), folder)
    return folder, _cases(models, "tf2_module")


# ----------------------------------------------------------------------------- outputs


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_cached_load_matches_uncached_and_tensorflow(
    models: ModelZoo, model: str, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    for case in _cases(models, model):
        folder = models.folder(model)
        plain, m0 = _outputs(folder, case)
        assert m0.compile_cache is None
        first, m1 = _outputs(folder, case, compile_cache=cache)
        second, m2 = _outputs(folder, case, compile_cache=cache)
        assert m1.restore == m2.restore == m0.restore
        if m0.restore == "tf":
            assert m1.compile_cache == m2.compile_cache
            assert m2.compile_cache.startswith("unused: ")
        else:
            assert m1.compile_cache in ("miss: no cache file", "hit"), (
                m1.compile_cache
            )  # another case wrote it
            assert m2.compile_cache == "hit"
        for got, what in ((first, "cache miss"), (second, "cache hit")):
            assert_outputs_match(got, case.expected, f"{case.id} {what}")
            assert sorted(got) == sorted(plain)
            for key in plain:
                assert np.array_equal(
                    got[key], plain[key], equal_nan=got[key].dtype.kind in "fc"
                ), f"{case.id} {what}: {key} differs from the uncached load"


def test_each_restore_keeps_its_own_entry(one_model: tuple[Path, list], tmp_path: Path) -> None:
    folder, cases = one_model
    cache = tmp_path / "cache"
    case = cases[0]
    for restore in ("mmap", "graph"):
        _, m = _outputs(folder, case, compile_cache=cache, restore=restore)
        assert m.compile_cache == "miss: no cache file"
        got, m = _outputs(folder, case, compile_cache=cache, restore=restore)
        assert m.compile_cache == "hit"
        assert_outputs_match(got, case.expected, f"{case.id} restore={restore} cache hit")
    assert len(_entries(cache)) == 2
    _, m = _outputs(folder, case, compile_cache=cache, restore="tf")
    assert m.compile_cache == 'unused: TensorFlow\'s loader (restore "tf") imports the graph itself'


# ----------------------------------------------------------------------------- invalidation


def test_model_rewritten_in_place_is_detected(
    models: ModelZoo, one_model: tuple[Path, list], tmp_path: Path
) -> None:
    folder, _ = one_model
    cache = tmp_path / "cache"
    with tfbundle.load(folder, compile_cache=cache) as m:
        assert m.compile_cache == "miss: no cache file"
    # Another model written into the same folder: the entry for the folder is stale.
    other = "dtypes"
    shutil.rmtree(folder)
    shutil.copytree(models.folder(other), folder)
    for case in _cases(models, other):
        got, m = _outputs(folder, case, compile_cache=cache)
        assert m.compile_cache in ("miss: the model changed since the cache was written", "hit")
        assert_outputs_match(got, case.expected, f"{case.id} after the rewrite")
    with tfbundle.load(folder, compile_cache=cache) as m:
        assert m.compile_cache == "hit"  # the stale entry was replaced


def test_checkpoint_rewritten_in_place_is_detected(
    one_model: tuple[Path, list], tmp_path: Path
) -> None:
    folder, cases = one_model
    cache = tmp_path / "cache"
    _outputs(folder, cases[0], compile_cache=cache)
    index = folder / "variables" / "variables.index"
    data = index.read_bytes()
    index.unlink()
    index.write_bytes(data)  # the same bytes, a new file: what a new save does
    got, m = _outputs(folder, cases[0], compile_cache=cache)
    assert m.compile_cache == "miss: the model changed since the cache was written"
    assert_outputs_match(got, cases[0].expected, "after the checkpoint was rewritten")


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("tensorflow", b"0.0.1", "miss: written by TensorFlow 0.0.1 (this is "),
        ("cpu", b"x86:SomeOtherCPU:1=0000", "miss: written for a CPU with other features"),
        ("tfbundle", b"0.0.0-old", "miss: written by tfbundle 0.0.0-old (this is "),
        ("options", b"import=other", "miss: written for other load options"),
    ],
)
def test_entry_for_another_key_is_ignored(
    one_model: tuple[Path, list], tmp_path: Path, field: str, value: bytes, why: str
) -> None:
    folder, cases = one_model
    cache = tmp_path / "cache"
    _outputs(folder, cases[0], compile_cache=cache)
    (entry,) = _entries(cache)
    fields, payload = _parse(entry.read_bytes())
    fields[HEADER_FIELDS[field]] = value
    entry.write_bytes(_build(fields, payload))
    got, m = _outputs(folder, cases[0], compile_cache=cache)
    assert m.compile_cache.startswith(why), m.compile_cache
    assert_outputs_match(got, cases[0].expected, f"{field} changed")
    fields_after, _ = _parse(entry.read_bytes())
    assert fields_after[HEADER_FIELDS[field]] != value  # rewritten for this load
    _, m = _outputs(folder, cases[0], compile_cache=cache)
    assert m.compile_cache == "hit"


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        ("truncate", "miss: the cache file is truncated"),
        ("truncate_to_prefix", "miss: the cache file is truncated"),
        ("empty", "miss: the cache file is truncated"),
        ("flip", "miss: the cache file is corrupt (checksum mismatch)"),
        ("append", "miss: the cache file has bytes after its end"),
        ("format", "miss: the cache file's format is version 99 (this reads 1)"),
        ("garbage", "miss: not a tfbundle cache file"),
        ("payload", "miss: the cache file's payload is malformed"),
    ],
)
def test_damaged_entry_is_ignored(
    one_model: tuple[Path, list], tmp_path: Path, damage: str, why: str
) -> None:
    folder, cases = one_model
    cache = tmp_path / "cache"
    _outputs(folder, cases[0], compile_cache=cache)
    (entry,) = _entries(cache)
    data = entry.read_bytes()
    fields, payload = _parse(data)
    damaged = {
        "truncate": data[: len(data) // 2],
        "truncate_to_prefix": data[:20],
        "empty": b"",
        "flip": data[:-40] + bytes([data[-40] ^ 0x01]) + data[-39:],
        "append": data + b"\0",
        "format": _build(fields, payload, fmt=99),
        "garbage": b"x" * len(data),
        "payload": _build(fields, b"\xff"),  # a valid file whose payload is not protobuf
    }[damage]
    entry.write_bytes(damaged)
    got, m = _outputs(folder, cases[0], compile_cache=cache)
    assert m.compile_cache == why
    assert_outputs_match(got, cases[0].expected, f"{damage}: the load ignores the entry")
    # Rewritten whole: the same key and graph, and the call's compiled graph again (whose node
    # names TensorFlow numbers per process, so its bytes may differ).
    fields_after, payload_after = _parse(entry.read_bytes())
    assert fields_after == fields
    assert _payload_fields(payload_after)[:1] == _payload_fields(payload)[:1]
    assert 3 in dict(_payload_fields(payload_after))
    _, m = _outputs(folder, cases[0], compile_cache=cache)
    assert m.compile_cache == "hit"


# ----------------------------------------------------------------------------- the folder


def test_missing_folder_is_made(one_model: tuple[Path, list], tmp_path: Path) -> None:
    folder, cases = one_model
    cache = tmp_path / "new-cache"
    _, m = _outputs(folder, cases[0], compile_cache=str(cache))
    assert m.compile_cache == "miss: no cache file"
    assert len(_entries(cache)) == 1
    assert not [p for p in cache.iterdir() if p.name.startswith(".tmp-")], (
        "no temporary file is left behind"
    )


def test_folder_that_cannot_be_made_does_not_fail_the_load(
    one_model: tuple[Path, list], tmp_path: Path
) -> None:
    folder, cases = one_model
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for cache in (blocker / "cache", tmp_path / "no" / "such" / "parent"):
        got, m = _outputs(folder, cases[0], compile_cache=cache)
        assert m.compile_cache is not None
        assert (
            m.compile_cache.startswith("miss: ")
            and "; not written: cannot make the cache folder" in m.compile_cache
        )
        assert_outputs_match(got, cases[0].expected, "an unusable cache folder")


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into a read-only folder"
)
def test_read_only_folder_does_not_fail_the_load(
    one_model: tuple[Path, list], tmp_path: Path
) -> None:
    folder, cases = one_model
    cache = tmp_path / "ro"
    cache.mkdir()
    cache.chmod(0o555)
    try:
        got, m = _outputs(folder, cases[0], compile_cache=cache)
    finally:
        cache.chmod(0o755)
    assert m.compile_cache is not None
    assert m.compile_cache.startswith(
        "miss: no cache file; not written: cannot write in the cache folder"
    )
    assert_outputs_match(got, cases[0].expected, "a read-only cache folder")


def test_entry_that_is_not_a_file_is_ignored(one_model: tuple[Path, list], tmp_path: Path) -> None:
    folder, cases = one_model
    cache = tmp_path / "cache"
    _outputs(folder, cases[0], compile_cache=cache)
    (entry,) = _entries(cache)
    entry.unlink()
    os.mkfifo(entry)  # a FIFO must not block the load
    got, m = _outputs(folder, cases[0], compile_cache=cache)
    assert m.compile_cache == "miss: the cache entry is not a regular file"
    assert_outputs_match(got, cases[0].expected, "a FIFO in place of the entry")
    assert entry.is_file()  # replaced by the rename


def test_environment_variable_and_opt_out(
    one_model: tuple[Path, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = one_model
    cache = tmp_path / "env-cache"
    monkeypatch.setenv("TFBUNDLE_COMPILE_CACHE", str(cache))
    with tfbundle.load(folder) as m:
        assert m.compile_cache == "miss: no cache file"
    with tfbundle.load(folder) as m:
        assert m.compile_cache == "hit"
    for off in (False, ""):
        with tfbundle.load(folder, compile_cache=off) as m:
            assert m.compile_cache is None
    monkeypatch.delenv("TFBUNDLE_COMPILE_CACHE")
    with tfbundle.load(folder) as m:
        assert m.compile_cache is None


def test_bad_argument(one_model: tuple[Path, list]) -> None:
    folder, _ = one_model
    for bad in (True, 3):
        with pytest.raises(tfbundle.errors.InvalidArgumentError, match="compile_cache"):
            tfbundle.load(folder, compile_cache=bad)  # type: ignore[arg-type]


def test_cpu_features_are_in_the_key(one_model: tuple[Path, list], tmp_path: Path) -> None:
    folder, _ = one_model
    cache = tmp_path / "cache"
    tfbundle.load(folder, compile_cache=cache).close()
    (entry,) = _entries(cache)
    fields, _ = _parse(entry.read_bytes())
    cpu = fields[HEADER_FIELDS["cpu"]].decode()
    assert cpu and cpu != "unknown"
    assert fields[HEADER_FIELDS["tfbundle"]].decode() == tfbundle.__version__
    assert fields[HEADER_FIELDS["tensorflow"]].decode()
    assert fields[HEADER_FIELDS["model"]].decode().startswith("meta_graph=")


# ----------------------------------------------------------------------------- compiled calls
# A load whose calls can be compiled stores the graph TensorFlow optimized for each new call in
# the entry; a later load runs those graphs in a session of its own, and restores the model's
# session when another call comes (cpp/compiled_graph.h, cpp/session_compiled.cc).


def _compiled(m: tfbundle.Model) -> tuple[int, bool, str]:
    return m._native.compiled_calls


def _stored_calls(cache: Path) -> int:
    """How many compiled calls the (one) entry holds."""
    (entry,) = _entries(cache)
    _, payload = _parse(entry.read_bytes())
    compiled = dict(_payload_fields(payload)).get(3)
    if compiled is None:
        return 0
    assert isinstance(compiled, bytes)
    return sum(1 for number, _ in _payload_fields(compiled) if number == 2)


@pytest.fixture(scope="module")
def stateful(tf_models) -> tuple[Path, dict[str, np.ndarray]]:
    folder = tf_models("compiled_calls")
    with np.load(folder / "expected.npz") as z:
        return folder / "stateful", dict(z)


def _stored(one_model: tuple[Path, list], tmp_path: Path) -> tuple[Path, Path, object, object]:
    """tf2_module's folder, a cache whose entry holds its first case's call, that case and one of
    another signature."""
    folder, cases = one_model
    cache = tmp_path / "cache"
    first = cases[0]
    other = next(c for c in cases if c.signature != first.signature)
    _outputs(folder, first, compile_cache=cache)
    return folder, cache, first, other


def test_compiled_call_is_stored_then_run(one_model: tuple[Path, list], tmp_path: Path) -> None:
    folder, cases = one_model
    cache = tmp_path / "cache"
    first = cases[0]
    other = next(c for c in cases if c.signature != first.signature)
    _, m = _outputs(folder, first, compile_cache=cache)
    assert _compiled(m) == (0, False, "")
    assert _stored_calls(cache) == 1
    with tfbundle.load(folder, compile_cache=cache) as m:
        assert m.compile_cache == "hit"
        assert _compiled(m) == (1, True, "")
        for i in range(3):
            got = m.signatures[first.signature](**first.inputs)
            assert_outputs_match(got, first.expected, f"compiled call {i}")
        assert _compiled(m)[1], "the compiled graph still serves"
        # A call the entry does not hold: the model's own session is restored and takes every call.
        assert_outputs_match(m.signatures[other.signature](**other.inputs), other.expected, "another call")
        assert _compiled(m) == (1, False, "")
        got = m.signatures[first.signature](**first.inputs)
        assert_outputs_match(got, first.expected, "the first call, in the model's session")
    assert _stored_calls(cache) == 2, "the other call was added to the entry"
    with tfbundle.load(folder, compile_cache=cache) as m:
        assert _compiled(m) == (2, True, "")
        for case in (first, other):
            assert_outputs_match(m.signatures[case.signature](**case.inputs), case.expected, case.id)
        assert _compiled(m)[1]


def test_every_zoo_call_compiled_matches_tensorflow(models: ModelZoo, tmp_path: Path) -> None:
    """Each case's call stored, then every case run from a load holding all of them."""
    ran_compiled = []
    for model in MODEL_NAMES:
        cache = tmp_path / model
        cases = _cases(models, model)
        for case in cases:
            _outputs(models.folder(model), case, compile_cache=cache)
        for case in cases:
            with tfbundle.load(models.folder(model), tags=list(case.tags), compile_cache=cache) as m:
                active = _compiled(m)[1]
                got = m.signatures[case.signature](**case.inputs)
                if active and _compiled(m)[1]:
                    ran_compiled.append(case.id)
            assert_outputs_match(got, case.expected, f"{case.id} from the compiled entry")
    assert any(c.startswith("tf2_module/") for c in ran_compiled), ran_compiled
    assert any(c.startswith("keras_export/") for c in ran_compiled), ran_compiled


def test_raw_and_profiled_calls_leave_the_compiled_graph(
    one_model: tuple[Path, list], tmp_path: Path
) -> None:
    folder, cache, case, _ = _stored(one_model, tmp_path)
    sig_name = case.signature
    with tfbundle.load(folder, compile_cache=cache) as m:
        sig = m.signatures[sig_name]
        feeds = {sig.inputs[k].tensor_name: v for k, v in case.inputs.items()}
        fetches = {k: sig.outputs[k].tensor_name for k in case.expected}
        got = m.run(fetches, feeds)  # the signature's tensors by name: the same call
        assert_outputs_match(got, case.expected, "raw run of the same tensors")
        assert _compiled(m)[1], "a run of the same feeds and fetches is the compiled call"
        name = next(iter(fetches.values()))
        twice = m.run([name, name], feeds)  # another fetch list: another call
        key = next(iter(fetches))
        for got_one in twice:
            assert_outputs_match({key: got_one}, {key: case.expected[key]}, "raw run, another call")
        assert _compiled(m)[1] is False
    with tfbundle.load(folder, compile_cache=cache) as m:
        assert _compiled(m)[1]
        m.profile(case.inputs, sig_name)
        assert _compiled(m)[1] is False, "a profile reports the model's own graph"
        got = m.signatures[sig_name](**case.inputs)
        assert_outputs_match(got, case.expected, "after the profile")


def test_calls_in_threads_while_the_model_session_takes_over(
    one_model: tuple[Path, list], tmp_path: Path
) -> None:
    import threading

    folder, cache, first, other = _stored(one_model, tmp_path)
    errors: list[BaseException] = []
    with tfbundle.load(folder, compile_cache=cache) as m:
        assert _compiled(m)[1]
        start = threading.Barrier(5)

        def call(case, n: int) -> None:
            try:
                start.wait()
                for _ in range(n):
                    assert_outputs_match(m.signatures[case.signature](**case.inputs), case.expected, case.id)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=call, args=(first, 200)) for _ in range(4)]
        threads.append(threading.Thread(target=call, args=(other, 20)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not _compiled(m)[1]
    assert not errors, errors[0]


def test_stateful_calls_are_not_compiled(stateful, tmp_path: Path) -> None:
    folder, expected = stateful
    cache = tmp_path / "cache"
    with tfbundle.load(folder, compile_cache=cache) as m:
        np.testing.assert_array_equal(m.signatures["predict"](x=expected["x"])["y"], expected["y"])
        for name in ("count", "noisy"):
            m.signatures[name](**({"x": np.zeros(3, np.float32)} if name == "noisy" else {}))
            note = _compiled(m)[2]
            assert note.startswith("a call was not compiled: the optimized graph holds a stateful op ("), note
    assert _stored_calls(cache) == 1, "only the pure call is stored"
    with tfbundle.load(folder, compile_cache=cache) as m:
        assert _compiled(m)[:2] == (1, True)
        np.testing.assert_array_equal(m.signatures["predict"](x=expected["x"])["y"], expected["y"])
        # The counter: its updates happen in the model's own session, which every call then uses.
        m.signatures["count"]()
        assert _compiled(m)[1] is False
        m.signatures["count"]()
        np.testing.assert_array_equal(m.signatures["read"]()["calls"], expected["calls"])
        np.testing.assert_array_equal(m.signatures["predict"](x=expected["x"])["y"], expected["y"])


def test_malformed_compiled_calls_are_ignored(one_model: tuple[Path, list], tmp_path: Path) -> None:
    folder, cases = one_model
    cache = tmp_path / "cache"
    case = cases[0]
    _outputs(folder, case, compile_cache=cache)
    (entry,) = _entries(cache)
    fields, payload = _parse(entry.read_bytes())
    graph_fields = b"".join(
        _field(n, v) if isinstance(v, bytes) else bytes([n << 3, v]) for n, v in _payload_fields(payload) if n != 3
    )
    for bad in (b"\xff\xff", _field(2, _field(4, b"no_such_node:0")), _field(1, b"")):
        entry.write_bytes(_build(fields, graph_fields + _field(3, bad)))
        got, m = _outputs(folder, case, compile_cache=cache)
        assert m.compile_cache == "hit"
        assert _compiled(m) == (0, False, "the cache entry's compiled calls are malformed")
        assert_outputs_match(got, case.expected, "compiled calls ignored")


def test_grappler_setting_and_onednn_switch_are_in_the_key(
    one_model: tuple[Path, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compiled calls hold what grappler and oneDNN's rewrites made: an entry made under other
    settings is not used."""
    folder, cases = one_model
    cache = tmp_path / "cache"
    _outputs(folder, cases[0], compile_cache=cache)
    _, m = _outputs(folder, cases[0], compile_cache=cache, grappler="tensorflow")
    assert m.compile_cache == "miss: written for other load options"
    _, m = _outputs(folder, cases[0], compile_cache=cache, grappler="tensorflow")
    assert m.compile_cache == "hit"
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    got, m = _outputs(folder, cases[0], compile_cache=cache, grappler="tensorflow")
    assert m.compile_cache == "miss: written for other load options"
    assert_outputs_match(got, cases[0].expected, "another oneDNN setting")


def test_compiled_call_takes_other_batch_sizes(stateful, tmp_path: Path) -> None:
    """The stored graph is the session's executor graph, which serves every batch size."""
    folder, expected = stateful
    cache = tmp_path / "cache"
    with tfbundle.load(folder, compile_cache=cache) as m:
        np.testing.assert_array_equal(m.signatures["predict"](x=expected["x"])["y"], expected["y"])
    rng = np.random.default_rng(5)
    with tfbundle.load(folder, compile_cache=cache) as m, tfbundle.load(folder) as plain:
        for rows in (1, 7, 0, 2):
            x = rng.normal(size=(rows, 4)).astype(np.float32)
            got = m.signatures["predict"](x=x)["y"]
            assert got.shape == (rows, 3)
            np.testing.assert_array_equal(got, plain.signatures["predict"](x=x)["y"])
        assert m.compiled_calls == 1


def test_leaving_the_compiled_graph_restores_what_the_load_read(
    one_model: tuple[Path, list], tmp_path: Path
) -> None:
    """The model's session is restored from the load's own reading of the checkpoint: a data shard
    replaced since (here by a damaged copy) changes nothing."""
    folder, cache, first, other = _stored(one_model, tmp_path)
    with tfbundle.load(folder, compile_cache=cache) as m:
        assert m.compiled_calls == 1
        (shard,) = (folder / "variables").glob("variables.data-*")
        damaged = bytearray(shard.read_bytes())
        for i in range(len(damaged)):
            damaged[i] ^= 0xFF
        replacement = shard.with_name(shard.name + ".new")
        replacement.write_bytes(bytes(damaged))
        os.replace(replacement, shard)
        assert_outputs_match(m.signatures[other.signature](**other.inputs), other.expected, "after the shard changed")
        assert m.compiled_calls == 0
        assert_outputs_match(m.signatures[first.signature](**first.inputs), first.expected, "the first call again")


def test_loads_that_store_no_calls_say_why(models: ModelZoo, tmp_path: Path) -> None:
    case = next(c for c in _cases(models, "tf1_simple"))
    with tfbundle.load(models.folder("tf1_simple"), compile_cache=tmp_path / "cache") as m:
        m.signatures[case.signature](**case.inputs)
        assert m.compile_cache is not None and not m.compile_cache.startswith("unused")
        assert _compiled(m) == (0, False, "calls are not stored: only the mapped restore of a TF2 export stores them")


def _rewrite_compiled(entry: Path, graph_def_tail: bytes = b"", feed: bytes | None = None) -> None:
    """Rewrites the entry's compiled calls: `graph_def_tail` appended to their GraphDef, each
    call's feeds replaced by `feed`."""
    fields, payload = _parse(entry.read_bytes())
    out = b""
    for number, value in _payload_fields(payload):
        if number != 3:
            out += _field(number, value) if isinstance(value, bytes) else bytes([number << 3, value])
            continue
        assert isinstance(value, bytes)
        compiled = b""
        for n, v in _payload_fields(value):
            assert isinstance(v, bytes)
            if n == 1:
                v += graph_def_tail
            elif n == 2 and feed is not None:
                v = b"".join(_field(cn, cv if cn != 1 else feed) for cn, cv in _payload_fields(v))  # type: ignore[arg-type]
            compiled += _field(n, v)
        out += _field(3, compiled)
    entry.write_bytes(_build(fields, out))


def _node(name: bytes, op: bytes) -> bytes:
    return _field(1, _field(1, name) + _field(2, op))  # GraphDef.node {name, op}


@pytest.mark.parametrize(
    ("damage", "note"),
    [
        ({"graph_def_tail": _node(b"odd", b"NoSuchOpAnywhere")}, "TensorFlow refused the compiled graph: "),
        (
            {"graph_def_tail": _node(b"ghost", b"VarHandleOp")},
            "the compiled calls read the variable ghost, which this load does not restore",
        ),
        ({"feed": b"no_such_tensor:0"}, "a compiled call names a tensor the model's graph does not have"),
    ],
)
def test_compiled_calls_that_do_not_fit_the_load_are_not_run(
    one_model: tuple[Path, list], tmp_path: Path, damage: dict, note: str
) -> None:
    folder, cache, first, other = _stored(one_model, tmp_path)
    (entry,) = _entries(cache)
    _rewrite_compiled(entry, **damage)
    with tfbundle.load(folder, compile_cache=cache) as m:
        assert m.compile_cache == "hit"
        count, active, why = _compiled(m)
        assert (count, active) == (0, False) and why.startswith(note), why
        for case in (first, other):
            assert_outputs_match(m.signatures[case.signature](**case.inputs), case.expected, case.id)


def test_a_call_whose_entry_is_gone_is_not_written(one_model: tuple[Path, list], tmp_path: Path) -> None:
    folder, cases = one_model
    cache = tmp_path / "cache"
    with tfbundle.load(folder, compile_cache=cache) as m:
        (entry,) = _entries(cache)
        entry.unlink()
        assert_outputs_match(m.signatures[cases[0].signature](**cases[0].inputs), cases[0].expected, "stored")
        assert _compiled(m)[2] == "the compiled calls were not written: the cache entry is gone (no cache file)"
    assert not _entries(cache)
