"""Shared test setup."""
import pytest


@pytest.fixture(autouse=True)
def private_history(tmp_path_factory, monkeypatch):
    """Every test gets its own history folder: runs must not see each other's sessions
    (a resume offer or a daily check would change the dialog), nor the user's real one."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
