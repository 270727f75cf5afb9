"""Drives vaults and credentials, files and memory stores through the
official `anthropic` SDK, unchanged, against the platform at
ANTHROPIC_BASE_URL; asserts on the SDK's own return types and prints a JSON
summary for the Rust test to check. The secrets it stores are passed as
arguments so the Rust side can check they never come back."""

import hashlib
import json
import sys

import anthropic
from anthropic.types.beta import (
    BetaFileMetadata,
    BetaManagedAgentsMemoryStore,
    BetaManagedAgentsVault,
)


def main() -> None:
    token, access_token = sys.argv[1], sys.argv[2]
    client = anthropic.Anthropic(max_retries=0)
    summary = {"sdk_version": anthropic.__version__}
    seen = []  # every response, as JSON, to prove no secret comes back

    def keep(obj):
        seen.append(obj.to_json() if hasattr(obj, "to_json") else str(obj))
        return obj

    # ---- vaults and credentials ----------------------------------------
    vault = keep(client.beta.vaults.create(display_name="SDK vault", metadata={"env": "test"}))
    assert isinstance(vault, BetaManagedAgentsVault), type(vault)
    assert vault.id.startswith("vlt_") and vault.type == "vault"
    vault = keep(client.beta.vaults.update(vault.id, display_name="SDK vault 2", metadata={"env": None, "k": "v"}))
    assert vault.display_name == "SDK vault 2" and vault.metadata == {"k": "v"}
    assert keep(client.beta.vaults.retrieve(vault.id)).id == vault.id
    assert vault.id in [v.id for v in client.beta.vaults.list(limit=100)]

    bearer = keep(
        client.beta.vaults.credentials.create(
            vault.id,
            display_name="bearer",
            auth={"type": "static_bearer", "mcp_server_url": "https://mcp.sdk.example/mcp", "token": token},
        )
    )
    assert bearer.type == "vault_credential" and bearer.auth.type == "static_bearer"
    assert bearer.auth.mcp_server_url == "https://mcp.sdk.example/mcp"
    oauth = keep(
        client.beta.vaults.credentials.create(
            vault.id,
            auth={
                "type": "mcp_oauth",
                "mcp_server_url": "https://oauth.sdk.example/mcp",
                "access_token": access_token,
                "refresh": {
                    "refresh_token": access_token + "-refresh",
                    "client_id": "client-1",
                    "token_endpoint": "https://auth.sdk.example/token",
                    "token_endpoint_auth": {"type": "none"},
                },
            },
        )
    )
    assert oauth.auth.refresh.client_id == "client-1"
    envvar = keep(
        client.beta.vaults.credentials.create(
            vault.id,
            auth={
                "type": "environment_variable",
                "secret_name": "SDK_SECRET",
                "secret_value": token + "-env",
                "networking": {"type": "limited", "allowed_hosts": ["api.sdk.example"]},
                "injection_location": {"header": True},
            },
        )
    )
    assert envvar.auth.injection_location.header is True
    assert envvar.auth.injection_location.body is False
    try:
        client.beta.vaults.credentials.create(
            vault.id,
            auth={"type": "static_bearer", "mcp_server_url": "https://mcp.sdk.example/mcp", "token": token},
        )
        raise AssertionError("duplicate mcp_server_url accepted")
    except anthropic.ConflictError as err:
        summary["duplicate_should_retry"] = err.response.headers.get("x-should-retry")
        seen.append(err.response.text)
    updated = keep(
        client.beta.vaults.credentials.update(
            bearer.id, vault_id=vault.id, display_name="bearer 2", auth={"type": "static_bearer", "token": token + "2"}
        )
    )
    assert updated.display_name == "bearer 2"
    validation = keep(client.beta.vaults.credentials.mcp_oauth_validate(oauth.id, vault_id=vault.id))
    assert validation.type == "vault_credential_validation"
    summary["validation"] = {"status": validation.status, "has_refresh_token": validation.has_refresh_token}
    listed = [c.id for c in client.beta.vaults.credentials.list(vault.id)]
    assert sorted(listed) == sorted([bearer.id, oauth.id, envvar.id]), listed
    archived = keep(client.beta.vaults.credentials.archive(envvar.id, vault_id=vault.id))
    assert archived.archived_at is not None
    deleted = keep(client.beta.vaults.credentials.delete(bearer.id, vault_id=vault.id))
    assert deleted.type == "vault_credential_deleted"
    assert keep(client.beta.vaults.credentials.retrieve(oauth.id, vault_id=vault.id)).id == oauth.id
    assert keep(client.beta.vaults.archive(vault.id)).archived_at is not None
    summary["vault_deleted_type"] = keep(client.beta.vaults.delete(vault.id)).type
    try:
        client.beta.vaults.retrieve(vault.id)
        raise AssertionError("deleted vault still readable")
    except anthropic.NotFoundError:
        pass

    # ---- files ------------------------------------------------------------
    payload = bytes(range(256)) * 64 + b"\r\n--tail--\r\n"
    uploaded = client.beta.files.upload(file=("sdk/blob.bin", payload, "application/octet-stream"))
    assert isinstance(uploaded, BetaFileMetadata), type(uploaded)
    assert uploaded.id.startswith("file_") and uploaded.filename == "blob.bin"
    assert uploaded.size_bytes == len(payload)
    text = client.beta.files.upload(file=("hello.txt", b"hello from the SDK\n", "text/plain"), expires_in_seconds=3600)
    assert text.expires_at is not None
    meta = client.beta.files.retrieve_metadata(uploaded.id)
    assert meta.id == uploaded.id and meta.mime_type == "application/octet-stream"
    downloaded = client.beta.files.download(uploaded.id)
    summary["download_exact"] = downloaded.read() == payload
    summary["download_content_type"] = downloaded.headers.get("content-type")
    ids = [f.id for f in client.beta.files.list()]
    assert ids == [text.id, uploaded.id], ids
    assert [f.id for f in client.beta.files.list(ids=[text.id])] == [text.id]
    assert [f.id for f in client.beta.files.list(scope_id="sesn_none")] == []
    paged = [f.id for f in client.beta.files.list(limit=1)]  # auto-pagination follows next_page
    assert paged == [text.id, uploaded.id], paged
    summary["file_deleted_type"] = client.beta.files.delete(uploaded.id).type
    try:
        client.beta.files.retrieve_metadata(uploaded.id)
        raise AssertionError("deleted file still readable")
    except anthropic.NotFoundError:
        pass

    # ---- memory stores ------------------------------------------------------
    store = client.beta.memory_stores.create(name="SDK memory", description="notes")
    assert isinstance(store, BetaManagedAgentsMemoryStore), type(store)
    assert store.id.startswith("memstore_")
    store = client.beta.memory_stores.update(store.id, metadata={"k": "v"})
    assert store.metadata == {"k": "v"}
    mem = client.beta.memory_stores.memories.create(store.id, path="/notes/today.md", content="first")
    assert mem.content is None and mem.content_sha256 == hashlib.sha256(b"first").hexdigest()
    got = client.beta.memory_stores.memories.retrieve(mem.id, memory_store_id=store.id)
    assert got.content == "first"
    try:
        client.beta.memory_stores.memories.create(store.id, path="/notes/today.md", content="again")
        raise AssertionError("path conflict accepted")
    except anthropic.ConflictError as err:
        body = err.body if isinstance(err.body, dict) else {}
        error = body.get("error", body)
        summary["conflict_type"] = error.get("type")
        summary["conflict_should_retry"] = err.response.headers.get("x-should-retry")
        summary["conflicting_id_matches"] = error.get("details", {}).get("conflicting_memory_id") == mem.id
    try:
        client.beta.memory_stores.memories.update(
            mem.id,
            memory_store_id=store.id,
            content="x",
            precondition={"type": "content_sha256", "content_sha256": hashlib.sha256(b"stale").hexdigest()},
        )
        raise AssertionError("stale precondition accepted")
    except anthropic.ConflictError as err:
        body = err.body if isinstance(err.body, dict) else {}
        summary["precondition_type"] = body.get("error", body).get("type")
    mem2 = client.beta.memory_stores.memories.update(
        mem.id,
        memory_store_id=store.id,
        content="second",
        precondition={"type": "content_sha256", "content_sha256": mem.content_sha256},
    )
    assert mem2.memory_version_id != mem.memory_version_id
    client.beta.memory_stores.memories.create(store.id, path="/notes/deep/a.md", content="a")
    items = [
        (i.type, i.path) for i in client.beta.memory_stores.memories.list(store.id, path_prefix="/notes/", depth=1)
    ]
    summary["depth_items"] = items
    versions = [v.operation for v in client.beta.memory_stores.memory_versions.list(store.id, memory_id=mem.id)]
    summary["versions"] = versions
    first_version = client.beta.memory_stores.memory_versions.retrieve(
        mem.memory_version_id, memory_store_id=store.id
    )
    assert first_version.content == "first"
    redacted = client.beta.memory_stores.memory_versions.redact(mem.memory_version_id, memory_store_id=store.id)
    assert redacted.redacted_at is not None and redacted.content is None
    summary["memory_deleted_type"] = client.beta.memory_stores.memories.delete(
        mem.id, memory_store_id=store.id, expected_content_sha256=mem2.content_sha256
    ).type
    # ---- session resources -----------------------------------------------
    env = client.beta.environments.create(
        name="SDK resources", config={"type": "cloud", "networking": {"type": "unrestricted"}}
    )
    agent = client.beta.agents.create(name="SDK resources", model="claude-sonnet-4-5")
    session = client.beta.sessions.create(
        agent=agent.id,
        environment_id=env.id,
        resources=[
            {"type": "file", "file_id": text.id},
            {"type": "memory_store", "memory_store_id": store.id, "access": "read_only"},
        ],
    )
    listed = list(client.beta.sessions.resources.list(session.id, limit=1))  # follows next_page
    summary["resource_types"] = [r.type for r in listed]
    summary["memory_mount_path"] = listed[1].mount_path
    first = client.beta.sessions.resources.retrieve(listed[0].id, session_id=session.id)
    summary["file_mount_path_is_default"] = first.mount_path == f"/mnt/session/uploads/{text.id}"
    added = client.beta.sessions.resources.add(
        session.id, type="file", file_id=text.id, mount_path="/workspace/data/hello.txt"
    )
    summary["added_mount_path"] = added.mount_path
    summary["resource_count_after_add"] = len(list(client.beta.sessions.resources.list(session.id)))
    summary["resource_deleted_type"] = client.beta.sessions.resources.delete(
        first.id, session_id=session.id
    ).type
    try:
        client.beta.sessions.resources.retrieve(first.id, session_id=session.id)
        summary["deleted_resource_status"] = 200
    except anthropic.NotFoundError as err:
        summary["deleted_resource_status"] = err.status_code
    assert [r.id for r in client.beta.sessions.retrieve(session.id).resources] == [listed[1].id, added.id]

    assert client.beta.memory_stores.archive(store.id).archived_at is not None
    summary["store_deleted_type"] = client.beta.memory_stores.delete(store.id).type

    summary["secret_seen"] = any(s in blob for blob in seen for s in (token, access_token))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
