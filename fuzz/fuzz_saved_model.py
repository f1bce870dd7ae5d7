"""Differential atheris fuzz target: tfbundle's SavedModel reading against protobuf's.

Each input is a serialized SavedModel (saved_model.pb). When the ``protobuf`` package parses it
(with the project's generated classes, as TensorFlow's loader parses it with protobuf), the facts
that a load and the op policy depend on are computed from that parse and read by tfbundle's C++
core from a folder holding the same bytes (``tfbundle.inspect(..., ops=True)``): tags,
signatures and their tensors, init op, assets, SaverDef, op counts and policy counts
(saved_model_facts.py). A difference is a finding (Mismatch is raised), as is any exception
other than tfbundle's own error for bytes protobuf refuses too, a crash or a sanitizer report.

The custom mutator works on the wire format: it walks into a random nested message and there
duplicates a field (two graph_defs, a map entry given twice), splits a message field into two
occurrences, changes a field's wire type, moves, deletes or mutates one; otherwise libFuzzer
mutates the raw bytes. Those are the inputs where a hand-written reader parts from protobuf's
rules (last scalar wins, messages merge, repeated fields concatenate, the last map entry wins).

Bounded run (as the tests run it):

    PYTHONPATH=python python fuzz/fuzz_saved_model.py -atheris_runs=3000

Seeds: small SavedModels made here with the generated classes, plus every saved_model.pb of at
most 256 KiB under $TFBUNDLE_TEST_CACHE and $TFBUNDLE_TESTDATA (or ../shared/testdata). Extra
arguments are passed to libFuzzer (a corpus folder, -max_total_time=60, -seed=1).
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
import saved_model_facts as facts
from bundle_writer import varint

HERE = Path(__file__).resolve().parent
MAX_SEED = 1 << 18

#: Every seed (libFuzzer drops corpus entries whose coverage it cannot see: the C++ core is not
#: instrumented, so the mutator restarts from a random seed now and then).
SEEDS: list[bytes] = []

#: The folder each input is written to (one saved_model.pb, rewritten per run).
WORK: Path = Path(tempfile.gettempdir())


def _testdata_roots() -> list[Path]:
    roots = []
    if os.environ.get("TFBUNDLE_TEST_CACHE"):
        roots.append(Path(os.environ["TFBUNDLE_TEST_CACHE"]))
    env = os.environ.get("TFBUNDLE_TESTDATA")
    roots.append(Path(env) if env else HERE.parents[1] / "shared" / "testdata")
    return [r for r in roots if r.is_dir()]


def write_seeds(folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    seeds = facts.seed_models()
    for root in _testdata_roots():
        for path in sorted(root.rglob("saved_model.pb")):
            if path.is_file() and path.stat().st_size <= MAX_SEED:
                seeds.append(path.read_bytes())
    for i, seed in enumerate(seeds):
        (folder / f"seed-{i:03d}").write_bytes(seed)
    SEEDS.extend(seeds)
    return len(seeds)


# ----------------------------------------------------------------------- mutator ---

Field = tuple[int, int, Any]  # (number, wire type, int value or bytes payload)


def decode(data: bytes) -> list[Field] | None:
    """The fields of a message, or None when `data` is not one (groups included: left alone)."""
    fields: list[Field] = []
    i = 0
    try:
        while i < len(data):
            tag, i = _readvarint(data, i)
            number, wire = tag >> 3, tag & 7
            if number == 0 or tag > 0xFFFFFFFF:
                return None
            if wire == 0:
                value, i = _readvarint(data, i)
            elif wire == 1:
                value, i = data[i : i + 8], i + 8
            elif wire == 5:
                value, i = data[i : i + 4], i + 4
            elif wire == 2:
                n, i = _readvarint(data, i)
                value, i = data[i : i + n], i + n
            else:
                return None
            if i > len(data):
                return None
            fields.append((number, wire, value))
    except IndexError:
        return None
    return fields


def _readvarint(data: bytes, i: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        b = data[i]
        i += 1
        out |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return out, i
        if shift >= 70:
            raise IndexError("varint too long")


def encode(fields: list[Field]) -> bytes:
    out = bytearray()
    for number, wire, value in fields:
        out += varint(number << 3 | wire)
        if wire == 0:
            out += varint(value)
        elif wire == 2:
            out += varint(len(value)) + value
        else:
            out += value
    return bytes(out)


def _is_message(payload: bytes) -> bool:
    fields = decode(payload)
    return bool(fields)


def _mutate_level(fields: list[Field], rng: random.Random) -> list[Field]:
    i = rng.randrange(len(fields))
    number, wire, value = fields[i]
    what = rng.randrange(8)
    if what == 0:  # give a field twice (a message then merges, a scalar's last wins, a map entry repeats)
        fields.insert(rng.randrange(i + 1, len(fields) + 1), fields[i])
    elif what == 1 and wire == 2 and _is_message(value):  # split a message field into two occurrences
        parts = decode(value) or []
        cut = rng.randrange(len(parts) + 1)
        fields[i : i + 1] = [(number, 2, encode(parts[:cut])), (number, 2, encode(parts[cut:]))]
    elif what == 2 and wire == 2 and _is_message(value):  # give it again with one field changed
        parts = decode(value) or []
        j = rng.randrange(len(parts))
        parts[j] = _mutate_value(parts[j], rng)
        again = encode(parts if rng.randrange(2) else [parts[j]])
        fields.insert(rng.randrange(i + 1, len(fields) + 1), (number, 2, again))
    elif what == 3:  # the other wire type (a field protobuf then skips as unknown)
        fields[i] = (number, 0, len(value)) if wire == 2 else (number, 2, varint(value) if wire == 0 else value)
    elif what == 4:  # move it to the end
        fields.append(fields.pop(i))
    elif what == 5 and len(fields) > 1:
        del fields[i]
    elif what == 6:  # another field number near it
        fields[i] = (max(1, number + rng.choice([-1, 1, 2])), wire, value)
    else:
        fields[i] = _mutate_value(fields[i], rng)
    return fields


def _mutate_value(field: Field, rng: random.Random) -> Field:
    number, wire, value = field
    if wire == 0:
        return (number, 0, rng.getrandbits(rng.choice([1, 7, 32, 64])))
    if wire == 2:
        return (number, 2, atheris.Mutate(value, len(value) + 32))
    return (number, wire, bytes(rng.getrandbits(8) for _ in value))  # fixed32 / fixed64


def mutate_structure(data: bytes, rng: random.Random, depth: int = 0) -> bytes | None:
    fields = decode(data)
    if not fields:
        return None
    nested = [i for i, (_, wire, value) in enumerate(fields) if wire == 2 and _is_message(value)]
    if nested and depth < 12 and rng.random() < 0.75:
        i = rng.choice(nested)
        number, _, value = fields[i]
        inner = mutate_structure(value, rng, depth + 1)
        if inner is not None:
            fields[i] = (number, 2, inner)
            return encode(fields)
    return encode(_mutate_level(fields, rng))


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    if SEEDS and seed % 7 == 0:
        data = SEEDS[(seed // 7) % len(SEEDS)]
    if seed % 3 != 0:
        rng = random.Random(seed)
        for _ in range(1 + rng.randrange(3)):
            mutated = mutate_structure(data, rng)
            if mutated is None:
                break
            data = mutated
        else:
            if len(data) <= max_size:
                return data
    return atheris.Mutate(data, max_size)


# -------------------------------------------------------------------------- target ---


#: Inputs run, and of them those compared (both protobuf and tfbundle read them, or both refused
#: them); the rest protobuf refused, or its runtimes disagree on (see fuzz/README.md).
COUNTS = {"inputs": 0, "compared": 0}


def test_one_input(data: bytes) -> None:
    COUNTS["inputs"] += 1
    if facts.compare(data, folder=WORK) is not None:
        COUNTS["compared"] += 1


def _report() -> None:
    n, c = COUNTS["inputs"], COUNTS["compared"]
    print(f"fuzz_saved_model: {n} inputs, {c} compared", file=sys.stderr)


def main() -> None:
    global WORK
    argv = list(sys.argv)
    # One folder, rewritten each run (libFuzzer ends the process with exit(): no cleanup runs).
    default_root = Path(tempfile.gettempdir()) / f"tfbundle-fuzz-saved-model-{os.getuid()}"
    root = Path(os.environ.get("TFBUNDLE_FUZZ_DIR") or default_root)
    shutil.rmtree(root, ignore_errors=True)
    WORK = root / "model"
    WORK.mkdir(parents=True)
    seeds = root / "seeds"
    count = write_seeds(seeds)
    print(f"fuzz_saved_model: {count} seeds in {seeds}", file=sys.stderr)
    atexit.register(_report)
    if not any(not a.startswith("-") for a in argv[1:]):  # no corpus folder given: start from the seeds
        argv.append(str(seeds))
    if not any(a.startswith("-max_len=") for a in argv):
        argv.append(f"-max_len={MAX_SEED}")
    atheris.Setup(argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()  # ends the process: a difference raises (a finding) before _report runs


if __name__ == "__main__":
    main()
