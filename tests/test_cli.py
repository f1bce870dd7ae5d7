"""The tfbundle command: show and run against saved_model_cli's own output; scan; errors.

saved_model_cli's text is the oracle: its functions run on each model in a TensorFlow
subprocess (see _inspect_models.py); tfbundle runs in subprocesses with the same
PYTHONHASHSEED, since both print Python sets of op names. Where saved_model_cli prints a dict
it iterates a protobuf map, whose order the upb runtime randomises in every process, so those
entries are compared as sets.
"""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import pty
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import _inspect_models as M  # noqa: N812 - the oracles, named on many lines
import tfbundle
from _util import saved_model_dirs, tfbundle_env
from makers.cli_models import MODEL_NAMES
from tfbundle import cli
from tfbundle import tf_example as examples
from tfbundle.cli import evaluate_expression, parse_run_inputs
from tfbundle.errors import InvalidArgumentError, NotFoundError, PermissionDeniedError


@pytest.fixture(params=["test models", "testdata"])
def model_dirs(request: pytest.FixtureRequest) -> list[str]:
    """Every model of makers/cli_models.py, then every SavedModel of the testdata fixture."""
    if request.param == "testdata":
        return saved_model_dirs(request.getfixturevalue("testdata"))
    imodels = request.getfixturevalue("imodels")
    return [os.path.join(imodels, name) for name in MODEL_NAMES]


def _env(**extra: str) -> dict[str, str]:
    return tfbundle_env(PYTHONHASHSEED="0", TF_CPP_MIN_LOG_LEVEL="3", **extra)


def _tfbundle(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfbundle", *args], capture_output=True, text=True,
                          env=_env(**kw.pop("env", {})), **kw, check=False)  # fmt: skip


def _split_top(text: str) -> list[str]:
    """Splits 'a: x(1, 2), b: [3, 4]' at the commas outside brackets and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0 and text[i + 1 : i + 2] == " ":
            parts.append(text[start:i])
            start = i + 2
    parts.append(text[start:])
    return parts


def normalize(text: str) -> str:
    """saved_model_cli output with dict entries (protobuf map order) sorted."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(\s*Value: \{)(.*)(, \x08\x08\})$", line)
        if m:
            line = m.group(1) + ", ".join(sorted(_split_top(m.group(2)))) + m.group(3)
        if re.match(r"^\s*Named Argument #1$", line):
            names = []
            while i + 1 < len(lines) and re.match(r"^\s*Named Argument #\d+$", lines[i]):
                names.append(lines[i + 1])
                i += 2
            indent = re.match(r"^(\s*)", line).group(1)
            for k, name in enumerate(sorted(names), 1):
                out += [f"{indent}Named Argument #{k}", name]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def test_normalize() -> None:
    a = (
        "  x\n          Value: {'b': T(shape=(1, 2), name='b'), 'a': 1, \b\b}\n"
        "        Named Argument #1\n          z\n        Named Argument #2\n          y\nend"
    )
    b = (
        "  x\n          Value: {'a': 1, 'b': T(shape=(1, 2), name='b'), \b\b}\n"
        "        Named Argument #1\n          y\n        Named Argument #2\n          z\nend"
    )
    assert normalize(a) == normalize(b) != normalize(a.replace("'a': 1", "'a': 2"))


_SHOW_SCRIPT = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from tfbundle import cli
    requests = json.load(open(sys.argv[1]))
    results = []
    for req in requests:
        argv = ["show", "--dir", req["dir"]]
        if req.get("all"): argv.append("--all")
        if req.get("tag_set") is not None: argv += ["--tag_set", req["tag_set"]]
        if req.get("signature_def") is not None: argv += ["--signature_def", req["signature_def"]]
        if req.get("list_ops"): argv.append("--list_ops")
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = cli.main(argv)
        results.append({"stdout": out.getvalue(), "stderr": err.getvalue(), "status": status})
    json.dump(results, open(sys.argv[2], "w"))
    """
)


def _tfbundle_show(requests: list[dict], tmp_path) -> list[dict]:
    """tfbundle show for each request, in one subprocess with PYTHONHASHSEED=0."""
    req_path, out_path = tmp_path / "requests.json", tmp_path / "results.json"
    req_path.write_text(json.dumps(requests))
    proc = subprocess.run([sys.executable, "-c", _SHOW_SCRIPT, str(req_path), str(out_path)],
                          capture_output=True, text=True, env=_env(), check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out_path.read_text())


def _compare(requests: list[dict], tmp_path) -> None:
    want = M.show_oracle(requests)
    got = _tfbundle_show(requests, tmp_path)
    failures = []
    for req, w, g in zip(requests, want, got):
        assert w["error"] is None, (req, w["error"])
        assert g["status"] == 0, (req, g["stderr"])
        if normalize(g["stdout"]) != normalize(w["stdout"]):
            failures.append(req)
    assert not failures, failures[:5]


@pytest.mark.needs_tensorflow
def test_show_all_matches_saved_model_cli(model_dirs: list[str], tmp_path) -> None:
    """show --all: every test model and every model of the testdata, byte for byte."""
    _compare([{"dir": d, "all": True} for d in model_dirs], tmp_path)


@pytest.mark.needs_tensorflow
def test_show_flags_match_saved_model_cli(model_dirs: list[str], tmp_path) -> None:
    """show, show --tag_set, --signature_def and --list_ops, on every model."""
    from tfbundle._readers.inspect import inspect

    requests = []
    for d in model_dirs:
        requests += [{"dir": d}, {"dir": d, "list_ops": True}]
        for mg in inspect(d).meta_graphs:
            if not mg.tags:
                continue  # saved_model_cli cannot name the empty tag-set
            ts = ",".join(mg.tags)
            requests += [{"dir": d, "tag_set": ts}, {"dir": d, "tag_set": ts, "list_ops": True}]
            requests += [{"dir": d, "tag_set": ts, "signature_def": k} for k in mg.signatures]
    assert len(requests) > 3 * len(model_dirs)  # tag-sets and signatures were found
    _compare(requests, tmp_path)


def test_whole_commands_agree(imodels: str) -> None:
    """The real saved_model_cli command against `python -m tfbundle`, each in its own process."""
    smcli = shutil.which("saved_model_cli")
    if smcli is None:
        pytest.skip("saved_model_cli is not on PATH")
    d = os.path.join(imodels, "tf2_module")
    theirs = subprocess.run(
        [smcli, "show", "--all", "--dir", d],
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )
    ours = _tfbundle("show", "--all", "--dir", d)
    assert theirs.returncode == 0 and ours.returncode == 0, ours.stderr
    assert normalize(ours.stdout) == normalize(theirs.stdout)
    assert ours.stderr == ""


def test_show_json(imodels: str) -> None:
    d = os.path.join(imodels, "tf1_two_tags")
    doc = json.loads(_tfbundle("show", d, "--json").stdout)
    assert [m["tags"] for m in doc["meta_graphs"]] == [["serve"], ["serve", "gpu"]]
    assert doc["meta_graphs"][0]["ops"] is None
    full = json.loads(_tfbundle("show", "--dir", d, "--json", "--all").stdout)
    assert full["meta_graphs"][0]["ops"]["counts"]["ParseExampleV2"] == 1
    meta = json.loads(_tfbundle("show", "--dir", d, "--json", "--tag_set", "gpu,serve").stdout)
    assert meta["tags"] == ["serve", "gpu"]
    sig = json.loads(
        _tfbundle(
            "show", "--dir", d, "--json", "--tag_set", "serve", "--signature_def", "ints"
        ).stdout
    )
    assert sig["inputs"]["n"] == {
        "tensor_name": "n:0",
        "dtype": "DT_INT64",
        "shape": [2, None],
        "encoding": "dense",
    }


def test_show_missing_tag_set_and_signature(imodels: str) -> None:
    d = os.path.join(imodels, "tf1_two_tags")
    r = _tfbundle("show", "--dir", d, "--tag_set", "train")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and 'no MetaGraphDef with the tag-set "train"' in r.stderr
    assert '"serve", "serve,gpu"' in r.stderr
    r = _tfbundle("show", "--dir", d, "--tag_set", "serve", "--signature_def", "nope")
    assert (
        r.returncode == 2
        and 'could not find signature "nope"' in r.stderr
        and "classify_x_to_y" in r.stderr
    )


# ---------------------------------------------------------------------------------- run ---


def _saved(save: Callable[..., None], *args: Any, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    save(buf, *args, **kwargs)
    return buf.getvalue()


#: The input files of the run cases, given to saved_model_cli's run and to ours in {tmp}.
RUN_FILES = {
    "x.npy": _saved(np.save, np.array([[1, 2, 3], [4, 5, 6]], np.float64)),
    "xs.npz": _saved(
        np.savez, first=np.ones((1, 3), np.float32), second=np.full((2, 3), 2.0, np.float32)
    ),
    "one.npz": _saved(np.savez, only=np.arange(3, dtype=np.float32).reshape(1, 3)),
}


def _run_cases(imodels: str) -> list[dict]:
    def case(model: str, tag_set: str, signature_def: str, **flags: str) -> dict:
        where = {"dir": os.path.join(imodels, model), "tag_set": tag_set}
        return {**where, "signature_def": signature_def, **flags}

    return [
        case("tf1_simple", "serve", "serving_default", input_exprs="x=[[1,2,3],[4,5,6]]"),
        case("tf1_simple", "serve", "serving_default", inputs="x={tmp}/x.npy"),
        case("tf1_simple", "serve", "serving_default", inputs="x={tmp}/xs.npz[second]"),
        case("tf1_simple", "serve", "serving_default", inputs="x={tmp}/one.npz"),
        case("tf1_two_tags", "serve", "classify_x_to_y",
             input_examples='inputs=[{"x":[1.0]},{"x":[2.0]},{"x":[5.0]}]'),
        case("tf1_two_tags", "serve", "regress_x_to_y", input_examples='inputs=[{"x":[3.5]}]'),
        case("tf1_two_tags", "serve", "ints", input_exprs="n=[[1,2],[3,4]];flag=True"),
        case("tf1_two_tags", "serve,gpu", "serving_default", input_exprs="x=[[1],[2]]"),
        case("tf1_pbtxt_assets", "serve", "serving_default",
             input_exprs='words=["banana","kiwi","apple"]'),
        case("tf2_module", "serve", "lengths", input_exprs="text=['abc', 'de']"),
        case("tf2_module", "serve", "multiply", input_exprs="a=3;b=[1,2,3]"),
        case("tf2_module", "serve", "serving_default", inputs="x={tmp}/x.npy"),
        case("tf2_module", "serve", "unknown_rank", input_exprs="anything=[[1.5]]"),
        case("keras_export", "serve", "serving_default", input_exprs="features=[[1,2,3,4]]"),
    ]  # fmt: skip


def _cli_run(case: dict, outdir: str | None, capsys) -> tuple[int, str, str]:
    argv = [
        "run",
        "--dir",
        case["dir"],
        "--tag_set",
        case["tag_set"],
        "--signature_def",
        case["signature_def"],
    ]
    for flag in ("inputs", "input_exprs", "input_examples"):
        if case.get(flag):
            argv += [f"--{flag}", case[flag]]
    if outdir:
        argv += ["--outdir", outdir]
    status = cli.main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _check_run(cases: list[dict], tmp_path, capsys) -> None:
    """Each case through saved_model_cli's run (the oracle, in {tmp}) and ours (in tmp_path)."""
    files = {name: base64.b64encode(data).decode() for name, data in RUN_FILES.items()}
    requests = [{**case, "outdir": f"{{tmp}}/smcli-{i}", "files": files} for i, case in enumerate(cases)]
    want = M.run_oracle(requests)
    for name, data in RUN_FILES.items():
        (tmp_path / name).write_bytes(data)
    for i, (case, w) in enumerate(zip(cases, want)):
        assert w["error"] is None, (case, w["error"])
        ours = str(tmp_path / f"ours-{i}")
        status, out, err = _cli_run({k: v.replace("{tmp}", str(tmp_path)) for k, v in case.items()}, ours, capsys)
        assert status == 0, (case, err)
        assert out == w["stdout"].replace(f"{{tmp}}/smcli-{i}", ours), case
        for name, meta in w["outputs"].items():
            arr = np.load(os.path.join(ours, name), allow_pickle=True)
            assert (str(arr.dtype), list(arr.shape), repr(arr.tolist())) == (
                meta["dtype"],
                meta["shape"],
                meta["repr"],
            ), (case, name)
        assert sorted(os.listdir(ours)) == sorted(w["outputs"])


def test_run_matches_saved_model_cli(imodels: str, tmp_path, capsys) -> None:
    _check_run(_run_cases(imodels), tmp_path, capsys)


@pytest.mark.needs_tensorflow
def test_run_matches_saved_model_cli_on_testdata(testdata: Path, tmp_path, capsys) -> None:
    hp2 = str(testdata / "tensorflow_serving" / "saved_model_half_plus_two_cpu" / "00000123")
    cases = [
        {"dir": hp2, "tag_set": "serve", "signature_def": "classify_x_to_y",
         "input_examples": 'inputs=[{"x":[1.0]},{"x":[2.0]},{"x":[5.0]}]'},
        {"dir": hp2, "tag_set": "serve", "signature_def": "regress_x2_to_y3",
         "input_exprs": "inputs=[[1.0],[4.0]]"},
        {"dir": hp2, "tag_set": "serve", "signature_def": "serving_default", "input_exprs": "x=[[1],[2],[5]]"},
    ]  # fmt: skip
    _check_run(cases, tmp_path, capsys)


def test_run_prints_without_outdir(imodels: str, capsys) -> None:
    case = {"dir": os.path.join(imodels, "tf1_simple"), "tag_set": "serve", "signature_def": "serving_default",
            "input_exprs": "x=np.arange(6).reshape(2, 3)"}  # fmt: skip
    status, out, err = _cli_run(case, None, capsys)
    assert status == 0, err
    assert out == "Result for output key y:\n[[10.5 12. ]\n [28.5 39. ]]\n"


def test_run_default_tags_and_signature(imodels: str, capsys) -> None:
    assert (
        cli.main(["run", os.path.join(imodels, "tf1_simple"), "--input_exprs", "x=np.ones((1, 3))"])
        == 0
    )
    assert capsys.readouterr().out == "Result for output key y:\n[[6.5 8. ]]\n"


def test_run_outdir_overwrite(imodels: str, tmp_path, capsys) -> None:
    argv = ["run", "--dir", os.path.join(imodels, "tf1_simple"), "--tag_set", "serve", "--signature_def",
            "serving_default", "--input_exprs", "x=[[1, 1, 1]]", "--outdir", str(tmp_path / "out")]  # fmt: skip
    assert cli.main(argv) == 0
    assert f"Output y is saved to {tmp_path / 'out' / 'y.npy'}" in capsys.readouterr().out
    np.testing.assert_allclose(np.load(tmp_path / "out" / "y.npy"), [[6.5, 8.0]])
    np.save(tmp_path / "out" / "y.npy", np.zeros(1))
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "y.npy"), np.zeros(1))  # untouched
    assert cli.main([*argv, "--overwrite"]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "out" / "y.npy"), [[6.5, 8.0]])


def test_run_refuses_pickle(imodels: str, tmp_path, capsys) -> None:
    import pickle

    with open(tmp_path / "x.pkl", "wb") as f:
        pickle.dump(np.ones((1, 3), np.float32), f)
    np.save(tmp_path / "obj.npy", np.array([np.ones(3)], dtype=object), allow_pickle=True)
    base = [
        "run",
        "--dir",
        os.path.join(imodels, "tf1_simple"),
        "--tag_set",
        "serve",
        "--signature_def",
        "serving_default",
    ]
    for path in ("x.pkl", "obj.npy"):
        assert cli.main([*base, "--inputs", f"x={tmp_path / path}"]) == 2
        err = capsys.readouterr().err
        assert "pickled Python objects" in err and "--allow-pickle" in err and err.count("\n") == 1
    assert cli.main([*base, "--inputs", f"x={tmp_path / 'x.pkl'}", "--allow-pickle"]) == 0
    assert "[[6.5 8. ]]" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ([], "at least one of --inputs, --input_exprs or --input_examples"),
        (["--input_exprs", "nope=[1]"], '"nope" is not a valid input key'),
        (["--input_exprs", "x"], "not in the form <input_key>=<value>"),
        (["--input_exprs", "x=__import__('os').system('touch /tmp/pwned')"], "is not allowed"),
        (["--input_exprs", "x=np.load('/etc/passwd')"], "np.load() is not allowed"),
        (["--input_exprs", "x=np.ones((100000, 100000))"], "more than the 1,073,741,824"),
        (["--input_exprs", "x=[[1,2,3]"], "not valid Python"),
        (["--inputs", "x=/no/such/file.npy"], "does not exist"),
        (["--inputs", "x"], "format is incorrect"),
        (["--input_examples", "inputs={'x': [1.0]}"], "expected a list of dicts"),
        (
            ["--input_exprs", "x=[[1,2,3]]", "--signature_def", "nope"],
            'could not find signature "nope"',
        ),
        (
            ["--input_exprs", "x=[[1,2,3]]", "--tag_set", "train"],
            'no MetaGraph with the tag-set "train"',
        ),
        (["--input_exprs", "x=[[1,2]]"], "x"),  # a shape TensorFlow refuses: its error, one line
        (
            ["--input_exprs", "x=[[1,2,3]]", "--tf_debug"],
            "--tf_debug is a saved_model_cli option tfbundle does not support",
        ),
    ],
)
def test_run_errors(imodels: str, capsys, flags: list[str], message: str) -> None:
    argv = [
        "run",
        "--dir",
        os.path.join(imodels, "tf1_simple"),
        "--signature_def",
        "serving_default",
        *flags,
    ]
    if "--signature_def" in flags:
        argv = ["run", "--dir", os.path.join(imodels, "tf1_simple"), *flags]
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.err.startswith("tfbundle: error: ") and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err
    assert not os.path.exists("/tmp/pwned")


def test_run_deny_unsafe_ops(imodels: str, capsys) -> None:
    argv = [
        "run",
        "--dir",
        os.path.join(imodels, "write_file"),
        "--input_exprs",
        "data='hello'",
        "--deny-unsafe-ops",
    ]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "WriteFile (writes a file, 1 node)" in err and err.count("\n") == 1
    assert cli.main([*argv, "--allow-ops", "ReadFile"]) == 2
    assert "WriteFile" in capsys.readouterr().err


def test_run_allowed_unsafe_ops_runs(imodels: str, capsys) -> None:
    argv = ["run", "--dir", os.path.join(imodels, "write_file"), "--input_exprs", "data='hello'", "--deny-unsafe-ops",
            "--allow-ops", "WriteFile"]  # fmt: skip
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert capsys.readouterr().out == "Result for output key length:\n5\n"


def test_evaluate_expression() -> None:
    assert evaluate_expression("[[1], [2]]") == [[1], [2]]
    assert evaluate_expression("{'a': (1, -2.5, 1+2j, b'x', None, True)}") == {
        "a": (1, -2.5, 1 + 2j, b"x", None, True)
    }
    a = evaluate_expression("np.ones((2, 3), dtype=np.float32)")
    assert a.dtype == np.float32 and a.shape == (2, 3)
    assert evaluate_expression("numpy.arange(6).reshape(2, 3).astype('int8')").tolist() == [
        [0, 1, 2],
        [3, 4, 5],
    ]
    assert evaluate_expression("np.array([1, 2], dtype=int)").dtype == np.int_
    assert evaluate_expression("np.float32(2.5)") == np.float32(2.5)
    for bad in ("open('/etc/passwd')", "np.__dict__", "().__class__", "[x for x in (1,)]", "lambda: 1",
                "np.ones(3).tofile('/tmp/x')", "2 ** 1000", "[0] * 10", "f'{1}'", "np.ones(3)[0]"):  # fmt: skip
        with pytest.raises(InvalidArgumentError):
            evaluate_expression(bad)


@pytest.mark.parametrize(
    "text",
    [
        "np.ones(shape=(50000, 50000))",  # keyword arguments
        "np.zeros(np.array([50000, 50000]))",  # a shape given as an array
        "np.zeros(10000000, 'U1000')",  # a wide string dtype: 37 GiB
        "np.zeros(1000, dtype='U1000').astype('U10000000')",  # widened later
        "np.array(['a'], dtype='U300000000')",
        "np.full((20000, 20000), 'x')",
        "np.full(shape=[100000, 100000], fill_value=1.0)",
        "np.arange(stop=1e12)",
        "np.linspace(0, 1, num=1000000000000)",
        "np.eye(N=100000)",
        "np.ones_like([1], shape=(100000, 100000))",
        # several arrays under the cap, joined: 512 MiB + 512 MiB, then 1 GiB more
        "np.concatenate([np.zeros(67108864), np.zeros(67108864)])",
        "np.stack([np.zeros((8192, 8192)), np.zeros((8192, 8192))])",
        "np.float32([np.zeros(100000000), np.zeros(100000000)])",
    ],
)
def test_evaluate_expression_counts_bytes_of_the_whole_expression(text: str) -> None:
    with pytest.raises(InvalidArgumentError, match="more than the 1,073,741,824"):
        evaluate_expression(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("np.ones(3, np.float32, 'C', 4)", "takes at most 3 positional arguments"),
        ("np.ones(3, dtype='nonsense')", "not a dtype"),
        ("np.ones((" + "1, " * 65 + "))", "a shape of 65 dimensions"),
        ("np.arange('a')", "np.arange takes numbers"),
        ("np.arange(0, 10, 0)", "finite bounds and a non-zero step"),
        ("np.linspace(0, 1, num=2.5)", "num is an integer"),
    ],
)
def test_evaluate_expression_argument_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message) as info:
        evaluate_expression(text)
    assert str(info.value).startswith(f"expression {text!r}: ")  # named once, in front


def test_evaluate_expression_refuses_other_keywords() -> None:
    with pytest.raises(InvalidArgumentError, match="like= is not allowed"):
        evaluate_expression("np.ones(3, like=np.ones(3))")
    with pytest.raises(InvalidArgumentError, match="shape's dimensions are integers"):
        evaluate_expression("np.ones(('a', 2))")
    # Under the cap, keyword and array-shaped forms still work.
    assert evaluate_expression("np.ones(shape=np.array([2, 3]), dtype='U2')").shape == (2, 3)
    assert evaluate_expression("np.concatenate([np.ones(2), np.zeros(2)], axis=0)").tolist() == [1, 1, 0, 0]


def test_parse_run_inputs_precedence(tmp_path, capsys) -> None:
    np.save(tmp_path / "a.npy", np.zeros(2))
    feeds = parse_run_inputs(
        f"a={tmp_path}/a.npy;b={tmp_path}/a.npy[ignored]", "a=[5]", 'b=[{"f": [1]}]'
    )
    assert feeds["a"] == [5]
    assert feeds["b"] == examples.encode([{"f": [1]}])
    err = capsys.readouterr().err
    assert "both --inputs and --input_exprs" in err and 'name key "ignored" ignored' in err
    np.savez(tmp_path / "two.npz", p=np.zeros(1), q=np.ones(1))
    with pytest.raises(InvalidArgumentError, match='has no array named "z"'):
        parse_run_inputs(f"a={tmp_path}/two.npz[z]", "", "")
    with pytest.raises(InvalidArgumentError, match="holds 2 arrays"):
        parse_run_inputs(f"a={tmp_path}/two.npz", "", "")
    with pytest.raises(NotFoundError):
        parse_run_inputs("a=missing.npy", "", "")
    (tmp_path / "p.pkl").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(PermissionDeniedError):
        parse_run_inputs(f"a={tmp_path}/p.pkl", "", "")


# --------------------------------------------------------------------------------- scan ---


def test_scan_finds_planted_write_file(imodels: str) -> None:
    r = _tfbundle("scan", "--dir", os.path.join(imodels, "write_file"))
    assert r.returncode == 1, r.stderr
    assert re.search(r"^  WriteFile\s+1  DENIED: writes a file$", r.stdout, re.MULTILINE), r.stdout
    assert "Found 1 op type that reaches outside the model: WriteFile" in r.stdout
    assert "\033[" not in r.stdout  # no colour when not on a terminal
    r = _tfbundle("scan", "--dir", os.path.join(imodels, "write_file"), "--allow", "WriteFile")
    assert r.returncode == 0 and "No op type that reaches outside the model" in r.stdout


def test_scan_clean_and_json(imodels: str) -> None:
    r = _tfbundle("scan", os.path.join(imodels, "tf1_two_tags"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert (
        "MetaGraph with tag-set 'serve, gpu'" in r.stdout and "SaveV2" in r.stdout
    )  # listed, not flagged
    assert "DENIED" not in r.stdout
    doc = json.loads(_tfbundle("scan", os.path.join(imodels, "file_ops"), "--json").stdout)
    denied = {f["op"] for f in doc["meta_graphs"][0]["denied"]}
    assert denied == {"ReadFile", "PrintV2(file)", "RestoreV2"} and doc["denied"] is True
    r = _tfbundle("scan", os.path.join(imodels, "tf1_simple"), "--op_denylist", "MatMul")
    assert r.returncode == 1 and "MatMul" in r.stdout and "on the given denylist" in r.stdout
    r = _tfbundle("scan", os.path.join(imodels, "write_file"), "--op_denylist", "")
    assert r.returncode == 0


# ------------------------------------------------------------------------ errors, colour ---


def test_errors_are_one_line(tmp_path) -> None:
    r = _tfbundle("show", "--dir", str(tmp_path / "missing"))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == f"tfbundle: error: {tmp_path / 'missing'} does not exist\n"
    (tmp_path / "saved_model.pb").write_bytes(b"\x0a\xff\xff")
    r = _tfbundle("show", "--dir", str(tmp_path), "--all")
    assert (
        r.returncode == 2
        and r.stderr.count("\n") == 1
        and "saved_model.pb" in r.stderr
        and "malformed" in r.stderr
    )
    r = _tfbundle("show", "--dir", str(tmp_path), "--all", "--debug")
    assert r.returncode == 2 and "Traceback (most recent call last)" in r.stderr
    r = _tfbundle("show")
    assert r.returncode == 2 and "--dir" in r.stderr
    r = _tfbundle("frobnicate")
    assert r.returncode == 2
    r = _tfbundle()
    assert r.returncode == 2 and "COMMAND" in r.stderr


def test_colour_only_on_a_terminal(tmp_path) -> None:
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "tfbundle", "show", "--dir", str(tmp_path / "missing")],
                            stdout=subprocess.PIPE, stderr=secondary, env=_env())  # fmt: skip
    os.close(secondary)
    proc.wait(timeout=60)
    data = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    os.close(primary)
    assert proc.returncode == 2
    assert b"\x1b[1;31mtfbundle: error: \x1b[0m" in data
    r = _tfbundle("show", "--dir", str(tmp_path / "missing"))
    assert "\x1b[" not in r.stderr
    proc = subprocess.Popen([sys.executable, "-m", "tfbundle", "show", "--dir", str(tmp_path / "missing")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(NO_COLOR="1"))  # fmt: skip
    assert b"\x1b[" not in proc.communicate()[1]


def test_version_and_help() -> None:
    r = _tfbundle("--version")
    assert r.returncode == 0 and r.stdout.startswith("tfbundle ")
    r = _tfbundle("show", "--help")
    assert r.returncode == 0 and "--signature_def" in r.stdout and "--json" in r.stdout
    r = _tfbundle("--help")
    for command in ("show", "run", "scan", "demo"):
        assert command in r.stdout
    r = _tfbundle("demo", "--help")  # the demo's own arguments go to it untouched
    assert r.returncode == 0 and "--calls" in r.stdout
    r = _tfbundle("show", "--bogus")
    assert r.returncode == 2 and "unrecognized arguments: --bogus" in r.stderr


def test_vars_subcommand(imodels: str) -> None:
    r = _tfbundle("vars", os.path.join(imodels, "tf1_simple"))
    assert r.returncode == 0, r.stderr
    assert "w" in r.stdout and "b" in r.stdout


def test_load_refuses_unsafe_ops_before_running(imodels: str) -> None:
    path = os.path.join(imodels, "write_file")
    with pytest.raises(tfbundle.PermissionDeniedError, match="WriteFile") as info:
        tfbundle.load(path, allowed_ops=())
    assert isinstance(info.value, PermissionError)
    model = tfbundle.load(path, allowed_ops=["WriteFile"])  # explicitly allowed
    assert "serving_default" in model.signatures
    model.close()
    assert tfbundle.load(os.path.join(imodels, "tf1_simple"), allowed_ops=()).signatures  # a clean graph loads
