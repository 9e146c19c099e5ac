"""The 360Giving schemas the export is validated against are the standard's own files:
the copy under tests/data is byte-identical to the shared one (skipped only where the
shared directory is not mounted, e.g. a CI runner)."""

from __future__ import annotations

from pathlib import Path

import pytest

COPY = Path(__file__).parent / "data" / "standards" / "360giving"
SHARED = Path("/work/shared/standards/360giving")


def _files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir()) if path.is_file()}


def test_the_copy_is_byte_identical_to_the_shared_standard() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not mounted here")
    copy, shared = _files(COPY), _files(SHARED)
    assert any(name.endswith(".json") for name in copy), "the tests' schemas are missing"
    assert sorted(copy) == sorted(shared)
    assert [name for name in copy if copy[name] != shared[name]] == []
