"""The app's one shared server (tests/app/conftest.py), which the ``apps`` fixture
these tests take from tests/app/test_browser.py starts its people's apps against;
an instance of its own for this folder."""

from tests.app.conftest import app_server

__all__ = ["app_server"]
