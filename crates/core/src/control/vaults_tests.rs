use serde_json::json;

use super::*;

const NOW: Timestamp = Timestamp(1_800_000_000_000);

fn create(body: Value) -> Result<CredentialCreateParams, VaultError> {
    parse_credential_create(&body, NOW)
}

fn message(err: VaultError) -> String {
    err.to_string()
}

#[test]
fn vault_create_and_update_validate_names_and_patch_metadata() {
    let params =
        parse_vault_create(&json!({"display_name": "Prod", "metadata": {"a": "1"}})).unwrap();
    let vault = create_vault(params, "vlt_1".into(), NOW);
    assert_eq!(
        serde_json::to_value(&vault).unwrap(),
        json!({"id": "vlt_1", "type": "vault", "display_name": "Prod", "metadata": {"a": "1"},
               "created_at": NOW, "updated_at": NOW, "archived_at": null})
    );
    assert!(
        message(parse_vault_create(&json!({})).unwrap_err())
            .starts_with("display_name: is required")
    );
    assert!(
        message(parse_vault_create(&json!({"display_name": ""})).unwrap_err())
            .starts_with("display_name:")
    );
    let update = parse_vault_update(&json!({"metadata": {"a": null, "b": "2"}})).unwrap();
    let next = apply_vault_update(&vault, update, Timestamp(NOW.0 + 1))
        .unwrap()
        .unwrap();
    assert_eq!(next.metadata, BTreeMap::from([("b".into(), "2".into())]));
    assert_eq!(next.updated_at, Timestamp(NOW.0 + 1));
    let noop = parse_vault_update(&json!({"display_name": "Prod"})).unwrap();
    assert_eq!(apply_vault_update(&vault, noop, NOW).unwrap(), None);
    let mut archived = vault;
    archived.archived_at = Some(NOW);
    let update = parse_vault_update(&json!({"display_name": "x"})).unwrap();
    assert_eq!(
        apply_vault_update(&archived, update, NOW),
        Err(VaultError::Archived("vault"))
    );
}

#[test]
fn static_bearer_splits_the_token_from_the_public_auth() {
    let params = create(
        json!({"display_name": "gh", "auth": {"type": "static_bearer",
        "mcp_server_url": "https://mcp.example.com/mcp", "token": "tok-SECRET"}}),
    )
    .unwrap();
    assert_eq!(params.secrets.token.as_deref(), Some("tok-SECRET"));
    let credential = create_credential(&params, "vcrd_1".into(), "vlt_1".into(), NOW);
    let wire = serde_json::to_string(&credential).unwrap();
    assert!(!wire.contains("tok-SECRET"), "{wire}");
    assert!(!format!("{params:?}").contains("tok-SECRET"));
    assert_eq!(
        serde_json::to_value(&credential).unwrap()["auth"],
        json!({"type": "static_bearer", "mcp_server_url": "https://mcp.example.com/mcp"})
    );
    assert_eq!(
        credential.auth.unique_key(),
        "mcp:https://mcp.example.com/mcp"
    );
}

#[test]
fn mcp_oauth_keeps_refresh_settings_and_seals_every_secret() {
    let params = create(json!({"auth": {"type": "mcp_oauth",
        "mcp_server_url": "https://mcp.example.com", "access_token": "AT-SECRET",
        "expires_at": "2030-01-01T00:00:00Z",
        "refresh": {"refresh_token": "RT-SECRET", "client_id": "cid",
            "token_endpoint": "https://auth.example.com/token",
            "token_endpoint_auth": {"type": "client_secret_post", "client_secret": "CS-SECRET"},
            "scope": "read"}}}))
    .unwrap();
    assert_eq!(params.secrets.access_token.as_deref(), Some("AT-SECRET"));
    assert_eq!(params.secrets.refresh_token.as_deref(), Some("RT-SECRET"));
    assert_eq!(params.secrets.client_secret.as_deref(), Some("CS-SECRET"));
    let credential = create_credential(&params, "vcrd_1".into(), "vlt_1".into(), NOW);
    let wire = serde_json::to_value(&credential).unwrap();
    assert_eq!(
        wire["auth"]["refresh"],
        json!({"client_id": "cid", "token_endpoint": "https://auth.example.com/token",
               "token_endpoint_auth": {"type": "client_secret_post"}, "resource": null, "scope": "read"})
    );
    for secret in ["AT-SECRET", "RT-SECRET", "CS-SECRET"] {
        assert!(!wire.to_string().contains(secret));
    }
}

#[test]
fn environment_variable_defaults_injection_to_both_and_checks_hosts() {
    let params = create(json!({"auth": {"type": "environment_variable", "secret_name": "API_TOKEN",
        "secret_value": "v", "networking": {"type": "limited", "allowed_hosts": ["api.example.com", "*.example.org", "192.0.2.1"]}}}))
    .unwrap();
    let CredentialAuth::EnvironmentVariable {
        injection_location,
        networking,
        ..
    } = &params.auth
    else {
        panic!("{:?}", params.auth)
    };
    assert_eq!(
        *injection_location,
        InjectionLocation {
            header: true,
            body: true
        }
    );
    assert!(
        matches!(networking, CredentialNetworking::Limited { allowed_hosts } if allowed_hosts.len() == 3)
    );
    // Given the object, omitted locations default to false; none at all is refused.
    let params = create(json!({"auth": {"type": "environment_variable", "secret_name": "T",
        "secret_value": "v", "networking": {"type": "unrestricted"}, "injection_location": {"body": true}}}))
    .unwrap();
    assert!(matches!(
        params.auth,
        CredentialAuth::EnvironmentVariable {
            injection_location: InjectionLocation {
                header: false,
                body: true
            },
            ..
        }
    ));
    let err = create(
        json!({"auth": {"type": "environment_variable", "secret_name": "T",
        "secret_value": "v", "networking": {"type": "unrestricted"}, "injection_location": {}}}),
    )
    .unwrap_err();
    assert!(message(err).starts_with("auth.injection_location:"));
    for bad in [
        "https://x.com",
        "x.com:443",
        "x.com/path",
        "::1",
        "",
        "*.",
        "a..b",
    ] {
        let err = create(
            json!({"auth": {"type": "environment_variable", "secret_name": "T",
            "secret_value": "v", "networking": {"type": "limited", "allowed_hosts": [bad]}}}),
        )
        .unwrap_err();
        assert!(
            message(err).starts_with("auth.networking.allowed_hosts[0]:"),
            "{bad}"
        );
    }
    let err = create(
        json!({"auth": {"type": "environment_variable", "secret_name": "1BAD",
        "secret_value": "v", "networking": {"type": "unrestricted"}}}),
    )
    .unwrap_err();
    assert!(message(err).starts_with("auth.secret_name:"));
}

#[test]
fn validation_errors_name_the_field_and_never_echo_a_secret() {
    let cases = [
        (
            json!({"auth": {"type": "static_bearer", "mcp_server_url": "https://m"}}),
            "auth.token: is required",
        ),
        (
            json!({"auth": {"type": "static_bearer", "mcp_server_url": "https://m", "token": ""}}),
            "auth.token: must not be empty",
        ),
        (
            json!({"auth": {"type": "static_bearer", "mcp_server_url": "https://m", "token": 5}}),
            "auth.token: expected a string",
        ),
        (
            json!({"auth": {"type": "static_bearer", "mcp_server_url": "ftp://m", "token": "LEAK-ME"}}),
            "auth.mcp_server_url: expected an http(s) URL",
        ),
        (
            json!({"auth": {"type": "nope", "token": "LEAK-ME"}}),
            "auth.type: expected one of",
        ),
        (
            json!({"auth": {"type": "mcp_oauth", "mcp_server_url": "https://m", "access_token": "LEAK-ME", "expires_at": "2000-01-01T00:00:00Z"}}),
            "auth.expires_at: must be in the future",
        ),
        (
            json!({"auth": {"type": "mcp_oauth", "mcp_server_url": "https://m", "access_token": "LEAK-ME",
            "refresh": {"refresh_token": "LEAK-ME", "client_id": "c", "token_endpoint": "https://t",
            "token_endpoint_auth": {"type": "client_secret_basic"}}}}),
            "auth.refresh.token_endpoint_auth.client_secret: is required",
        ),
        (
            json!({"auth": {"type": "environment_variable", "secret_name": "X", "secret_value": "LEAK-ME"}}),
            "auth.networking: is required",
        ),
        (
            json!({"metadata": {"k": 1}, "auth": {"type": "static_bearer"}}),
            "metadata.k: expected a string",
        ),
    ];
    for (body, expected) in cases {
        let err = message(create(body.clone()).unwrap_err());
        assert!(err.starts_with(expected), "{body}: {err}");
        assert!(!err.contains("LEAK-ME"), "{err}");
    }
}

fn stored(body: Value) -> (Credential, CredentialSecrets) {
    let params = create(body).unwrap();
    let credential = create_credential(&params, "vcrd_1".into(), "vlt_1".into(), NOW);
    (credential, params.secrets)
}

#[test]
fn updates_require_the_same_type_and_keep_immutable_fields() {
    let (credential, secrets) = stored(
        json!({"auth": {"type": "static_bearer", "mcp_server_url": "https://m", "token": "old"}}),
    );
    let later = Timestamp(NOW.0 + 5);
    let update = apply_credential_update(
        &credential,
        &secrets,
        &json!({"auth": {"type": "static_bearer", "token": "new"}}),
        later,
    )
    .unwrap();
    assert!(update.secrets_changed);
    assert_eq!(update.secrets.token.as_deref(), Some("new"));
    assert_eq!(update.credential.updated_at, later);
    let err = apply_credential_update(
        &credential,
        &secrets,
        &json!({"auth": {"type": "mcp_oauth"}}),
        later,
    )
    .unwrap_err();
    assert!(message(err).starts_with("auth.type: cannot change"));
    let err = apply_credential_update(
        &credential,
        &secrets,
        &json!({"auth": {"type": "static_bearer", "mcp_server_url": "https://other"}}),
        later,
    )
    .unwrap_err();
    assert!(message(err).starts_with("auth.mcp_server_url: is immutable"));
    // Repeating the current value is fine.
    apply_credential_update(
        &credential,
        &secrets,
        &json!({"auth": {"type": "static_bearer", "mcp_server_url": "https://m"}}),
        later,
    )
    .unwrap();
}

#[test]
fn environment_variable_updates_merge_injection_and_replace_networking() {
    let (credential, secrets) = stored(json!({"auth": {"type": "environment_variable",
        "secret_name": "T", "secret_value": "v", "networking": {"type": "unrestricted"}}}));
    let update = apply_credential_update(
        &credential,
        &secrets,
        &json!({"auth": {"type": "environment_variable", "injection_location": {"header": false},
            "networking": {"type": "limited", "allowed_hosts": ["a.example.com"]}}}),
        NOW,
    )
    .unwrap();
    assert!(!update.secrets_changed);
    let CredentialAuth::EnvironmentVariable {
        injection_location,
        networking,
        ..
    } = update.credential.auth
    else {
        panic!()
    };
    assert_eq!(
        injection_location,
        InjectionLocation {
            header: false,
            body: true
        }
    );
    assert_eq!(
        networking,
        CredentialNetworking::Limited {
            allowed_hosts: vec!["a.example.com".into()]
        }
    );
    for body in [
        json!({"auth": {"type": "environment_variable", "injection_location": null}}),
        json!({"auth": {"type": "environment_variable", "injection_location": {"header": false, "body": false}}}),
        json!({"auth": {"type": "environment_variable", "secret_name": "OTHER"}}),
    ] {
        assert!(
            apply_credential_update(&credential, &secrets, &body, NOW).is_err(),
            "{body}"
        );
    }
}

#[test]
fn mcp_oauth_updates_follow_the_refresh_rules() {
    let (credential, secrets) = stored(json!({"auth": {"type": "mcp_oauth",
        "mcp_server_url": "https://m", "access_token": "a",
        "refresh": {"refresh_token": "r", "client_id": "c", "token_endpoint": "https://t",
            "token_endpoint_auth": {"type": "none"}, "scope": "s"}}}));
    let update = apply_credential_update(
        &credential,
        &secrets,
        &json!({"auth": {"type": "mcp_oauth", "access_token": "a2", "refresh": {"refresh_token": "r2", "scope": ""}}}),
        NOW,
    )
    .unwrap();
    assert_eq!(update.secrets.access_token.as_deref(), Some("a2"));
    assert_eq!(update.secrets.refresh_token.as_deref(), Some("r2"));
    let CredentialAuth::McpOauth { refresh, .. } = &update.credential.auth else {
        panic!()
    };
    assert_eq!(refresh.as_ref().unwrap().scope, None);
    let bad = [
        json!({"auth": {"type": "mcp_oauth", "refresh": {"client_id": "other"}}}),
        json!({"auth": {"type": "mcp_oauth", "refresh": {"token_endpoint": "https://other"}}}),
        json!({"auth": {"type": "mcp_oauth", "refresh": {"token_endpoint_auth": {"type": "client_secret_basic", "client_secret": "x"}}}}),
    ];
    for body in bad {
        assert!(
            apply_credential_update(&credential, &secrets, &body, NOW).is_err(),
            "{body}"
        );
    }
    let cleared = apply_credential_update(
        &credential,
        &secrets,
        &json!({"auth": {"type": "mcp_oauth", "refresh": null}}),
        NOW,
    )
    .unwrap();
    assert_eq!(cleared.secrets.refresh_token, None);
    assert!(matches!(
        cleared.credential.auth,
        CredentialAuth::McpOauth { refresh: None, .. }
    ));
}

#[test]
fn archived_credentials_are_read_only() {
    let (mut credential, secrets) = stored(
        json!({"auth": {"type": "static_bearer", "mcp_server_url": "https://m", "token": "t"}}),
    );
    credential.archived_at = Some(NOW);
    assert_eq!(
        apply_credential_update(&credential, &secrets, &json!({"display_name": "x"}), NOW),
        Err(VaultError::Archived("credential"))
    );
}
