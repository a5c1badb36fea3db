"""Shared fixtures: the reference protocol and small seeded trials."""

import numpy as np
import pytest

from nmmstrial.protocol import reference_protocol
from nmmstrial.simulate import simulate_trial


@pytest.fixture(scope="session")
def protocol():
    return reference_protocol()


@pytest.fixture(scope="session")
def small_study(protocol):
    # Seed fixed so failures reproduce; 6 patients keep the fixture fast.
    return simulate_trial(protocol, n_patients=6, rng=np.random.default_rng(7))
