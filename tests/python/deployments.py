"""Drives deployments through the official `anthropic` SDK, unchanged:
create one on a cron schedule (pinning the agent's latest version), retrieve
and list them page by page, run one by hand and find its run, pause, unpause,
update and archive it, and see an unsupported field refused. Prints a JSON
summary for the Rust test to check."""

import json
import time
import uuid

import anthropic


def main() -> None:
    client = anthropic.Anthropic(max_retries=0)
    summary = {"sdk_version": anthropic.__version__}

    environment = client.beta.environments.create(
        name=f"sdk-deployments-{uuid.uuid4().hex[:8]}",
        config={"type": "cloud", "networking": {"type": "unrestricted"}},
    )
    agent = client.beta.agents.create(
        name="SDK deployment agent",
        model="claude-test-model",
        tools=[{"type": "agent_toolset_20260401"}],
    )
    first_event = {"type": "user.message", "content": [{"type": "text", "text": "Summarise the day"}]}
    deployment = client.beta.deployments.create(
        name="daily summary",
        agent=agent.id,
        environment_id=environment.id,
        initial_events=[first_event],
        schedule={"type": "cron", "expression": "30 18 * * 1-5", "timezone": "Europe/Paris"},
        metadata={"origin": "sdk"},
    )
    assert deployment.id.startswith("depl_"), deployment.id
    assert deployment.status == "active", deployment.status
    summary["deployment_id"] = deployment.id
    summary["agent_version"] = deployment.agent.version
    summary["upcoming"] = len(deployment.schedule.upcoming_runs_at)
    summary["timezone"] = deployment.schedule.timezone

    fetched = client.beta.deployments.retrieve(deployment.id)
    assert fetched.id == deployment.id and fetched.name == "daily summary"
    client.beta.deployments.create(
        name="second",
        agent={"type": "agent", "id": agent.id, "version": 1},
        environment_id=environment.id,
        initial_events=[first_event],
    )
    pages = 0
    page = client.beta.deployments.list(limit=1)
    while True:
        pages += 1
        assert len(page.data) == 1
        if not page.has_next_page():
            break
        page = page.get_next_page()
    summary["listed_pages"] = pages

    run = client.beta.deployments.run(deployment.id)
    assert run.id.startswith("drun_"), run.id
    assert run.error is None, run.error
    summary["session_id"] = run.session_id
    summary["trigger"] = run.trigger_context.type
    runs = list(client.beta.deployment_runs.list(deployment_id=deployment.id))
    summary["runs_listed"] = len(runs)
    assert client.beta.deployment_runs.retrieve(run.id).session_id == run.session_id
    session = client.beta.sessions.retrieve(run.session_id)
    assert session.deployment_id == deployment.id, session.deployment_id

    paused = client.beta.deployments.pause(deployment.id)
    summary["paused_reason"] = paused.paused_reason.type
    summary["unpaused_status"] = client.beta.deployments.unpause(deployment.id).status
    summary["renamed"] = client.beta.deployments.update(deployment.id, name="renamed by the sdk").name
    summary["archived"] = client.beta.deployments.archive(deployment.id).archived_at is not None

    try:
        client.beta.deployments.create(
            name="capped",
            agent=agent.id,
            environment_id=environment.id,
            initial_events=[first_event],
            budget={"type": "limit", "max_list_cost": {"amount": "500", "currency": "USD"}},
        )
        summary["refused_status"] = None
    except anthropic.BadRequestError as err:
        summary["refused_status"] = err.status_code

    # Let the run's turn finish before the platform goes away.
    for _ in range(80):
        if client.beta.sessions.retrieve(run.session_id).status == "idle":
            break
        time.sleep(0.25)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
