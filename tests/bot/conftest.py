from __future__ import annotations

import pytest

from sandbox.slack_api import SlackAPI

from .support import ALICE, BOB


@pytest.fixture
def slack():
    with SlackAPI(channels={"C0DEPLOYS": "deploys", "C0GENERAL": "general"},
                  users=dict([ALICE, BOB])) as api:
        yield api
