"""Outgoing webhooks (docs/API.md §10, docs/CONTRACT.md §7): CRUD, signed deliveries, retries, log, redeliver, ping."""

import base64
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook as StandardWebhook

from deployments import delivery as delivery_service
from deployments.delivery import webhook_deliver, webhook_deliveries_sweep
from deployments.models import DeliveryStatus, Webhook, WebhookDelivery
from deployments.services import webhook_create
from deployments.tasks import webhook_deliver_task
from deployments.webhook_signing import MAX_ATTEMPTS, retry_delays
from tests.deployments.conftest import deploy

pytestmark = pytest.mark.django_db

EVENTS = ["deployment.completed", "deployment.failed"]


@pytest.fixture
def private_ok(settings):
    settings.PIXELL_WEBHOOK_ALLOW_PRIVATE_NETWORKS = True


def hooks_url(app) -> str:
    return f"/api/agent-apps/{app.id}/webhooks"


def create(client, app, **body):
    body.setdefault("url", "https://example.com/webhook")
    body.setdefault("events", EVENTS)
    return client.post(hooks_url(app), body, format="json")


@pytest.fixture(autouse=True)
def _public_dns(monkeypatch):
    # example.com must resolve to a public address without real DNS in tests.
    import ipaddress

    from deployments import netguard

    real = netguard._resolve

    def resolve(host, port):
        if host.endswith("example.com"):
            return (ipaddress.ip_address("93.184.216.34"),)
        return real(host, port)

    monkeypatch.setattr(netguard, "_resolve", resolve)


# --- CRUD --------------------------------------------------------------------------------------------


def test_create_generates_a_secret_shown_once(admin_client, app):
    response = create(admin_client, app)
    assert response.status_code == 201
    webhook = response.json()["webhook"]
    assert webhook["url"] == "https://example.com/webhook"
    assert webhook["events"] == EVENTS
    assert webhook["active"] is True
    assert webhook["created_at"].endswith("Z")
    assert (
        webhook["secret"].startswith("whsec_")
        and len(base64.b64decode(webhook["secret"][6:])) == 32
    )

    listed = admin_client.get(hooks_url(app)).json()["webhooks"]
    assert [w["id"] for w in listed] == [webhook["id"]]
    assert "secret" not in listed[0]
    stored = Webhook.all_orgs.get(id=webhook["id"])
    assert webhook["secret"] not in stored.secret_encrypted


def test_a_chosen_secret_is_kept_and_must_have_16_characters(admin_client, app):
    assert (
        create(admin_client, app, secret="webhook_secret_key").json()["webhook"]["secret"]
        == "webhook_secret_key"
    )
    short = create(admin_client, app, secret="too-short")
    assert short.status_code == 400
    assert "secret" in short.json()["details"]


def test_unknown_events_are_400(admin_client, app):
    response = create(admin_client, app, events=["deployment.completed", "deployment.exploded"])
    assert response.status_code == 400
    assert "events" in response.json()["details"]
    assert create(admin_client, app, events=[]).status_code == 400


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "https://10.0.0.5/hook",
        "https://169.254.169.254/latest",
        "http://example.com/x",
        "ftp://example.com/x",
    ],
)
def test_unsafe_urls_are_refused_at_creation(admin_client, app, url):
    response = create(admin_client, app, url=url)
    assert response.status_code == 400
    assert "url" in response.json()["details"]


def test_private_urls_are_allowed_when_configured(admin_client, app, private_ok):
    assert create(admin_client, app, url="http://127.0.0.1:8000/hook").status_code == 201


def test_delete(admin_client, app):
    webhook_id = create(admin_client, app).json()["webhook"]["id"]
    response = admin_client.delete(f"{hooks_url(app)}/{webhook_id}")
    assert response.status_code == 200
    assert response.json() == {"message": "Webhook deleted successfully"}
    assert admin_client.get(hooks_url(app)).json() == {"webhooks": []}
    assert admin_client.delete(f"{hooks_url(app)}/{webhook_id}").status_code == 404


def test_patch_re_enables_a_disabled_webhook_and_changes_events(admin_client, member_client, app):
    webhook_id = create(admin_client, app).json()["webhook"]["id"]
    Webhook.all_orgs.filter(id=webhook_id).update(
        active=False, consecutive_failures=20, disabled_at=timezone.now()
    )
    url = f"{hooks_url(app)}/{webhook_id}"
    assert member_client.patch(url, {"active": True}, format="json").status_code == 403
    response = admin_client.patch(
        url, {"active": True, "events": ["deployment.failed"]}, format="json"
    )
    assert response.status_code == 200
    body = response.json()["webhook"]
    assert (
        body["active"] is True and body["consecutive_failures"] == 0 and body["disabled_at"] is None
    )
    assert body["events"] == ["deployment.failed"] and "secret" not in body
    assert admin_client.patch(url, {"events": ["nope"]}, format="json").status_code == 400
    assert admin_client.patch(url, {"url": "https://10.1.2.3/x"}, format="json").status_code == 400


@pytest.mark.parametrize(
    "who,status", [("owner", 201), ("admin", 201), ("api_key", 201), ("member", 403)]
)
def test_writes_need_admin_or_an_api_key(role_clients, app, who, status):
    assert create(role_clients[who], app).status_code == status


def test_members_cannot_delete_but_can_read(member_client, admin_client, app):
    webhook_id = create(admin_client, app).json()["webhook"]["id"]
    assert member_client.delete(f"{hooks_url(app)}/{webhook_id}").status_code == 403
    assert member_client.get(hooks_url(app)).status_code == 200
    assert member_client.get(f"{hooks_url(app)}/{webhook_id}/deliveries").status_code == 200
    assert member_client.post(f"{hooks_url(app)}/{webhook_id}/ping").status_code == 403


def test_another_organization_sees_404_everywhere(other_client, admin_client, app):
    webhook_id = create(admin_client, app).json()["webhook"]["id"]
    assert other_client.get(hooks_url(app)).status_code == 404
    assert create(other_client, app).status_code == 404
    assert other_client.delete(f"{hooks_url(app)}/{webhook_id}").status_code == 404
    assert other_client.get(f"{hooks_url(app)}/{webhook_id}/deliveries").status_code == 404
    assert other_client.post(f"{hooks_url(app)}/{webhook_id}/ping").status_code == 404


def test_a_webhook_of_another_app_is_404(admin_client, app, org, owner):
    from agentapps.services import agent_app_create

    second = agent_app_create(organization=org, actor=owner, name="second")
    webhook_id = create(admin_client, app).json()["webhook"]["id"]
    assert admin_client.delete(f"{hooks_url(second)}/{webhook_id}").status_code == 404


# --- deliveries against a real local receiver ---------------------------------------------------------


@pytest.fixture
def hook(org, app, http_server, private_ok):
    webhook, secret = webhook_create(
        organization=org,
        agent_app=app,
        url=http_server.url + "/receiver",
        events=[
            "deployment.queued",
            "deployment.processing",
            "deployment.completed",
            "deployment.failed",
        ],
    )
    webhook.raw_secret = secret
    return webhook


def verify(secret: str, request: dict) -> dict:
    return StandardWebhook(secret).verify(request["body"], request["headers"])


def test_a_deployment_event_is_delivered_signed_with_standard_webhooks(
    hook, http_server, owner_client, app, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = deploy(owner_client, app, "1.2.0")
    assert len(http_server.requests) == 3
    completed = http_server.requests[-1]
    payload = verify(hook.raw_secret, completed)
    assert completed["headers"]["x-pixell-event"] == "deployment.completed"
    assert completed["headers"]["content-type"] == "application/json"
    assert payload["event"] == "deployment.completed"
    assert payload["timestamp"].endswith("Z")
    assert payload["data"]["deployment_id"] == response.json()["deployment"]["id"]
    assert payload["data"]["agent_app_id"] == str(app.id)
    assert payload["data"]["package_id"] == response.json()["package"]["id"]
    assert payload["data"]["version"] == "1.2.0"
    assert payload["data"]["status"] == "completed"
    assert payload["data"]["duration_seconds"] >= 0
    assert payload["data"]["s3_url"]
    assert WebhookDelivery.all_orgs.filter(status=DeliveryStatus.SUCCEEDED).count() == 3


def test_a_chosen_secret_signs_with_its_utf8_bytes(org, app, http_server, private_ok):
    webhook, secret = webhook_create(
        organization=org,
        agent_app=app,
        url=http_server.url,
        events=EVENTS,
        secret="my-own-secret-1234",
    )
    webhook_deliver_task(str(delivery_service.webhook_ping_create(webhook=webhook).id))
    request = http_server.requests[0]
    assert verify(base64.b64encode(secret.encode()).decode(), request)["event"] == "ping"


def _due_now(delivery_id):
    WebhookDelivery.all_orgs.filter(id=delivery_id).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_three_failures_then_success_are_four_logged_attempts_with_one_webhook_id(
    hook, http_server
):
    http_server.responses = [
        (500, {"error": "down"}),
        (502, b"bad gateway"),
        (503, {}),
        (200, {"ok": True}),
    ]
    delivery = delivery_service.webhook_ping_create(webhook=hook)
    webhook_deliver_task(str(delivery.id))
    for _ in range(3):
        row = WebhookDelivery.all_orgs.get(id=delivery.id)
        assert row.status == DeliveryStatus.PENDING and row.next_attempt_at > timezone.now()
        webhook_deliver_task(str(delivery.id))  # not due yet: nothing is sent
        _due_now(delivery.id)
        webhook_deliver_task(str(delivery.id))

    row = WebhookDelivery.all_orgs.get(id=delivery.id)
    assert row.status == DeliveryStatus.SUCCEEDED and row.attempts == 4
    assert len(http_server.requests) == 4
    assert len({r["headers"]["webhook-id"] for r in http_server.requests}) == 1
    for request in http_server.requests:
        verify(hook.raw_secret, request)
    attempts = list(row.attempt_log.order_by("number"))
    assert [a.status_code for a in attempts] == [500, 502, 503, 200]
    assert [a.succeeded for a in attempts] == [False, False, False, True]
    assert "bad gateway" in attempts[1].response_snippet
    assert all(a.duration_ms >= 0 for a in attempts)
    assert attempts[0].error == "HTTP 500"


def test_retry_schedule_has_at_least_five_attempts_over_an_hour():
    delays = retry_delays()
    assert MAX_ATTEMPTS >= 5 and sum(delays) >= 3600
    assert list(delays) == sorted(delays)


def test_the_next_attempt_waits_the_growing_delay(hook, http_server):
    http_server.responses = [(500, {})]
    delivery = delivery_service.webhook_ping_create(webhook=hook)
    waits = []
    for _number in range(1, 4):
        before = timezone.now()
        webhook_deliver_task(str(delivery.id))
        row = WebhookDelivery.all_orgs.get(id=delivery.id)
        waits.append((row.next_attempt_at - before).total_seconds())
        _due_now(delivery.id)
    assert (
        waits[0] >= retry_delays()[1] - 1
        and waits[1] >= retry_delays()[2] - 1
        and waits[2] > waits[1]
    )


def test_every_attempt_failing_ends_the_delivery_failed(hook, http_server):
    http_server.responses = [(500, {})]
    delivery = delivery_service.webhook_ping_create(webhook=hook)
    for _ in range(MAX_ATTEMPTS + 2):
        _due_now(delivery.id)
        webhook_deliver(delivery_id=delivery.id)
    row = WebhookDelivery.all_orgs.get(id=delivery.id)
    assert row.status == DeliveryStatus.FAILED and row.attempts == MAX_ATTEMPTS
    assert len(http_server.requests) == MAX_ATTEMPTS
    assert Webhook.all_orgs.get(id=hook.id).consecutive_failures == 1


def test_redirects_are_not_followed(hook, http_server):
    http_server.responses = [(302, b"")]
    delivery = delivery_service.webhook_ping_create(webhook=hook)
    webhook_deliver_task(str(delivery.id))
    assert len(http_server.requests) == 1
    attempt = WebhookDelivery.all_orgs.get(id=delivery.id).attempt_log.get()
    assert attempt.status_code == 302 and not attempt.succeeded and "redirect" in attempt.error


def test_a_network_error_is_logged_as_a_failed_attempt(org, app, private_ok):
    webhook, _ = webhook_create(
        organization=org, agent_app=app, url="http://127.0.0.1:9/nothing-listens", events=EVENTS
    )
    delivery = delivery_service.webhook_ping_create(webhook=webhook)
    webhook_deliver_task(str(delivery.id))
    attempt = WebhookDelivery.all_orgs.get(id=delivery.id).attempt_log.get()
    assert attempt.status_code is None and attempt.error.startswith("Request failed")


def test_an_unexpected_error_is_a_counted_attempt_on_the_retry_schedule(
    org, app, private_ok, monkeypatch
):
    webhook, _ = webhook_create(
        organization=org, agent_app=app, url="http://127.0.0.1:9/x", events=EVENTS
    )
    delivery = delivery_service.webhook_ping_create(webhook=webhook)

    def broken(*args, **kwargs):
        raise KeyError("surprise")

    monkeypatch.setattr(delivery_service.netguard, "safe_post", broken)
    webhook_deliver_task(str(delivery.id))
    row = WebhookDelivery.all_orgs.get(id=delivery.id)
    assert (
        row.attempts == 1
        and row.status == DeliveryStatus.PENDING
        and row.next_attempt_at is not None
    )
    assert row.attempt_log.get().error == "Delivery error: KeyError"


def test_the_url_is_checked_again_at_delivery(hook, http_server, settings):
    settings.PIXELL_WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    delivery = delivery_service.webhook_ping_create(webhook=hook)
    webhook_deliver_task(str(delivery.id))
    row = WebhookDelivery.all_orgs.get(id=delivery.id)
    assert http_server.requests == []
    assert row.status == DeliveryStatus.FAILED  # refused targets are not retried
    assert "not allowed" in row.attempt_log.get().error or "http" in row.attempt_log.get().error


def test_twenty_failed_deliveries_in_a_row_disable_the_webhook(hook, http_server):
    http_server.responses = [(500, {})]
    Webhook.all_orgs.filter(id=hook.id).update(
        consecutive_failures=delivery_service.AUTO_DISABLE_AFTER_FAILED_DELIVERIES - 1
    )
    delivery = delivery_service.webhook_ping_create(webhook=hook)
    for _ in range(MAX_ATTEMPTS):
        _due_now(delivery.id)
        webhook_deliver(delivery_id=delivery.id)
    webhook = Webhook.all_orgs.get(id=hook.id)
    assert webhook.active is False and webhook.disabled_at is not None
    # An inactive webhook gets no new events, and pending deliveries are not sent.
    assert delivery_service.webhook_event_emit.__name__  # (emit filters active=True)
    pending = delivery_service.webhook_ping_create(webhook=webhook)
    webhook_deliver(delivery_id=pending.id)
    assert WebhookDelivery.all_orgs.get(id=pending.id).status == DeliveryStatus.FAILED
    assert len(http_server.requests) == MAX_ATTEMPTS


def test_a_success_resets_the_failure_streak(hook, http_server):
    Webhook.all_orgs.filter(id=hook.id).update(consecutive_failures=7)
    webhook_deliver_task(str(delivery_service.webhook_ping_create(webhook=hook).id))
    assert Webhook.all_orgs.get(id=hook.id).consecutive_failures == 0


def test_the_sweep_resends_a_due_delivery_whose_message_was_lost(hook, http_server):
    delivery = delivery_service.webhook_ping_create(
        webhook=hook
    )  # its message never ran (no on_commit here)
    assert http_server.requests == []
    assert webhook_deliveries_sweep(grace_seconds=60) == 0  # not overdue yet
    WebhookDelivery.all_orgs.filter(id=delivery.id).update(
        next_attempt_at=timezone.now() - timedelta(minutes=5)
    )
    assert webhook_deliveries_sweep() == 1
    assert WebhookDelivery.all_orgs.get(id=delivery.id).status == DeliveryStatus.SUCCEEDED
    assert len(http_server.requests) == 1


def test_concurrent_sends_of_one_attempt_send_once(hook, http_server):
    delivery = delivery_service.webhook_ping_create(webhook=hook)
    # Someone else claimed this attempt a moment ago (its lease pushed next_attempt_at ahead).
    WebhookDelivery.all_orgs.filter(id=delivery.id).update(
        next_attempt_at=timezone.now() + timedelta(seconds=60)
    )
    webhook_deliver(delivery_id=delivery.id)
    assert http_server.requests == []


# --- the API: log, redeliver, ping ---------------------------------------------------------------------


def test_deliveries_list_logs_every_attempt_and_paginates(admin_client, app, hook, http_server):
    http_server.responses = [(500, {}), (200, {})]
    first = delivery_service.webhook_ping_create(webhook=hook)
    webhook_deliver_task(str(first.id))
    _due_now(first.id)
    webhook_deliver_task(str(first.id))
    second = delivery_service.webhook_ping_create(webhook=hook)
    webhook_deliver_task(str(second.id))

    url = f"{hooks_url(app)}/{hook.id}/deliveries"
    body = admin_client.get(url + "?limit=1").json()
    assert [d["id"] for d in body["deliveries"]] == [str(second.id)]
    assert body["next_cursor"]
    older = admin_client.get(f"{url}?limit=1&cursor={body['next_cursor']}").json()["deliveries"][0]
    assert older["id"] == str(first.id)
    assert older["event"] == "ping" and older["status"] == "succeeded" and older["attempts"] == 2
    assert older["message_id"] == http_server.requests[0]["headers"]["webhook-id"]
    assert [a["status_code"] for a in older["attempt_log"]] == [500, 200]
    assert set(older["attempt_log"][0]) >= {
        "number",
        "requested_at",
        "status_code",
        "duration_ms",
        "response_snippet",
        "error",
    }


def test_redeliver_sends_the_same_message_again(admin_client, app, hook, http_server):
    delivery = delivery_service.webhook_ping_create(webhook=hook)
    webhook_deliver_task(str(delivery.id))
    response = admin_client.post(f"{hooks_url(app)}/{hook.id}/deliveries/{delivery.id}/redeliver")
    assert response.status_code == 202
    again = response.json()["delivery"]
    assert again["redelivery_of"] == str(delivery.id)
    assert again["message_id"] == WebhookDelivery.all_orgs.get(id=delivery.id).message_id
    webhook_deliver_task(again["id"])
    assert len(http_server.requests) == 2
    assert (
        http_server.requests[0]["headers"]["webhook-id"]
        == http_server.requests[1]["headers"]["webhook-id"]
    )
    assert http_server.requests[0]["body"] == http_server.requests[1]["body"]
    verify(hook.raw_secret, http_server.requests[1])


def test_ping_sends_a_ping_event(
    api_key_client, app, hook, http_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_key_client.post(f"{hooks_url(app)}/{hook.id}/ping")
    assert response.status_code == 202
    assert response.json()["delivery"]["event"] == "ping"
    payload = verify(hook.raw_secret, http_server.requests[0])
    assert payload["event"] == "ping" and payload["data"]["webhook_id"] == str(hook.id)
    assert http_server.requests[0]["headers"]["x-pixell-event"] == "ping"


def test_redeliver_of_an_unknown_delivery_is_404(admin_client, app, hook):
    url = f"{hooks_url(app)}/{hook.id}/deliveries/00000000-0000-0000-0000-000000000000/redeliver"
    assert admin_client.post(url).status_code == 404


def test_a_retry_signs_the_package_link_afresh_under_the_same_webhook_id(
    org, app, http_server, private_ok, owner_client, django_capture_on_commit_callbacks, settings
):
    """A presigned link minted at the first send can expire before a late retry: each attempt
    carries a link valid from its own time; the webhook-id stays the message's."""
    import json
    from urllib.parse import parse_qs, urlsplit

    from freezegun import freeze_time

    from agentapps.storage import DOWNLOAD_URL_SECONDS
    from deployments.models import Deployment

    settings.PIXELL_PUBLIC_URL = "http://testserver"
    with django_capture_on_commit_callbacks(execute=True):
        deployment_id = deploy(owner_client, app, "1.0.0").json()["deployment"]["id"]
    _, secret = webhook_create(
        organization=org, agent_app=app, url=http_server.url, events=["deployment.completed"]
    )
    http_server.responses = [(500, {}), (200, {})]
    deployment = Deployment.all_orgs.get(id=deployment_id)
    (delivery,) = delivery_service.webhook_event_emit(
        deployment=deployment, event="deployment.completed"
    )
    webhook_deliver_task(str(delivery.id))
    verify(secret, http_server.requests[0])
    later = timezone.now() + timedelta(seconds=DOWNLOAD_URL_SECONDS + 600)
    with freeze_time(later):
        webhook_deliver_task(str(delivery.id))
        first, second = http_server.requests
        verify(secret, second)  # signed over the new body
        links = [json.loads(r["body"])["data"]["s3_url"] for r in (first, second)]
        assert links[0] != links[1]
        expiries = [int(parse_qs(urlsplit(link).query)["expires"][0]) for link in links]
        assert expiries[0] < later.timestamp() < expiries[1]
        # The retry's link works at the retry's time, the first one no longer does.
        assert owner_client.get(links[1].removeprefix("http://testserver")).status_code == 200
        assert owner_client.get(links[0].removeprefix("http://testserver")).status_code != 200
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"] == delivery.message_id
    row = WebhookDelivery.all_orgs.get(id=delivery.id)
    assert row.status == DeliveryStatus.SUCCEEDED
    assert row.body == second["body"].decode()  # the record shows what was sent last


def test_a_retry_after_the_package_was_deleted_carries_no_link(
    org, app, http_server, private_ok, owner_client, django_capture_on_commit_callbacks
):
    import json

    from agentapps.models import Package
    from deployments.models import Deployment

    with django_capture_on_commit_callbacks(execute=True):
        deployment_id = deploy(owner_client, app, "1.0.0").json()["deployment"]["id"]
    webhook_create(
        organization=org, agent_app=app, url=http_server.url, events=["deployment.failed"]
    )
    http_server.responses = [(500, {}), (200, {})]
    deployment = Deployment.all_orgs.get(id=deployment_id)
    (delivery,) = delivery_service.webhook_event_emit(
        deployment=deployment, event="deployment.failed"
    )
    webhook_deliver_task(str(delivery.id))
    Package.all_orgs.filter(id=deployment.package_id).update(deleted_at=timezone.now())
    _due_now(delivery.id)
    webhook_deliver_task(str(delivery.id))
    first, second = (json.loads(r["body"])["data"]["s3_url"] for r in http_server.requests)
    assert first and second is None
