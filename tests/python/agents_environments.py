"""Drives agents and environments through the official `anthropic` SDK,
unchanged, against the platform at ANTHROPIC_BASE_URL; asserts on the SDK's
own return types and prints a JSON summary for the Rust test to check."""

import json
import sys
from datetime import datetime, timedelta, timezone

import anthropic
import httpx2
from anthropic.types.beta import BetaEnvironment, BetaManagedAgentsAgent


def main() -> None:
    client = anthropic.Anthropic(max_retries=0)
    summary = {"sdk_version": anthropic.__version__}

    # ---- agents -------------------------------------------------------
    before = datetime.now(timezone.utc) - timedelta(minutes=5)
    agent = client.beta.agents.create(
        name="SDK coder",
        model="claude-sonnet-4-6",
        system="Be brief.",
        tools=[{"type": "agent_toolset_20260401"}],
        metadata={"team": "sdk", "tier": "gold"},
    )
    assert isinstance(agent, BetaManagedAgentsAgent), type(agent)
    assert agent.id.startswith("agent_"), agent.id
    assert agent.type == "agent"
    assert agent.version == 1
    assert agent.model.id == "claude-sonnet-4-6"
    assert agent.archived_at is None
    toolset = agent.tools[0]
    assert toolset.type == "agent_toolset_20260401"
    # Resolved configs: every tool has enabled and a permission policy.
    assert toolset.default_config.permission_policy.type in ("always_allow", "always_ask", "auto")
    assert len(toolset.configs) > 0
    assert all(c.enabled is not None and c.permission_policy is not None for c in toolset.configs)

    second = client.beta.agents.create(name="SDK second", model={"id": "claude-haiku-4-5"})

    got = client.beta.agents.retrieve(agent.id)
    assert got.id == agent.id and got.name == "SDK coder" and got.version == 1

    # A no-op update keeps the version; a change bumps it.
    same = client.beta.agents.update(agent.id, name="SDK coder", version=1)
    assert same.version == 1, same.version
    updated = client.beta.agents.update(
        agent.id,
        version=1,
        system="Be very brief.",
        metadata={"tier": None, "region": "eu"},
    )
    assert updated.version == 2, updated.version
    assert updated.system == "Be very brief."
    assert updated.metadata == {"team": "sdk", "region": "eu"}, updated.metadata

    # A stale version is a ConflictError (409), not retried.
    try:
        client.beta.agents.update(agent.id, version=1, name="stale")
        raise AssertionError("a stale version was accepted")
    except anthropic.ConflictError as err:
        assert err.status_code == 409
        summary["conflict_should_retry"] = err.response.headers.get("x-should-retry")

    # With the SDK's default retries, x-should-retry: false means one request.
    sent = []
    retrying = anthropic.Anthropic(
        max_retries=2,
        http_client=httpx2.Client(event_hooks={"request": [sent.append]}),
    )
    try:
        retrying.beta.agents.update(agent.id, version=1, name="stale")
        raise AssertionError("a stale version was accepted")
    except anthropic.ConflictError:
        summary["conflict_requests"] = len(sent)

    old = client.beta.agents.retrieve(agent.id, version=1)
    assert old.version == 1 and old.system == "Be brief."

    versions = client.beta.agents.versions.list(agent.id)
    assert [v.version for v in versions.data] == [1, 2], versions
    # Auto-pagination with a page size of 1 walks both versions.
    walked = [v.version for v in client.beta.agents.versions.list(agent.id, limit=1)]
    assert walked == [1, 2], walked

    listed = client.beta.agents.list(created_at_gte=before, limit=100)
    ids = [a.id for a in listed.data]
    assert agent.id in ids and second.id in ids, ids
    future = client.beta.agents.list(created_at_gte=datetime.now(timezone.utc) + timedelta(days=1))
    assert future.data == [], future.data
    paged = [a.id for a in client.beta.agents.list(limit=1)]
    assert paged == ids, (paged, ids)

    archived = client.beta.agents.archive(second.id)
    assert archived.archived_at is not None
    assert second.id not in [a.id for a in client.beta.agents.list()]
    assert second.id in [a.id for a in client.beta.agents.list(include_archived=True)]
    try:
        client.beta.agents.update(second.id, name="nope")
        raise AssertionError("an archived agent was updated")
    except anthropic.BadRequestError as err:
        assert err.status_code == 400

    try:
        client.beta.agents.retrieve("agent_doesnotexist")
        raise AssertionError("an unknown agent was found")
    except anthropic.NotFoundError as err:
        assert err.status_code == 404

    summary["agent"] = {
        "id": agent.id,
        "versions": [v.version for v in versions.data],
        "final_version": updated.version,
        "metadata": updated.metadata,
        "archived_id": archived.id,
    }

    # ---- environments -------------------------------------------------
    env = client.beta.environments.create(
        name="sdk-env",
        config={
            "type": "cloud",
            "networking": {
                "type": "limited",
                "allowed_hosts": ["api.example.com"],
                "allow_package_managers": True,
            },
            "packages": {"pip": ["numpy==2.0.0"]},
        },
        metadata={"owner": "sdk"},
    )
    assert isinstance(env, BetaEnvironment), type(env)
    assert env.id.startswith("env_") and env.type == "environment"
    assert env.config.type == "cloud"
    assert env.config.networking.type == "limited"
    assert env.config.networking.allowed_hosts == ["api.example.com"]
    assert env.config.networking.allow_package_managers is True
    assert env.config.packages.pip == ["numpy==2.0.0"]

    try:
        client.beta.environments.create(name="sdk-env")
        raise AssertionError("a duplicate name was accepted")
    except anthropic.ConflictError as err:
        summary["duplicate_name_should_retry"] = err.response.headers.get("x-should-retry")

    try:
        client.beta.environments.create(
            name="sdk-bad",
            config={"type": "cloud", "networking": {"type": "limited"}, "packages": {"apt": ["git"]}},
        )
        raise AssertionError("packages under limited networking were accepted")
    except anthropic.BadRequestError as err:
        assert "config.packages" in err.message, err.message

    got_env = client.beta.environments.retrieve(env.id)
    assert got_env.id == env.id and got_env.name == "sdk-env"

    updated_env = client.beta.environments.update(
        env.id,
        description="for the SDK test",
        metadata={"owner": None, "stage": "test"},
        config={"type": "cloud", "networking": {"type": "limited", "allow_mcp_servers": True}},
    )
    assert updated_env.description == "for the SDK test"
    assert updated_env.metadata == {"stage": "test"}, updated_env.metadata
    assert updated_env.config.networking.allow_mcp_servers is True
    assert updated_env.config.networking.allowed_hosts == ["api.example.com"]

    try:
        client.beta.environments.update(env.id, config={"type": "self_hosted"})
        raise AssertionError("a config type change was accepted")
    except anthropic.BadRequestError as err:
        summary["type_change_code"] = err.error_code

    other = client.beta.environments.create(name="sdk-env-2")
    listed_envs = [e.id for e in client.beta.environments.list(limit=1)]
    assert env.id in listed_envs and other.id in listed_envs, listed_envs

    archived_env = client.beta.environments.archive(other.id)
    assert archived_env.archived_at is not None
    assert other.id not in [e.id for e in client.beta.environments.list()]
    assert other.id in [e.id for e in client.beta.environments.list(include_archived=True)]
    try:
        client.beta.environments.update(other.id, name="renamed")
        raise AssertionError("an archived environment was updated")
    except anthropic.BadRequestError as err:
        summary["archived_code"] = err.error_code

    deleted = client.beta.environments.delete(env.id)
    assert deleted.id == env.id and deleted.type == "environment_deleted"
    try:
        client.beta.environments.retrieve(env.id)
        raise AssertionError("a deleted environment was found")
    except anthropic.NotFoundError as err:
        summary["deleted_status"] = err.status_code

    summary["environment"] = {
        "id": env.id,
        "deleted_type": deleted.type,
        "metadata": updated_env.metadata,
        "archived_id": archived_env.id,
    }
    json.dump(summary, sys.stdout)
    print()


if __name__ == "__main__":
    main()
