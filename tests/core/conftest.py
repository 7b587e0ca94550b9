"""Fixtures shared by the core tests."""

import pytest

from ganlab.manager import AUTOLOAD_ENV


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    return site
