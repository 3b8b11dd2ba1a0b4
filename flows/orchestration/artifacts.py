"""Prefect artifacts of the flows in flows/jobs: what people read in the Prefect UI.

- `publish_report`: a report's key content as a markdown artifact (its summary tables, written by the
  report's pure writer in reports/) plus where the report files are. A browser pointed at the Prefect UI
  cannot open `file://` links, so with `reports.base_url` set (the URL that serves `<home>/reports/`, e.g.
  `http://127.0.0.1:8765/reports`) the files are linked over HTTP and a link artifact points at the main
  one; without it the absolute paths are shown as text.
- `Progress`: a progress artifact of the current flow run for the long flows, moved at a few coarse steps
  (never per record). A failed update is logged, never fails the flow: progress is for people.

The domain packages and reports/ never import this (nor Prefect); the jobs call it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import cast
from urllib.parse import quote
from uuid import UUID

from core_bridge.settings import Settings

log = logging.getLogger(__name__)
BASE_URL_KEY = "reports.base_url"


def report_url(settings: Settings, path: str | Path) -> str | None:
    """The report's URL under `reports.base_url`, None when that is unset or the file is not under
    `<home>/reports/`."""
    base = str(settings.get(BASE_URL_KEY) or "").strip()
    if not base:
        return None
    root = (settings.home / "reports").resolve()
    try:
        rel = Path(path).resolve().relative_to(root)
    except ValueError:
        return None
    return f"{base.rstrip('/')}/{quote(rel.as_posix())}"


def report_ref(settings: Settings, path: str | Path, text: str | None = None) -> str:
    """A markdown reference to a report file: a link over HTTP when served, else its absolute path as text."""
    label = text or Path(path).name
    url = report_url(settings, path)
    if url:
        return f"[{label}]({url})"
    return f"{label}: `{Path(path).absolute()}`"


def report_markdown(settings: Settings, summary: str, paths: Sequence[str | Path]) -> str:
    """`summary` followed by the report files (links or paths)."""
    refs = [f"- {report_ref(settings, p)}" for p in paths]
    return summary.rstrip("\n") + "\n\n## Report files\n\n" + ("\n".join(refs) or "- none") + "\n"


def publish_report(key: str, summary: str, paths: Sequence[str | Path], *, settings: Settings,
                   description: str, link_key: str | None = None) -> UUID:
    """The markdown artifact `key` (summary + report files) and, when the first path is served over HTTP,
    the link artifact `link_key` (default `<key>-link`) to it. Returns the markdown artifact's id."""
    from prefect.artifacts import create_link_artifact, create_markdown_artifact

    url = report_url(settings, paths[0]) if paths else None
    if url:
        create_link_artifact(key=link_key or f"{key}-link", link=url, link_text=Path(paths[0]).name,
                             description=description,
                             _sync=True)  # type: ignore[call-arg]  # async_dispatch: never hand back a coroutine
    art = create_markdown_artifact(key=key, markdown=report_markdown(settings, summary, paths),
                                   description=description, _sync=True)  # type: ignore[call-arg]
    return cast(UUID, art)


class Progress:
    """A progress artifact (0-100 %) of the current flow run, with what the run is doing as its description.

    Picklable (ids and strings only), so a task may take it as a parameter and move it between its own steps.
    """

    def __init__(self, key: str, description: str) -> None:
        self.key = key
        self.percent = 0.0
        self.description = description
        self.artifact_id: UUID | None = None
        try:
            from prefect.artifacts import create_progress_artifact

            self.artifact_id = cast(UUID, create_progress_artifact(0.0, key=key, description=description,
                                                                   _sync=True))  # type: ignore[call-arg]
        except Exception as exc:  # noqa: BLE001 - progress is for people; the flow goes on without it
            log.warning("progress artifact %s not created: %s", key, exc)

    def update(self, percent: float, description: str) -> None:
        self.percent = max(0.0, min(100.0, float(percent)))
        self.description = description
        if self.artifact_id is None:
            return
        try:
            from prefect.artifacts import update_progress_artifact

            update_progress_artifact(self.artifact_id, self.percent, description=description,
                                     _sync=True)  # type: ignore[call-arg]
        except Exception as exc:  # noqa: BLE001 - see __init__
            log.warning("progress artifact %s not updated: %s", self.key, exc)

    def done(self, description: str) -> None:
        self.update(100.0, description)

    def failed(self, exc: BaseException | str) -> None:
        """Leave the bar where the run stopped and say why."""
        self.update(self.percent, f"FAILED at {self.percent:.0f}% ({self.description}): {exc}"[:500])
