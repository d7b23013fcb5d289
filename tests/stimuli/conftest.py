"""Fixtures: short movies encoded with PyAV."""

from __future__ import annotations

from pathlib import Path

import pytest
from media import encode_movie


@pytest.fixture
def movie(tmp_path) -> Path:
    return encode_movie(tmp_path / "movie.mp4")
