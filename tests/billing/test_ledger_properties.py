"""Property: whatever sequence of reservations, refunds, purchases and invocations happens (with
retries of the same purchase or report), the balance never goes negative and always equals the
sum of the ledger rows."""

from datetime import UTC, datetime

from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentapps.models import AgentApp
from billing.errors import InsufficientCredits
from billing.models import CreditTransaction, TransactionType
from billing.selectors import ledger_drift
from billing.services import checkout_fulfil, credits_apply, invocation_report_apply
from organizations.models import Organization
from organizations.services import organization_create
from tests.factories import UserFactory
from usage.models import UsageDaily, UsageEvent

amounts = st.integers(min_value=1, max_value=400)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("reserve"), amounts),
        st.tuples(st.just("refund"), st.integers(min_value=0, max_value=20)),
        st.tuples(
            st.just("purchase"),
            st.integers(min_value=0, max_value=4),
            st.sampled_from([1000, 5000]),
        ),
        st.tuples(
            st.just("invoke"),
            st.integers(min_value=0, max_value=6),
            st.integers(min_value=0, max_value=150),
        ),
    ),
    max_size=25,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_balance_never_negative_and_equals_ledger_sum(db, ops):
    org = organization_create(name="Prop", owner=UserFactory(), signup_credits=50)
    app = AgentApp.all_orgs.create(organization=org, name="Bot")
    reservations = []  # (reference, amount) of reservations not yet refunded
    expected = 50
    charged_reports = {}
    paid_sessions = set()
    for op in ops:
        kind = op[0]
        if kind == "reserve":
            try:
                row = credits_apply(
                    organization=org,
                    amount=-op[1],
                    type=TransactionType.USAGE,
                    description="Deploy",
                )
            except InsufficientCredits:
                assert expected < op[1]
            else:
                expected -= op[1]
                reservations.append((f"refund:{row.pk}", op[1]))
        elif kind == "refund" and reservations:
            reference, amount = reservations[op[1] % len(reservations)]
            row = credits_apply(
                organization=org,
                amount=amount,
                type=TransactionType.REFUND,
                description="Refund",
                reference=reference,
            )
            if not row.replayed:
                expected += amount
        elif kind == "purchase":
            session = f"cs_{org.pk}_{op[1]}"  # a small id space: retries of the same session happen
            checkout_fulfil(session_id=session, organization_id=org.pk, credits=op[2])
            if session not in paid_sessions:
                paid_sessions.add(session)
                expected += op[2]
        elif kind == "invoke":
            report = f"r_{org.pk}_{op[1]}"
            try:
                invocation_report_apply(
                    report_id=report,
                    agent_app_id=app.pk,
                    count=1,
                    credits=op[2],
                    occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
                )
            except InsufficientCredits:
                assert report not in charged_reports and expected < op[2]
            else:
                if report not in charged_reports:
                    charged_reports[report] = op[2]
                    expected -= op[2]
        balance = Organization.objects.get(pk=org.pk).credits
        ledger_sum = CreditTransaction.objects.for_org(org).aggregate(total=Sum("amount"))["total"]
        assert balance >= 0
        assert balance == ledger_sum == expected
    assert not ledger_drift()
    # Usage follows the money: one invocation event per charged report, rollups equal the events.
    assert UsageEvent.objects.for_org(org).filter(type="invocation").count() == len(charged_reports)
    invocation_credits = (
        UsageDaily.objects.for_org(org).filter(type="invocation").aggregate(c=Sum("credits"))["c"]
        or 0
    )
    assert invocation_credits == sum(charged_reports.values())
