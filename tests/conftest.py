"""Shared fixtures: the reference protocol, small seeded trials, a PostgreSQL schema."""

import os
import uuid

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from nmmstrial.protocol import reference_protocol
from nmmstrial.simulate import simulate_trial


@pytest.fixture(scope="session")
def protocol():
    return reference_protocol()


@pytest.fixture(scope="session")
def small_study(protocol):
    # Seed fixed so failures reproduce; 6 patients keep the fixture fast.
    return simulate_trial(protocol, n_patients=6, rng=np.random.default_rng(7))


POSTGRES_URL = os.environ.get("NMMSTRIAL_TEST_POSTGRES_URL")


@pytest.fixture
def postgres_url():
    """A URL whose search_path is a fresh schema, dropped afterwards, so runs never collide."""
    if not POSTGRES_URL:
        pytest.skip("set NMMSTRIAL_TEST_POSTGRES_URL to run the PostgreSQL tests")
    schema = f"nmmstrial_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()
