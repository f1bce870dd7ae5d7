"""Atheris fuzz target of tfbundle's TensorBundle reader (index parser, entries, data).

Each input is an index and a data shard (``bundle_writer.pack``). The target
opens them with ``_core.BundleReader.from_bytes`` and reads everything it can:
keys, entries, every tensor with its CRC checked, partitioned variables'
slices, the object graph, ``verify_all``. Any tfbundle error is an expected
outcome; anything else (another exception, a crash, a sanitizer report) is a
finding.

The custom mutator is structure-aware: half of the time it decodes the
table, changes one entry (its key, its BundleEntryProto bytes, the header) or
the data, and writes the table back with valid block checksums, so mutations
get past the CRC check into the entry and tensor decoders; otherwise it lets
libFuzzer mutate the raw bytes.

Bounded run (tests/test_checkpoint_errors.py runs 3000 inputs):

    PYTHONPATH=python python fuzz/fuzz_index.py -atheris_runs=20000

With AddressSanitizer and UBSan (gcc), see fuzz/asan.sh. Seeds: a sample
bundle made by bundle_writer, plus every checkpoint index under
$TFBUNDLE_TESTDATA or ../shared/testdata when present. Extra arguments are
passed to libFuzzer (e.g. a corpus folder, -max_total_time=60).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

import atheris

# bundle_writer.py is beside this file (fuzz/ is not a package).
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bundle_writer as writer
from tfbundle import _core
from tfbundle.errors import Error

HERE = Path(__file__).resolve().parent

MAX_SHARD = 1 << 16

#: Every seed, kept here because libFuzzer drops corpus entries that add no
#: coverage it can see, and the C++ core is not instrumented (gcc build): the
#: mutator restarts from a random seed now and then so that all of them get
#: mutated.
SEEDS: list[bytes] = []


@atheris.instrument_func
def read_all(index: bytes, shard: bytes) -> None:
    reader = _core.BundleReader.from_bytes(index, [shard], "fuzz")
    reader.keys(include_slices=True)
    for entry in reader.entries():
        key = entry.key
        try:
            reader.entry(key)
            if entry.slices:
                for _extents, slice_key in reader.slice_parts(key):
                    reader.tensor(slice_key, True)
            else:
                value = reader.tensor(key, True)
                if key == "_CHECKPOINTABLE_OBJECT_GRAPH" and value.shape == ():
                    _core.parse_object_graph(value[()])
        except Error:
            pass
    reader.verify_all()


@atheris.instrument_func
def test_one_input(data: bytes) -> None:
    index, shard = writer.unpack(data)
    with contextlib.suppress(Error):
        read_all(index, shard[:MAX_SHARD])
    with contextlib.suppress(Error):
        _core.sstable_entries(index, False)  # the table layer without its checksums


def _mutate_structure(data: bytes, max_size: int, seed: int) -> bytes | None:
    rng = random.Random(seed)
    index, shard = writer.unpack(data)
    try:
        entries = _core.sstable_entries(index, False)
    except Error:
        return None
    if not entries:
        return None
    entries = [list(e) for e in entries]
    what = rng.randrange(6)
    if what == 5 and shard:
        shard = atheris.Mutate(shard, min(len(shard) * 2 + 16, MAX_SHARD))
    else:
        item = entries[rng.randrange(len(entries))]
        if what == 4:
            item[0] = atheris.Mutate(item[0], len(item[0]) + 16)
            entries.sort(key=lambda e: e[0])
        else:
            item[1] = atheris.Mutate(item[1], len(item[1]) + 32)
    snappy = rng.randrange(8) == 0
    per_block = rng.choice([1, 3, 16, 1 << 30])
    out = writer.pack(writer.table([tuple(e) for e in entries], per_block=per_block, snappy=snappy), shard)
    return out if len(out) <= max_size else None


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    if SEEDS and seed % 5 == 0:
        data = SEEDS[(seed // 5) % len(SEEDS)]
    if seed % 2 == 0:
        mutated = _mutate_structure(data, max_size, seed)
        if mutated is not None:
            return mutated
    return atheris.Mutate(data, max_size)


def _testdata_root() -> Path:
    env = os.environ.get("TFBUNDLE_TESTDATA")
    return Path(env) if env else HERE.parents[1] / "shared" / "testdata"


def write_seeds(folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    seeds = [writer.pack(*writer.sample_bundle())]
    root = _testdata_root()
    if root.is_dir():
        for index in sorted(root.rglob("*.index")):
            shards = sorted(index.parent.glob(index.name[: -len(".index")] + ".data-*"))
            shard = shards[0].read_bytes()[:MAX_SHARD] if shards else b""
            seeds.append(writer.pack(index.read_bytes(), shard))
    for i, seed in enumerate(seeds):
        (folder / f"seed-{i:03d}").write_bytes(seed)
    SEEDS.extend(s for s in seeds if len(s) <= 1 << 18)
    return len(seeds)


def main() -> None:
    argv = list(sys.argv)
    seeds = Path(tempfile.gettempdir()) / f"tfbundle-fuzz-seeds-{os.getuid()}"
    shutil.rmtree(seeds, ignore_errors=True)  # one folder, rewritten each run
    count = write_seeds(seeds)
    print(f"fuzz_index: {count} seeds in {seeds}", file=sys.stderr)
    if not any(not a.startswith("-") for a in argv[1:]):  # no corpus folder given: start from the seeds
        argv.append(str(seeds))
    if not any(a.startswith("-max_len=") for a in argv):
        argv.append(f"-max_len={1 << 18}")
    atheris.Setup(argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
