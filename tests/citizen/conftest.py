"""Citizen page tests read English text: their browsers chose English (the default is Indonesian).

``tests/test_i18n.py`` covers the Indonesian default; here every test client holds the cookie the
language switch leaves after "English" (:func:`tests.helpers.choose_english`) so the assertions can
name the English messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import choose_english


class EnglishClient(FlaskClient):
    """A test client whose person chose English."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choose_english(self)


@pytest.fixture
def make_app(make_app: Callable[..., Flask]) -> Callable[..., Flask]:
    def factory(*args: Any, **kwargs: Any) -> Flask:
        app = make_app(*args, **kwargs)
        app.test_client_class = EnglishClient
        return app

    return factory
