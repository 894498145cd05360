from django.core.management import call_command
from django.db.models import Count, Sum

from usage.models import UsageDaily, UsageEvent
from usage.selectors import usage_chart


def test_seed_usage_inserts_events_and_matching_rollups(org, capsys):
    call_command("seed_usage", events=400, org=str(org.pk), days=10)
    events = UsageEvent.objects.for_org(org)
    assert events.count() == 400
    assert dict(events.values_list("type").annotate(n=Count("id"))) == {
        "invocation": 280,
        "package_upload": 40,
        "deployment": 40,
        "member": 20,
        "api_key": 20,
    }
    assert UsageDaily.objects.for_org(org).aggregate(e=Sum("events"), c=Sum("credits")) == {
        "e": 400,
        "c": events.aggregate(c=Sum("credits"))["c"],
    }
    chart = usage_chart(organization=org, days=11)
    assert (
        sum(p["invocations"] for p in chart)
        == events.filter(type="invocation").aggregate(v=Sum("value"))["v"]
    )
    assert "Seeded 400 usage events" in capsys.readouterr().out


def test_seed_usage_can_create_the_organization(db, capsys):
    call_command("seed_usage", events=3, org="create")
    assert "Created organization" in capsys.readouterr().out
    assert UsageEvent.all_orgs.count() == 3
