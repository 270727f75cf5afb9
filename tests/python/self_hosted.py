"""A self-hosted environment served by the official SDK's own worker
(`anthropic.lib.environments.EnvironmentWorker`, with its
`beta_agent_toolset_20260401` tools), unchanged.

`self_hosted.py scenario`: creates a self-hosted environment, its key, an
agent and a session; runs the worker in this process while a message makes
the (mock) model ask for bash; follows the session to its end; waits for the
worker to let the item go; then claims another session's item by hand and
heartbeats it twice as the SDK does, the second time stale. Prints a JSON
summary for the Rust test.

`self_hosted.py worker ENV_ID ENV_KEY WORKDIR WORKER_ID`: runs the worker
until it is killed.
"""

import asyncio
import json
import logging
import os
import sys
import tempfile
import time
import uuid

import anthropic
from anthropic.lib.environments import EnvironmentWorker

# Short, so that a worker lets its item go soon after the session's turn ends.
MAX_IDLE = 2.0


def worker_for(client, environment_id, environment_key, workdir, worker_id):
    return EnvironmentWorker(
        client,
        environment_id=environment_id,
        environment_key=environment_key,
        workdir=workdir,
        max_idle=MAX_IDLE,
        worker_id=worker_id,
    )


async def wait_for(what, check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.25)


async def item_of(client, environment_id, session_id):
    async for item in client.beta.environments.work.list(environment_id):
        if item.data.id == session_id:
            return item
    return None


async def scenario():
    client = anthropic.AsyncAnthropic(max_retries=2)
    summary = {"sdk_version": anthropic.__version__}

    environment = await client.beta.environments.create(
        name=f"self-hosted-{uuid.uuid4().hex[:8]}", config={"type": "self_hosted"}
    )
    # openma's addition: the key a worker polls with, shown once.
    key = await client.post(f"/v1/environments/{environment.id}/keys", body={}, cast_to=object)
    summary["key"] = {"type": key["type"], "prefix": key["key"][:8], "environment_id": key["environment_id"]}
    agent = await client.beta.agents.create(
        name="self-hosted agent",
        model="claude-test-model",
        tools=[{"type": "agent_toolset_20260401"}],
    )
    session = await client.beta.sessions.create(agent=agent.id, environment_id=environment.id)
    stats = await client.beta.environments.work.stats(environment.id)
    summary["queued"] = {"depth": stats.depth, "pending": stats.pending}

    workdir = tempfile.mkdtemp(prefix="oma-worker-")
    summary["workdir"] = workdir
    worker = asyncio.create_task(
        worker_for(client, environment.id, key["key"], workdir, "e2e-scenario").run()
    )

    stream = await client.beta.sessions.events.stream(session.id)
    await client.beta.sessions.events.send(
        session.id,
        events=[{"type": "user.message", "content": [{"type": "text", "text": "Where are you?"}]}],
    )
    streamed = []
    async for event in stream:
        streamed.append(event.type)
        if event.type == "agent.tool_use":
            summary["tool_use"] = {"name": event.name, "permission": event.evaluated_permission}
        if event.type == "user.tool_result":
            summary["tool_result"] = {
                "text": event.content[0].text if event.content else None,
                "is_error": event.is_error,
            }
        if event.type == "agent.message":
            summary["reply"] = event.content[0].text
        if event.type == "session.status_idle" and event.stop_reason.type == "end_turn":
            break
    await stream.close()
    summary["streamed"] = streamed

    async def stopped():
        item = await item_of(client, environment.id, session.id)
        return item if item is not None and item.state == "stopped" else None

    item = await wait_for("the worker to stop its item", stopped)
    summary["work"] = {
        "state": item.state,
        "acknowledged": item.acknowledged_at is not None,
        "started": item.started_at is not None,
        "heartbeat": item.latest_heartbeat_at is not None,
        "secret": item.secret,
    }
    stats = await client.beta.environments.work.stats(environment.id)
    summary["stats_after"] = {"depth": stats.depth, "pending": stats.pending, "workers_polling": stats.workers_polling}
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)
    final = await client.beta.sessions.retrieve(session.id)
    summary["status"] = final.status

    # A second session's item, claimed by hand as the SDK's poller and lease
    # do it: the environment key polls and acks, the sessions token heartbeats.
    second = await client.beta.sessions.create(agent=agent.id, environment_id=environment.id)
    os.environ.pop("ANTHROPIC_API_KEY", None)
    by_key = anthropic.AsyncAnthropic(auth_token=key["key"], max_retries=0)

    # The cancelled worker's last poll may still be waiting on the server,
    # and take the item to nobody: it is handed out again after 5 s.
    async def poll():
        return await by_key.beta.environments.work.poll(
            environment.id, block_ms=999, anthropic_worker_id="e2e-by-hand"
        )

    claimed = await wait_for("the second session's item", poll, timeout=30.0)
    summary["claimed_session"] = claimed.data.id == second.id
    await by_key.beta.environments.work.ack(claimed.id, environment_id=environment.id)
    from anthropic.lib.environments._poller import sessions_token_from_secret

    token = sessions_token_from_secret(claimed.secret).get_secret_value()
    by_token = anthropic.AsyncAnthropic(auth_token=token, max_retries=0)
    first = await by_token.beta.environments.work.heartbeat(
        claimed.id, environment_id=environment.id, expected_last_heartbeat="NO_HEARTBEAT"
    )
    summary["first_heartbeat"] = {"lease_extended": first.lease_extended, "state": first.state}
    try:
        await by_token.beta.environments.work.heartbeat(
            claimed.id, environment_id=environment.id, expected_last_heartbeat="NO_HEARTBEAT"
        )
        summary["stale_heartbeat"] = "accepted"
    except anthropic.types.beta.environments.BetaHeartbeatPreconditionFailedError as e:
        summary["stale_heartbeat"] = {
            "status": e.status_code,
            "error_code": e.error_code,
            "current_state": e.body["error"]["details"]["current_state"],
            "stored": first.last_heartbeat,
        }
    try:
        await by_token.beta.agents.list()
        summary["token_elsewhere"] = "allowed"
    except anthropic.PermissionDeniedError as e:
        summary["token_elsewhere"] = e.status_code
    stopped_item = await by_token.beta.environments.work.stop(claimed.id, environment_id=environment.id, force=True)
    summary["stopped_by_token"] = stopped_item.state
    try:
        await by_token.beta.sessions.retrieve(second.id)
        summary["token_after_stop"] = "allowed"
    except anthropic.AuthenticationError as e:
        summary["token_after_stop"] = e.status_code
    print(json.dumps(summary))


async def serve(environment_id, environment_key, workdir, worker_id):
    client = anthropic.AsyncAnthropic()
    print(f"worker {worker_id} polling", flush=True)
    await worker_for(client, environment_id, environment_key, workdir, worker_id).run()


def main():
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    command = sys.argv[1]
    if command == "scenario":
        asyncio.run(scenario())
    elif command == "worker":
        asyncio.run(serve(*sys.argv[2:6]))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
