"""Install DataLad datasets and fetch the files a workflow needs, with clear errors.

``install`` clones a dataset (a GitHub URL, a path or any DataLad source) if it is
not there yet; ``get`` fetches annexed file content (installing subdatasets on the
way) and checks that every requested file really has content afterwards.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path


class DataSourceError(RuntimeError):
    """Data cannot be installed or fetched."""


class CredentialsError(DataSourceError):
    """Credentials needed for a restricted dataset are missing from the environment."""


def ensure_git_annex() -> str:
    """Return the git-annex executable, adding the interpreter's bin dir to PATH if needed."""
    found = shutil.which("git-annex")
    if found:
        return found
    bindir = Path(sys.executable).parent
    if (bindir / "git-annex").exists():
        os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"
        return str(bindir / "git-annex")
    raise DataSourceError(
        "git-annex is not installed; DataLad needs it to fetch data. Install it with "
        "`pip install git-annex` (or `apt-get install git-annex`)."
    )


def require_credentials(names: Sequence[str], what: str, how: str = "") -> dict[str, str]:
    """Return the environment variables ``names``; raise naming every missing one."""
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        raise CredentialsError(
            f"{what} needs credentials in the environment; missing: {', '.join(missing)}. "
            + (how or "Set them (for example in your shell or cluster profile) and re-run.")
        )
    return {n: os.environ[n] for n in names}


def _results_errors(results: Iterable[dict]) -> list[str]:
    return [
        f"{r.get('action')} {r.get('path')}: {r.get('message') or r.get('status')}"
        for r in results
        if r.get("status") in ("impossible", "error")
    ]


def install(source: str, path: str | os.PathLike) -> Path:
    """Clone the DataLad dataset ``source`` to ``path`` unless a dataset is already there."""
    ensure_git_annex()
    import datalad.api as dl
    from datalad.support.exceptions import IncompleteResultsError

    path = Path(path)
    if (path / ".git").exists():
        return path
    if path.exists() and any(path.iterdir()):
        raise DataSourceError(f"cannot install {source} into {path}: folder exists and is not empty")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        res = dl.clone(source=source, path=str(path), result_renderer="disabled",
                       on_failure="ignore", return_type="list", result_xfm=None)
    except IncompleteResultsError as err:
        raise DataSourceError(f"cannot install DataLad dataset {source} into {path}: {err}") from err
    errors = _results_errors(res)
    if errors or not (path / ".git").exists():
        raise DataSourceError(
            f"cannot install DataLad dataset {source} into {path}: "
            + ("; ".join(errors) or "no dataset was created")
        )
    return path


def has_content(path: str | os.PathLike) -> bool:
    """True when ``path`` is a file whose content is present (not a dangling annex link)."""
    p = Path(path)
    return p.is_file() and p.stat().st_size > 0 if p.exists() else False


def get(dataset: str | os.PathLike, paths: Sequence[str | os.PathLike], jobs: int = 1) -> list[Path]:
    """Fetch the content of ``paths`` (relative to ``dataset``); return the absolute paths.

    Raises :class:`DataSourceError` listing every path that could not be fetched.
    """
    ensure_git_annex()
    import datalad.api as dl
    from datalad.support.exceptions import IncompleteResultsError

    dataset = Path(dataset)
    targets = [dataset / p for p in paths]
    if not targets:
        return []
    try:
        res = dl.get(path=[str(t) for t in targets], dataset=str(dataset), jobs=jobs,
                     result_renderer="disabled", on_failure="ignore", return_type="list", result_xfm=None)
    except IncompleteResultsError as err:
        res = getattr(err, "failed", []) or []
    missing = [str(t) for t in targets if not has_content(t)]
    if missing:
        detail = "; ".join(_results_errors(res))
        raise DataSourceError(
            f"could not fetch {len(missing)} file(s) from DataLad dataset {dataset}: "
            f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}"
            + (f" ({detail})" if detail else "")
        )
    return targets
