"""Zero-copy inputs and outputs, lifetimes, the GIL and threads, on a TF1 graph
made for these tests (an Identity of the input, a constant, a variable updated in place, a
queue), by
tests/makers/zero_copy.py."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import tfbundle


@pytest.fixture(scope="module")
def model_dir(tf_models):
    return str(tf_models("zero_copy"))


@pytest.fixture(scope="module")
def model(model_dir):
    with tfbundle.load(model_dir) as m:
        yield m


def unaligned(shape, dtype=np.float32):
    """An array whose buffer is 16 bytes past a 64-byte boundary."""
    n = int(np.prod(shape))
    raw = tfbundle.empty(n * np.dtype(dtype).itemsize + 16, np.uint8)
    return raw[16:].view(dtype).reshape(shape)


def test_aligned_input_is_not_copied(model):
    x = tfbundle.empty((3, 4), np.float32)
    x[...] = np.arange(12).reshape(3, 4)
    y = model.run("y:0", {"x:0": x})
    assert y.ctypes.data == x.ctypes.data  # TensorFlow's Identity handed back our buffer
    assert not y.flags.writeable  # it aliases memory the caller owns
    sig = model.signatures["serving_default"]
    for sig_y in (sig(x=x, s=["a"])["y"], sig.run({"x": x, "s": ["a"]}, ["y"])[0]):
        assert sig_y.ctypes.data == x.ctypes.data and not sig_y.flags.writeable


def test_unaligned_input_is_copied_once(model):
    x = unaligned((3, 4))
    x[...] = 1.5
    assert x.ctypes.data % 64 == 16
    y = model.run("y:0", {"x:0": x})
    assert y.ctypes.data != x.ctypes.data
    np.testing.assert_array_equal(y, x)


def test_computed_output_is_writable_and_fresh(model):
    x = tfbundle.empty((2, 4))
    x[...] = 3.0
    z1 = model.run("z:0", {"x:0": x})
    z2 = model.run("z:0", {"x:0": x})
    assert z1.flags.writeable and z1.ctypes.data != z2.ctypes.data
    np.testing.assert_array_equal(z1, 6.0)


def test_constant_and_variable_outputs_are_copies(model):
    c1, c2 = model.run("c:0"), model.run("c:0")
    np.testing.assert_array_equal(c1, [1, 2, 3])
    assert c1.flags.writeable and c1.flags.owndata and c1.ctypes.data != c2.ctypes.data
    c1[0] = 9.0  # a copy: the graph's constant is untouched
    np.testing.assert_array_equal(model.run("c:0"), [1, 2, 3])


def test_an_output_never_changes_when_a_later_call_updates_a_variable_in_place(model_dir):
    # The variable's buffer is shared with the graph; before, the array returned was a read-only
    # view of it, and the assign_add of a later call changed it under the caller.
    with tfbundle.load(model_dir) as m:
        sig = m.signatures["serving_default"]
        by_name = m.run("v:0")
        by_identity = m.run("v_read:0")
        by_signature = sig(x=np.zeros((1, 4), np.float32), s=["a"])["v"]
        listed = sig.run({"x": np.zeros((1, 4), np.float32), "s": ["a"]}, ["v"])[0]
        m.run(None, targets="bump")
        for got in (by_name, by_identity, by_signature, listed):
            np.testing.assert_array_equal(got, [4.0, 5.0])
            assert got.flags.writeable and got.flags.owndata
        np.testing.assert_array_equal(m.run("v:0"), [5.0, 6.0])
        with pytest.raises(ValueError, match="read-only"):
            m.run("y:0", {"x:0": tfbundle.empty((1, 4), np.float32)})[0, 0] = 1.0


def test_input_outlives_the_call_through_an_aliasing_output(model):
    x = tfbundle.empty((2, 4))
    x[...] = 7.0
    y = model.run("y:0", {"x:0": x})
    del x
    gc.collect()
    np.testing.assert_array_equal(y, 7.0)  # the output keeps the input's buffer alive


def test_strings(model):
    out = model.run(["s_id:0", "s_upper:0"], {"s:0": ["abc", b"d\x00e", "\u00e9"]})
    assert out[0].dtype == object and list(out[0]) == [b"abc", b"d\x00e", "\u00e9".encode()]
    assert list(out[1]) == [b"ABC", b"D\x00E", "\u00e9".encode()]
    fixed = np.array([b"xy", b"z"])  # numpy 'S' array
    assert list(model.run("s_upper:0", {"s:0": fixed})) == [b"XY", b"Z"]
    assert list(model.run("s_upper:0", {"s:0": np.array(["q"])})) == [b"Q"]
    with pytest.raises(TypeError, match="items must be bytes or str, got int"):
        model.run("s_upper:0", {"s:0": np.array([1, "a"], dtype=object)})
    with pytest.raises(TypeError, match="expects strings"):
        model.run("s_upper:0", {"s:0": np.array([1.0])})


def test_threads_match_serial(model):
    sig = model.signatures["serving_default"]
    inputs = [np.full((i % 5 + 1, 4), i, np.float32) for i in range(64)]
    serial = [sig(x=x, s=["t"])["z"] for x in inputs]
    results = [None] * len(inputs)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        def work(k):
            for i in range(k, len(inputs), 8):
                for _ in range(20):
                    results[i] = sig(x=inputs[i], s=["t"])["z"]

        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    for got, want in zip(results, serial):
        np.testing.assert_array_equal(got, want)


GIL_SCRIPT = textwrap.dedent(
    """
    import sys, threading
    import numpy as np
    import tfbundle
    m = tfbundle.load(sys.argv[1])
    got = []
    t = threading.Thread(target=lambda: got.append(m.run("deq:0")))
    t.start()          # blocks inside TF_SessionRun until an item is queued
    t.join(0.2)
    assert t.is_alive()
    m.run(None, {"item:0": np.float32(5.0)}, targets="enq")  # needs the GIL the other thread must not hold
    t.join(30)
    assert got and float(got[0]) == 5.0, got
    print("ok")
    """
)


def test_gil_is_released_while_running(model_dir):
    # If TF_SessionRun held the GIL, the blocked dequeue would stop the main
    # thread from ever enqueueing: the subprocess would hang and time out.
    proc = subprocess.run(
        [sys.executable, "-c", GIL_SCRIPT, model_dir], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
