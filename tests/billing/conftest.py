import pytest

from billing.selectors import ledger_drift


@pytest.fixture(autouse=True)
def _ledger_stays_balanced(db):
    """Every test that moves money ends with every balance equal to the sum of its ledger rows."""
    yield
    drift = ledger_drift()
    assert not drift, (
        f"ledger drift after the test: {[(str(org.pk), balance, total) for org, balance, total in drift]}"
    )
