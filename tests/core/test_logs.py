"""Job logging: library loggers, warnings and stderr go to the rule's log file."""

from __future__ import annotations

import logging
import sys
import warnings
from types import SimpleNamespace

import pytest

from brainalign.logs import log_to, snakemake_log


@pytest.fixture
def restore_logging(monkeypatch):
    """Put the root logger and stderr back as they were."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    yield
    for h in root.handlers:
        if h not in handlers:
            h.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def test_log_to_file_collects_logs_warnings_and_stderr(tmp_path, restore_logging):
    path = tmp_path / "logs" / "job.log"
    logger = log_to(path)
    assert logger.name == "brainalign"
    logging.getLogger("brainalign.encoding").info("fitting layer %d", 3)
    logging.getLogger("brainalign").debug("hidden at INFO level")
    warnings.warn("careful", UserWarning)
    print("progress bar", file=sys.stderr)
    text = path.read_text()
    assert "brainalign.encoding INFO fitting layer 3" in text
    assert "hidden" not in text
    assert "UserWarning: careful" in text
    assert "progress bar" in text


def test_log_to_appends(tmp_path, restore_logging):
    path = tmp_path / "job.log"
    path.write_text("earlier run\n")
    log_to(path)
    logging.getLogger("brainalign").warning("again")
    assert path.read_text().startswith("earlier run\n") and "again" in path.read_text()


def test_without_path_logs_to_stderr(restore_logging, capsys):
    log_to(None, level=logging.DEBUG)
    logging.getLogger("brainalign").debug("to stderr")
    assert "to stderr" in capsys.readouterr().err


def test_snakemake_log_uses_first_log_file(tmp_path, restore_logging):
    path = tmp_path / "rule.log"
    snakemake_log(SimpleNamespace(log=[str(path)]))
    logging.getLogger("brainalign").info("from a rule")
    assert "from a rule" in path.read_text()
    snakemake_log(SimpleNamespace(log=[]))  # no log directive: stderr
    assert isinstance(logging.getLogger().handlers[0], logging.StreamHandler)
