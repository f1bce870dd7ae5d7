"""Finding TensorFlow's C library, staying quiet, and living beside `import tensorflow`.

Each case runs in a fresh interpreter: TensorFlow's library is opened once per process.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

from tfbundle.cli.demo import demo_model_path


def run_py(code: str, env: dict | None = None, timeout: int = 180) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TFBUNDLE_LIBTENSORFLOW")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=full_env, timeout=timeout
    )


def test_import_loads_no_tensorflow():
    proc = run_py(
        """
        import sys, tfbundle
        maps = open("/proc/self/maps").read()
        assert "libtensorflow" not in maps, "TF library mapped at import"
        assert "tensorflow" not in sys.modules
        print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_bad_library_env_var_says_what_to_do(tmp_path):
    proc = run_py(
        f"""
        import tfbundle
        try:
            tfbundle.load({demo_model_path()!r})
        except tfbundle.TensorFlowNotFoundError as e:
            assert isinstance(e, ImportError)
            print(e)
        """,
        env={"TFBUNDLE_LIBTENSORFLOW": str(tmp_path / "nothing-here")},
    )
    assert proc.returncode == 0, proc.stderr
    assert "TFBUNDLE_LIBTENSORFLOW=" in proc.stdout and "unset it" in proc.stdout


def test_env_var_pointing_at_a_non_library_file(tmp_path):
    fake = tmp_path / "libtensorflow.so.2"
    fake.write_bytes(b"not an ELF file")
    proc = run_py(
        f"""
        import tfbundle
        try:
            tfbundle.load({demo_model_path()!r})
        except tfbundle.TensorFlowNotFoundError as e:
            print(e)
        """,
        env={"TFBUNDLE_LIBTENSORFLOW": str(fake)},
    )
    assert proc.returncode == 0, proc.stderr
    assert "could not open TensorFlow library" in proc.stdout and "pip install" in proc.stdout


@pytest.mark.needs_tensorflow  # the wheel's folder holds the C library
def test_env_var_pointing_at_the_wheel_folder():
    folder = importlib.util.find_spec("tensorflow").submodule_search_locations[0]
    proc = run_py(
        f"""
        import numpy as np, tfbundle
        m = tfbundle.load({demo_model_path()!r})
        print(m(x=np.ones((1, 4), np.float32))["class_ids"].shape)
        """,
        env={"TFBUNDLE_LIBTENSORFLOW": folder},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(1,)"


@pytest.mark.needs_tensorflow
def test_quiet_by_default_and_loud_on_request():
    code = f"""
        import numpy as np, tfbundle
        m = tfbundle.load({demo_model_path()!r})
        m(x=np.ones((1, 4), np.float32))
        """
    quiet = run_py(code)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    loud = run_py(code, env={"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert loud.returncode == 0 and loud.stderr != ""


@pytest.mark.needs_tensorflow
def test_environment_left_as_the_user_had_it_and_children_quiet():
    """TF_CPP_MIN_LOG_LEVEL is not left in os.environ, so a spawned worker starts as the user's
    process did: quiet too, and not made to believe the user asked for that level."""
    code = f"""
        import os, subprocess, sys
        import numpy as np, tfbundle
        m = tfbundle.load({demo_model_path()!r})
        m(x=np.ones((1, 4), np.float32))
        assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ, os.environ["TF_CPP_MIN_LOG_LEVEL"]
        tfbundle.load({demo_model_path()!r})  # TensorFlow keeps the level it read: still quiet
        child = subprocess.run([sys.executable, "-c", "import os; print('TF_CPP_MIN_LOG_LEVEL' in os.environ)"],
                               capture_output=True, text=True, check=True)
        print(child.stdout.strip())
        """
    proc = run_py(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False" and proc.stderr == ""
    kept = run_py(code.replace("not in os.environ", "in os.environ"), env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    assert kept.returncode == 0, kept.stderr
    assert kept.stdout.strip() == "True"


USE_TFBUNDLE = f"""
import numpy as np, tfbundle
m = tfbundle.load({demo_model_path()!r})
got = m(x=np.ones((2, 4), np.float32))["probabilities"]
"""
USE_TF = f"""
import tensorflow as tf
loaded = tf.saved_model.load({demo_model_path()!r})
want = loaded.signatures["serving_default"](x=tf.ones((2, 4)))["probabilities"].numpy()
"""


@pytest.mark.needs_tensorflow
@pytest.mark.parametrize("order", ["tensorflow-first", "tfbundle-first"])
def test_import_tensorflow_in_the_same_process(order):
    first, second = (USE_TF, USE_TFBUNDLE) if order == "tensorflow-first" else (USE_TFBUNDLE, USE_TF)
    proc = run_py(first + second + "\nnp.testing.assert_allclose(got, want, rtol=1e-5)\nprint('ok')\n", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")
