"""Models and signatures pickle by reference (path, tags, load options) and load again where they
land; other objects bound to native resources refuse pickling with a message that says what to do;
the checkpoint reader's copying read survives the file being rewritten in place."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import tfbundle
from tfbundle.cli.demo import demo_model_path


@pytest.fixture(scope="module")
def demo() -> Iterator[tfbundle.Model]:
    model = tfbundle.load(demo_model_path())
    yield model
    model.close()


def test_model_and_signature_pickle_by_reference(demo: tfbundle.Model) -> None:
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    want = demo(x=x)
    copy = pickle.loads(pickle.dumps(demo))
    try:
        assert copy is not demo and copy.path == demo.path and copy.tags == demo.tags
        assert copy._reference == demo._reference
        got = copy(x=x)
        assert got.keys() == want.keys() and all(np.array_equal(got[k], want[k]) for k in want)
    finally:
        copy.close()
    assert not demo.closed  # the copy has its own session
    sig = pickle.loads(pickle.dumps(demo.signatures["logits"]))
    assert sig.name == "logits" and np.array_equal(sig(x=x)["logits"], demo.signatures["logits"](x=x)["logits"])


def test_pickle_keeps_tags_and_load_options_and_lands_in_another_process(tmp_path: Path) -> None:
    model = tfbundle.load(
        demo_model_path(), "serve", intra_op_threads=1, restore="tf", allowed_ops=iter(()), grappler="tensorflow"
    )
    model.close()  # a closed model pickles too (a reference), and is loaded open
    blob = tmp_path / "model.pickle"
    blob.write_bytes(pickle.dumps((model, model.signatures["serving_default"])))
    code = textwrap.dedent(
        """
        import pickle, sys, numpy as np
        model, sig = pickle.loads(open(sys.argv[1], "rb").read())
        assert not model.closed and model.restore == "tf", model.restore
        options = dict(model._reference.options)
        assert options["intra_op_threads"] == 1 and options["allowed_ops"] == (), options
        assert options["grappler"] == "tensorflow", options
        print(sorted(model.tags), sig.name, model(x=np.ones((1, 4), np.float32))["class_ids"].tolist())
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(Path(tfbundle.__file__).parents[1]),
                                                                   os.environ.get("PYTHONPATH")) if p)}
    out = subprocess.run([sys.executable, "-c", code, str(blob)], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    with tfbundle.load(demo_model_path()) as here:
        want = here(x=np.ones((1, 4), np.float32))["class_ids"].tolist()
    assert out.stdout.strip().split(maxsplit=2) == ["['serve']", "serving_default", str(want)]


def test_model_not_made_by_load_refuses_pickling_with_what_to_do(demo: tfbundle.Model) -> None:
    bare = tfbundle.Model(demo._native, demo.path, demo.tags)  # as the graph loaders make theirs
    for obj, what in ((bare, "load it again"), (bare.signatures["serving_default"], ".signatures[name]")):
        with pytest.raises(tfbundle.InvalidTypeError, match=r"cannot be pickled") as info:
            pickle.dumps(obj)
        assert isinstance(info.value, TypeError) and isinstance(info.value, tfbundle.Error)
        assert what in str(info.value)


def test_checkpoint_reader_and_repository_refuse_pickling(tmp_path: Path) -> None:
    with tfbundle.open_checkpoint(demo_model_path()) as reader, pytest.raises(
        tfbundle.InvalidTypeError, match=r"tfbundle\.open_checkpoint"
    ):
        pickle.dumps(reader)
    import shutil

    shutil.copytree(demo_model_path(), tmp_path / "repo" / "1")
    repo = tfbundle.ModelRepository(tmp_path / "repo", poll_interval=None)
    try:
        with pytest.raises(tfbundle.InvalidTypeError, match="ModelRepository"):
            pickle.dumps(repo)
    finally:
        repo.close()


def test_copying_read_owns_its_memory(tmp_path: Path) -> None:
    """A view dies with SIGBUS when its file is truncated under it; a copy does not."""
    import shutil

    for run in ("copy-only", "touch-view"):
        shutil.copytree(demo_model_path(), tmp_path / run)
    code = textwrap.dedent(
        f"""
        import os, sys, numpy as np, tfbundle
        prefix = os.path.join({str(tmp_path)!r}, sys.argv[1], "variables", "variables")
        reader = tfbundle.open_checkpoint(prefix + ".index")
        numeric = [k for k in reader.keys() if reader.spec(k).tf_dtype != "DT_STRING"]
        name = max(numeric, key=lambda k: reader.spec(k).nbytes)
        copy = reader.get_tensor(name, copy=True)
        view = reader.get_tensor(name)
        assert copy.flags.owndata and copy.flags.writeable and not view.flags.writeable
        want = np.array(view)
        for shard in os.listdir(os.path.dirname(prefix)):
            if ".data-" in shard:
                os.truncate(os.path.join(os.path.dirname(prefix), shard), 0)  # rewritten in place
        assert np.array_equal(copy, want)
        print("copy ok", flush=True)
        if sys.argv[1] == "touch-view":
            float(np.sum(view))  # reads the truncated mapping
        print("view ok", flush=True)
        """
    )
    ok = subprocess.run([sys.executable, "-c", code, "copy-only"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split() == ["copy", "ok", "view", "ok"]
    bus = subprocess.run([sys.executable, "-c", code, "touch-view"], capture_output=True, text=True, timeout=120)
    assert bus.returncode == -7, (bus.returncode, bus.stderr)  # SIGBUS: what the docs warn of
    assert "copy ok" in bus.stdout and "view ok" not in bus.stdout
