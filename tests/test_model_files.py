"""What TensorFlow's loader will read is checked before it reads anything.

- Assets must resolve inside ``assets/``: an AssetFileDef filename that climbs out with ``..``,
  an absolute path, a symlink leading out of the folder (or an ``assets/`` that is one). The
  core's load plan refuses such a model for every loader (PermissionDeniedError naming the
  asset), ``tfbundle.inspect`` flags the asset (``AssetInfo.problem``), and the policy and
  ``tfbundle scan`` report it as denied.
- No hang on a FIFO (or a socket, a device) where a model file should be: saved_model.pb,
  fingerprint.pb, variables/variables.index, a data shard, an asset; nor in open_checkpoint's
  data shard. Those tests run in a child process with a timeout, so a regression fails instead
  of hanging the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tfbundle
from _util import tfbundle_env
from tfbundle import _core
from tfbundle import _proto as pb
from tfbundle._readers.policy import asset_findings, check_saved_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuzz"))
import bundle_writer

SECRET = "the secret outside the model\n"


def _node(graph: object, name: str, op: str, *inputs: str, **types: int) -> None:
    n = graph.node.add(name=name, op=op, input=list(inputs))  # type: ignore[attr-defined]
    for key, value in types.items():
        n.attr[key].type = value


def asset_model(folder: Path, filename: str, *, packed: bool = False, vocab: str | None = "inside\n") -> Path:
    """A loadable SavedModel whose init op reads its one asset (ReadFile of the fed path).

    `packed`: the asset as TF1's SavedModelBuilder wrote it, an AssetFileDef packed in the
    saved_model_assets collection. `vocab`: the content of assets/vocab.txt (None: no assets/).
    """
    mg = pb.MetaGraphDef()
    mg.meta_info_def.tags.append("serve")
    g = mg.graph_def
    _node(g, "x", "Placeholder", dtype=1)
    _node(g, "y", "Identity", "x", T=1)
    _node(g, "asset_path", "Placeholder", dtype=7)
    _node(g, "read", "ReadFile", "asset_path")
    _node(g, "init", "NoOp", "^read")
    mg.collection_def["saved_model_main_op"].node_list.value.append("init")
    asset = pb.AssetFileDef(filename=filename)
    asset.tensor_info.name = "asset_path:0"
    asset.tensor_info.dtype = 7
    if packed:
        mg.collection_def["saved_model_assets"].any_list.value.add(
            type_url="type.googleapis.com/tensorflow.AssetFileDef", value=asset.SerializeToString()
        )
    else:
        mg.asset_file_def.append(asset)
    sig = mg.signature_def["serving_default"]
    sig.method_name = "tensorflow/serving/predict"
    for side, key, name in ((sig.inputs, "x", "x:0"), (sig.outputs, "y", "y:0")):
        side[key].name = name
        side[key].dtype = 1
        side[key].tensor_shape.unknown_rank = True
    folder.mkdir(parents=True)
    saved_model = pb.SavedModel(saved_model_schema_version=1, meta_graphs=[mg])
    (folder / "saved_model.pb").write_bytes(saved_model.SerializeToString())
    if vocab is not None:
        (folder / "assets").mkdir()
        (folder / "assets" / "vocab.txt").write_text(vocab)
    return folder


def _outside(tmp_path: Path) -> Path:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    return secret


# ------------------------------------------------------------------------ assets ---


def _escaping_models(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (model folder, what its asset's problem says)."""
    secret = _outside(tmp_path)
    out = {}
    out["dotdot"] = (asset_model(tmp_path / "dotdot", "../../secret.txt"), "climbs out")
    out["etc_passwd"] = (asset_model(tmp_path / "etc", "../../../../etc/passwd"), "climbs out")
    out["inner_dotdot"] = (asset_model(tmp_path / "inner", "sub/../../../secret.txt"), "climbs out")
    out["absolute"] = (asset_model(tmp_path / "absolute", str(secret)), "absolute path")
    out["packed"] = (asset_model(tmp_path / "packed", "../../secret.txt", packed=True), "climbs out")
    link = asset_model(tmp_path / "link", "evil.txt")
    (link / "assets" / "evil.txt").symlink_to(secret)
    out["symlink"] = (link, "symlink leading out")
    relative = asset_model(tmp_path / "relative", "evil.txt")
    (relative / "assets" / "evil.txt").symlink_to("../../secret.txt")
    out["relative_symlink"] = (relative, "symlink leading out")
    dangling = asset_model(tmp_path / "dangling", "evil.txt")
    (dangling / "assets" / "evil.txt").symlink_to(tmp_path / "no-such-file")
    out["dangling_symlink"] = (dangling, "symlink leading out")  # judged alike, whether the target exists or not
    hop = asset_model(tmp_path / "hop", "sub/evil.txt")
    (hop / "assets" / "sub").symlink_to(tmp_path)
    out["folder_symlink"] = (hop, "symlink leading out")
    moved = asset_model(tmp_path / "moved", "secret.txt", vocab=None)
    (moved / "assets").symlink_to(tmp_path)
    out["assets_symlink"] = (moved, "assets/ folder that is a symlink")
    return out


def test_inspect_flags_assets_outside_the_folder(tmp_path: Path) -> None:
    for name, (folder, why) in _escaping_models(tmp_path).items():
        (asset,) = tfbundle.inspect(folder).meta_graph().assets
        assert why in asset.problem, (name, asset)
        assert asset.denied and not asset.exists, name  # never looked up outside the folder
        found = asset_findings([asset])
        assert [f.denied for f in found] == [True] and found[0].op == f"asset:{asset.filename}"
        with pytest.raises(tfbundle.PermissionDeniedError, match="outside the model's assets/ folder"):
            check_saved_model(folder, allowed_ops=())


def test_assets_inside_the_folder_are_fine(tmp_path: Path) -> None:
    plain = asset_model(tmp_path / "plain", "vocab.txt")
    inner = asset_model(tmp_path / "inner", "alias.txt")
    (inner / "assets" / "alias.txt").symlink_to("vocab.txt")  # a symlink inside the folder
    sub = asset_model(tmp_path / "sub", "sub/vocab.txt")  # in a folder inside assets/
    (sub / "assets" / "sub").mkdir()
    (sub / "assets" / "sub" / "vocab.txt").write_text("inside\n")
    missing = asset_model(tmp_path / "missing", "gone.txt")
    for folder, exists in ((plain, True), (inner, True), (sub, True), (missing, False)):
        (asset,) = tfbundle.inspect(folder).meta_graph().assets
        assert asset.problem == "" and not asset.denied and asset.exists is exists, asset
        assert asset_findings([asset]) == []
        check_saved_model(folder, allowed_ops=("ReadFile",))


def test_scan_reports_assets_outside_the_folder(tmp_path: Path) -> None:
    folder, _ = _escaping_models(tmp_path)["etc_passwd"]
    env = tfbundle_env()
    r = subprocess.run([sys.executable, "-m", "tfbundle", "scan", str(folder)], capture_output=True, text=True,
                       env=env, check=False, timeout=120)  # fmt: skip
    assert r.returncode == 1, r.stderr
    assert "asset '../../../../etc/passwd'" in r.stdout and "DENIED" in r.stdout
    assert "asset files outside its assets/ folder" in r.stdout
    r = subprocess.run([sys.executable, "-m", "tfbundle", "scan", str(folder), "--json"], capture_output=True,
                       text=True, env=env, check=False, timeout=120)  # fmt: skip
    assert r.returncode == 1 and '"asset:../../../../etc/passwd"' in r.stdout


@pytest.mark.needs_tensorflow  # loads with TensorFlow's C library
def test_load_refuses_assets_outside_the_folder_before_tensorflow_reads_them(tmp_path: Path) -> None:
    for name, (folder, _) in _escaping_models(tmp_path).items():
        with pytest.raises(tfbundle.PermissionDeniedError, match=r"asset file .*outside the model") as e:
            tfbundle.load(folder)
        assert "'" + tfbundle.inspect(folder).meta_graph().assets[0].filename + "'" in str(e.value), name
        # The core's load plan refuses it for its other loaders too (graph import, mmap restore).
        for restore in ("graph", "mmap"):
            with pytest.raises(tfbundle.PermissionDeniedError, match="asset file"):
                _core.NativeModel.load(export_dir=str(folder), tags=["serve"], restore=restore)


@pytest.mark.needs_tensorflow
def test_load_reads_assets_inside_the_folder(tmp_path: Path) -> None:
    plain = asset_model(tmp_path / "plain", "vocab.txt")
    inner = asset_model(tmp_path / "inner", "alias.txt", packed=True)
    (inner / "assets" / "alias.txt").symlink_to("vocab.txt")
    for folder in (plain, inner):
        with tfbundle.load(folder) as model:
            assert model.signatures["serving_default"](x=[3.0])["y"].tolist() == [3.0]


# ------------------------------------------------------------------------- FIFOs ---

_LOAD = """
import sys, tfbundle
try:
    {call}
except tfbundle.Error as e:
    print(type(e).__name__ + ": " + str(e))
else:
    print("loaded")
"""


def _guarded(call: str, timeout: float = 240) -> str:
    """Runs `call` in a child process; a hang fails the test after `timeout` seconds."""
    env = tfbundle_env(TF_CPP_MIN_LOG_LEVEL="3")
    try:
        r = subprocess.run([sys.executable, "-c", textwrap.dedent(_LOAD.format(call=call))], capture_output=True,
                           text=True, env=env, timeout=timeout, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"{call} hung (no answer in {timeout} s)")
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout.strip()


def _fifo(path: Path) -> Path:
    if path.exists() or path.is_symlink():
        path.unlink()
    os.mkfifo(path)
    return path


def test_open_checkpoint_refuses_a_fifo_data_shard(tmp_path: Path) -> None:
    index, _shard = bundle_writer.sample_bundle()
    (tmp_path / "ckpt.index").write_bytes(index)
    _fifo(tmp_path / "ckpt.data-00000-of-00001")
    out = _guarded(f"tfbundle.open_checkpoint({str(tmp_path / 'ckpt')!r})['dense/kernel']", timeout=60)
    assert out.startswith("FailedPreconditionError") and "not a regular file" in out, out


def test_inspect_refuses_a_fifo_saved_model(tmp_path: Path) -> None:
    folder = asset_model(tmp_path / "m", "vocab.txt")
    _fifo(folder / "saved_model.pb")
    (folder / "saved_model.pbtxt").write_text("")
    out = _guarded(f"tfbundle.inspect({str(folder)!r})", timeout=60)
    assert out.startswith("FailedPreconditionError") and "saved_model.pb is a FIFO" in out, out


@pytest.mark.needs_tensorflow
@pytest.mark.parametrize(
    "where",
    ["saved_model.pb", "fingerprint.pb", "variables/variables.index", "variables/variables.data-00000-of-00001",
     "assets/vocab.txt"],
)  # fmt: skip
def test_load_refuses_a_fifo_where_a_model_file_should_be(tmp_path: Path, where: str) -> None:
    folder = asset_model(tmp_path / "m", "vocab.txt")
    (folder / "variables").mkdir()
    index, shard = bundle_writer.sample_bundle()
    (folder / "variables" / "variables.index").write_bytes(index)
    (folder / "variables" / "variables.data-00000-of-00001").write_bytes(shard)
    _fifo(folder / where)
    out = _guarded(f"tfbundle.load({str(folder)!r})")
    assert out.startswith("FailedPreconditionError"), out
    assert "FIFO" in out and Path(where).name in out, out


def test_inspect_refuses_a_socket_saved_model(tmp_path: Path) -> None:
    """A socket (as a FIFO) where saved_model.pb should be: refused, never opened."""
    import socket

    folder = asset_model(tmp_path / "m", "vocab.txt")
    (folder / "saved_model.pb").unlink()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(folder / "saved_model.pb"))
        out = _guarded(f"tfbundle.inspect({str(folder)!r})", timeout=60)
    assert out.startswith("FailedPreconditionError") and "saved_model.pb is a socket" in out, out
