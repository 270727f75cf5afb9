"""Drives outbound webhook endpoints through the official `anthropic` SDK,
unchanged (`client.beta.organization.webhooks`), against the platform at
ANTHROPIC_BASE_URL; asserts on the SDK's own return types and prints a JSON
summary for the Rust test to check, with every signing secret it was shown
and every other answer, so the Rust side can check where secrets appear."""

import base64
import json

import anthropic
from anthropic.types.beta.organization import (
    BetaDeletedOrganizationWebhookEndpoint,
    BetaNewOrganizationWebhookEndpoint,
    BetaOrganizationWebhookEndpoint,
    BetaOrganizationWebhookEndpointSigningSecret,
)


def key_of(secret: str) -> bytes:
    assert secret.startswith("whsec_"), secret
    return base64.b64decode(secret[len("whsec_"):], validate=True)


def main() -> None:
    client = anthropic.Anthropic(max_retries=0)
    hooks = client.beta.organization.webhooks
    summary = {"sdk_version": anthropic.__version__}
    secrets = []  # every secret the SDK was shown
    answers = []  # every other answer, as JSON

    def keep(obj):
        answers.append(obj.to_json())
        return obj

    created = hooks.create(
        url="https://hooks.sdk.example/in?source=openma",
        enabled_events=["agent.created", "session.idled", "agent.created"],
        name="SDK hooks",
        description="Receives agent and session events.",
    )
    assert isinstance(created, BetaNewOrganizationWebhookEndpoint), type(created)
    assert created.id.startswith("whep_"), created.id
    assert created.state == "enabled" and created.disabled_reason == ""
    assert created.enabled_events == ["agent.created", "session.idled"], created.enabled_events
    assert created.name == "SDK hooks" and created.description.startswith("Receives")
    assert created.url == "https://hooks.sdk.example/in?source=openma"
    assert created.created_at == created.updated_at
    assert len(key_of(created.signing_secret)) == 32
    secrets.append(created.signing_secret)
    summary["created_type"] = created.model_extra.get("type")

    plain = hooks.create(url="https://plain.sdk.example/hook", enabled_events=["vault.created"])
    secrets.append(plain.signing_secret)
    assert plain.name == "" and plain.description == ""
    assert plain.signing_secret != created.signing_secret

    got = keep(hooks.retrieve(created.id))
    assert isinstance(got, BetaOrganizationWebhookEndpoint), type(got)
    assert got.id == created.id and got.url == created.url
    assert "signing_secret" not in (got.model_extra or {})

    # Newest first by default; the SDK pages with after_id.
    newest_first = [e.id for e in hooks.list(limit=1)]
    assert newest_first == [plain.id, created.id], newest_first
    page = keep(hooks.list(limit=1))
    assert page.has_more is True and page.first_id == plain.id and page.last_id == plain.id
    oldest_first = [e.id for e in keep(hooks.list(order="asc")).data]
    assert oldest_first == [created.id, plain.id], oldest_first
    after = keep(hooks.list(order="asc", after_id=created.id))
    assert [e.id for e in after.data] == [plain.id] and after.has_more is False
    before = keep(hooks.list(before_id=created.id))
    assert [e.id for e in before.data] == [plain.id], before

    disabled = keep(hooks.update(created.id, state="disabled", name="SDK hooks (paused)", enabled_events=[]))
    assert isinstance(disabled, BetaOrganizationWebhookEndpoint), type(disabled)
    assert disabled.state == "disabled" and disabled.disabled_reason == ""
    assert disabled.name == "SDK hooks (paused)"
    assert disabled.enabled_events == ["agent.created", "session.idled"], "an empty list leaves the set"
    assert disabled.updated_at >= created.updated_at
    enabled = keep(
        hooks.update(created.id, state="enabled", enabled_events=["session.status_terminated"], description="")
    )
    assert enabled.state == "enabled" and enabled.enabled_events == ["session.status_terminated"]
    assert enabled.description == ""

    regenerated = hooks.regenerate_signing_secret(created.id)
    assert isinstance(regenerated, BetaOrganizationWebhookEndpointSigningSecret), type(regenerated)
    assert len(key_of(regenerated.signing_secret)) == 32
    assert regenerated.signing_secret not in secrets
    secrets.append(regenerated.signing_secret)

    for bad, kwargs in [
        ("url", {"url": "ftp://hooks.sdk.example/in", "enabled_events": ["agent.created"]}),
        ("enabled_events", {"url": "https://hooks.sdk.example/in", "enabled_events": []}),
        ("enabled_events[0]", {"url": "https://hooks.sdk.example/in", "enabled_events": ["user_profile.program_status_updated"]}),
    ]:
        try:
            hooks.create(**kwargs)
            raise AssertionError(f"{kwargs} accepted")
        except anthropic.BadRequestError as err:
            answers.append(err.response.text)
            assert err.body["error"]["message"].startswith(bad + ":"), err.body
    try:
        hooks.update(created.id, state="paused")
        raise AssertionError("state paused accepted")
    except anthropic.BadRequestError as err:
        answers.append(err.response.text)

    deleted = keep(hooks.delete(plain.id))
    assert isinstance(deleted, BetaDeletedOrganizationWebhookEndpoint), type(deleted)
    summary["deleted_type"] = deleted.type
    for call in (lambda: hooks.retrieve(plain.id), lambda: hooks.delete(plain.id),
                 lambda: hooks.regenerate_signing_secret(plain.id)):
        try:
            call()
            raise AssertionError("a deleted endpoint answered")
        except anthropic.NotFoundError as err:
            answers.append(err.response.text)
    summary["remaining"] = [e.id for e in hooks.list()]
    summary["endpoint_id"] = created.id
    summary["secrets"] = secrets
    summary["answers"] = answers
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
