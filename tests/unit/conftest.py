"""The unit tests' fixtures: the event builders of tests/support/builders.py as one namespace."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.support.builders import (CONTRACTOR_SIRET, OTHER_CONTRACTOR_SIRET, PARTNER_SIRET, contract, correction,
                                    enrolment, invoice, new_id, outcome, pooling, programme, raw, resolution,
                                    retraction, timesheet)


@pytest.fixture(scope="session")
def ev() -> SimpleNamespace:
    return SimpleNamespace(programme=programme, contract=contract, enrolment=enrolment, timesheet=timesheet,
                           correction=correction, retraction=retraction, invoice=invoice, pooling=pooling,
                           resolution=resolution, outcome=outcome, raw=raw, new_id=new_id, CONTRACTOR_SIRET=CONTRACTOR_SIRET,
                           PARTNER_SIRET=PARTNER_SIRET, OTHER_CONTRACTOR_SIRET=OTHER_CONTRACTOR_SIRET)
