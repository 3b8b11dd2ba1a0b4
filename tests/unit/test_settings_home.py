"""The data home and the config file do not depend on the current directory (opsctl/corectl run from anywhere)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core_bridge.settings import load_settings, project_root

CHECKOUT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("COLO_OPS_HOME", "COLO_OPS_CONFIG"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.usefixtures("no_env")
def test_home_when_run_from_a_subfolder_of_a_project_with_config_then_the_files_home(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proj = tmp_path / "desk"
    (proj / "ops" / "deeper").mkdir(parents=True)
    (proj / "colo-ops.toml").write_text('home = "data"\n[core]\nhost = "10.1.2.3"\n')
    monkeypatch.chdir(proj / "ops" / "deeper")
    s = load_settings()
    assert s.home == proj / "data"
    assert s.core_host == "10.1.2.3"


@pytest.mark.usefixtures("no_env")
def test_home_when_run_from_an_unrelated_folder_then_the_checkouts_var(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert project_root() == CHECKOUT
    assert load_settings().home == CHECKOUT / "var"
    monkeypatch.chdir(CHECKOUT / "docs")
    assert load_settings().home == CHECKOUT / "var"


@pytest.mark.usefixtures("no_env")
def test_home_when_config_file_without_home_then_its_project_var(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "colo-ops.toml").write_text("[core]\nhost = '127.0.0.9'\n")
    (tmp_path / "x").mkdir()
    monkeypatch.chdir(tmp_path / "x")
    assert load_settings().home == tmp_path / "var"


def test_home_when_env_set_then_env_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "colo-ops.toml").write_text('home = "data"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COLO_OPS_CONFIG", raising=False)
    monkeypatch.setenv("COLO_OPS_HOME", str(tmp_path / "elsewhere"))
    assert load_settings().home == tmp_path / "elsewhere"
