"""Fixtures shared by the ORM tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from docket.orm import Session
from docket.testing import Recorder, recording_engine


@pytest.fixture
def recorded_engine(backend: Any, request: pytest.FixtureRequest) -> Iterator[tuple[Any, Recorder]]:
    """(engine, recorder) on each backend with the test module's ``Base``
    tables created and nothing recorded yet."""
    if backend.is_postgresql:
        request.getfixturevalue("pg_server").reset_schema()
    engine, recorder = recording_engine(backend.url)
    request.module.Base.metadata.create_all(engine)
    recorder.clear()
    yield engine, recorder
    engine.dispose()


@pytest.fixture
def eng(engine: Any, request: pytest.FixtureRequest) -> Any:
    """The backend's engine with the test module's ``Base`` tables created."""
    request.module.Base.metadata.create_all(engine)
    return engine


@pytest.fixture
def session(eng: Any) -> Iterator[Session]:
    """A Session on ``eng``, closed after the test."""
    with Session(eng) as s:
        yield s
