"""The hand-written stub of the native module agrees with the module (dev/check_stub.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dev"))
import check_stub


def test_stub_signatures_match_the_bindings() -> None:
    assert check_stub.signature_problems() == []


def test_signature_check_finds_a_wrong_stub(tmp_path: Path) -> None:
    stub = tmp_path / "_core.pyi"
    stub.write_text(
        "from typing import Any\n"
        "def crc32c(buffer: Any, crc: int = 1, portable: bool = False) -> str: ...\n"
        "def tensor_alignment(*, unit: int) -> int: ...\n"
    )
    assert sorted(check_stub.signature_problems(stub)) == [
        "crc32c: parameter 'crc' defaults to 0 in the binding, 1 in the stub",
        "crc32c: result: binding says int, stub says str",
        "crc32c: the binding's parameter 'data' is 'buffer' in the stub",
        "tensor_alignment: binding takes (), stub says (unit)",
    ]


@pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None, reason="mypy is not installed (pip install '.[dev]')"
)
def test_stubtest() -> None:
    status, output = check_stub.run_stubtest()
    assert status == 0, output
