"""Where a report artifact points: over HTTP under `reports.base_url`, else the absolute path as text
(never a `file://` link, which a browser on the Prefect UI cannot open)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core_bridge.settings import load_settings
from flows.orchestration.artifacts import report_markdown, report_ref, report_url


def test_report_ref_when_no_base_url_then_absolute_path_as_text(ops_home: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLO_OPS_REPORTS_BASE_URL", raising=False)
    settings = load_settings()
    path = settings.reports_dir("2026-11-20") / "recon" / "recon.html"
    assert report_url(settings, path) is None
    assert report_ref(settings, path) == f"recon.html: `{path.absolute()}`"
    md = report_markdown(settings, "# Recon\n", [path])
    assert "file://" not in md and md.startswith("# Recon\n\n## Report files\n\n- recon.html: `/")


def test_report_ref_when_base_url_then_link_relative_to_the_reports_dir(ops_home: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLO_OPS_REPORTS_BASE_URL", "http://127.0.0.1:8765/reports/")
    settings = load_settings()
    path = settings.reports_dir("2026-11-20") / "ha" / "ha drill.html"
    assert report_url(settings, path) == "http://127.0.0.1:8765/reports/2026-11-20/ha/ha%20drill.html"
    assert report_ref(settings, path, "HA") == "[HA](http://127.0.0.1:8765/reports/2026-11-20/ha/ha%20drill.html)"
    assert report_url(settings, ops_home / "run" / "x.html") is None  # outside <home>/reports: not served
