"""The scale suites' own tests run only under `--scale` (make test-scale), each on its kind."""

from pathlib import Path

import pytest


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    kind = config.getoption("--scale")
    if collection_path.name.startswith("test_") and collection_path.suffix == ".py":
        return kind is None or collection_path.stem != f"test_{kind}"
    return None
