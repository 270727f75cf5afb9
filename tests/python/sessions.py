"""Drives a whole session through the official `anthropic` SDK, unchanged:
create an environment, an agent and a session; stream events while sending a
message; receive the agent's reply (scripted on the mock model); list events
with pagination; version the agent; update, archive and delete sessions.
Prints a JSON summary for the Rust test to check."""

import json
import uuid

import anthropic


def main() -> None:
    client = anthropic.Anthropic(max_retries=0)
    summary = {"sdk_version": anthropic.__version__}

    environment = client.beta.environments.create(
        name=f"sdk-sessions-{uuid.uuid4().hex[:8]}",
        config={"type": "cloud", "networking": {"type": "unrestricted"}},
    )
    agent = client.beta.agents.create(
        name="SDK session agent",
        model="claude-test-model",
        system="Be brief.",
        tools=[{"type": "agent_toolset_20260401"}],
    )
    session = client.beta.sessions.create(
        agent=agent.id,
        environment_id=environment.id,
        title="sdk session",
        metadata={"origin": "sdk", "drop": "me"},
    )
    assert session.id.startswith("sesn_"), session.id
    assert session.status == "idle", session.status
    assert session.agent.id == agent.id and session.agent.version == 1

    # Open the stream first, then send, as the docs recommend.
    stream = client.beta.sessions.events.stream(session.id, event_deltas=["agent.message"])
    sent = client.beta.sessions.events.send(
        session.id,
        events=[{"type": "user.message", "content": [{"type": "text", "text": "List the workspace, then answer"}]}],
    )
    assert sent.data[0].type == "user.message"
    assert sent.data[0].id.startswith("sevt_")
    streamed = []
    reply = None
    tool_output = None
    for event in stream:
        streamed.append(event.type)
        if event.type == "agent.message":
            reply = event.content[0].text
        if event.type == "agent.tool_result":
            tool_output = event.content[0].text
        if event.type == "session.status_idle":
            assert event.stop_reason.type == "end_turn", event.stop_reason
            break
    stream.close()
    summary["streamed"] = streamed
    summary["reply"] = reply
    summary["tool_output"] = tool_output

    # Listing with pagination: the SDK follows next_page itself.
    first_page = client.beta.sessions.events.list(session.id, limit=3)
    summary["first_page_size"] = len(first_page.data)
    summary["has_next_page"] = first_page.has_next_page()
    listed = [event.type for event in client.beta.sessions.events.list(session.id, limit=3)]
    summary["listed"] = listed

    retrieved = client.beta.sessions.retrieve(session.id)
    summary["status"] = retrieved.status
    summary["input_tokens"] = retrieved.usage.input_tokens

    updated = client.beta.sessions.update(
        session.id, title="renamed", metadata={"drop": None, "added": "yes"}
    )
    summary["updated_title"] = updated.title
    summary["updated_metadata"] = dict(updated.metadata)

    # A new agent version; a session pinned to version 1 keeps version 1.
    agent_v2 = client.beta.agents.update(agent.id, version=1, system="Be very brief.")
    summary["agent_version"] = agent_v2.version
    pinned = client.beta.sessions.create(
        agent={"type": "agent", "id": agent.id, "version": 1}, environment_id=environment.id
    )
    latest = client.beta.sessions.create(agent=agent.id, environment_id=environment.id)
    summary["pinned_version"] = pinned.agent.version
    summary["latest_version"] = latest.agent.version
    summary["latest_system"] = latest.agent.system

    listed_sessions = [s.id for s in client.beta.sessions.list(agent_id=agent.id)]
    summary["listed_sessions"] = sorted(listed_sessions) == sorted([session.id, pinned.id, latest.id])

    archived = client.beta.sessions.archive(session.id)
    summary["archived"] = archived.archived_at is not None
    deleted = client.beta.sessions.delete(pinned.id)
    summary["deleted_type"] = deleted.type
    try:
        client.beta.sessions.retrieve(pinned.id)
        summary["deleted_status"] = 200
    except anthropic.NotFoundError as err:
        summary["deleted_status"] = err.status_code

    print(json.dumps(summary))


if __name__ == "__main__":
    main()
