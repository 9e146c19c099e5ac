"""The suite never reads the developer's shell: exported WECARE_* settings are removed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app.core.config import Settings
from tests.conftest import developer_variables

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_no_setting_of_the_shell_reaches_the_tests() -> None:
    assert developer_variables(os.environ) == []
    assert Settings().environment == "development"
    assert Settings().database_url == Settings.model_fields["database_url"].default


def test_the_test_knobs_are_kept() -> None:
    environ = {"WECARE_DATABASE_URL": "x", "WECARE_TEST_POSTGRES_URL": "y", "HOME": "/h"}
    assert developer_variables(environ) == ["WECARE_DATABASE_URL"]


def test_a_suite_run_from_a_configured_shell_is_unaffected() -> None:
    """A child pytest with a production database and environment exported still sees none."""
    env = {
        **os.environ,
        "WECARE_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/production",
        "WECARE_ENVIRONMENT": "production",
    }
    test = test_no_setting_of_the_shell_reaches_the_tests.__name__
    this = f"{Path(__file__).relative_to(PROJECT_ROOT)}::{test}"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", this],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
