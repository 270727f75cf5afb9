use super::*;

fn limited(hosts: &[&str], pm: bool, mcp: bool) -> EgressPolicy {
    EgressPolicy {
        networking: NetworkingPolicy::Limited {
            allowed_hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            allow_mcp_servers: mcp,
            allow_package_managers: pm,
        },
        mcp_server_hosts: vec!["mcp.example.net".into()],
    }
}

#[test]
fn wildcard_matches_subdomains_but_not_the_apex() {
    assert!(host_matches("*.example.com", "api.example.com"));
    assert!(host_matches("*.example.com", "a.b.example.com"));
    assert!(!host_matches("*.example.com", "example.com"));
    assert!(!host_matches("*.example.com", "badexample.com"));
    assert!(!host_matches("*.example.com", ".example.com"));
}

#[test]
fn exact_match_ignores_case_port_and_trailing_dot() {
    assert!(host_matches("API.example.com", "api.example.com:443"));
    assert!(host_matches("api.example.com", "api.example.com."));
    assert!(host_matches("127.0.0.1", "127.0.0.1:8080"));
    assert!(host_matches("::1", "[::1]:80"));
    assert!(!host_matches("example.com", "example.com.evil.net"));
}

#[test]
fn unrestricted_allows_everything_valid() {
    let policy = EgressPolicy::default();
    assert_eq!(
        policy.decide("anything.example", 8080),
        EgressDecision::Allowed(AllowReason::Unrestricted)
    );
    assert!(!policy.decide("", 443).is_allowed());
}

#[test]
fn limited_allows_listed_hosts_and_names_the_policy_when_denying() {
    let policy = limited(&["api.example.com", "*.svc.internal"], false, false);
    assert_eq!(
        policy.decide("api.example.com", 443),
        EgressDecision::Allowed(AllowReason::AllowedHost)
    );
    assert!(policy.decide("x.svc.internal", 80).is_allowed());
    let EgressDecision::Denied(denial) = policy.decide("evil.com", 443) else {
        panic!("expected a denial")
    };
    assert_eq!(denial.host, "evil.com");
    assert_eq!(denial.port, 443);
    assert_eq!(denial.policy, "limited");
    assert!(denial.to_string().contains("`limited`"));
    assert!(!policy.decide("pypi.org", 443).is_allowed());
    assert!(!policy.decide("mcp.example.net", 443).is_allowed());
}

#[test]
fn package_managers_and_mcp_servers_follow_their_flags() {
    let policy = limited(&[], true, true);
    assert_eq!(
        policy.decide("pypi.org", 443),
        EgressDecision::Allowed(AllowReason::PackageManager)
    );
    assert_eq!(
        policy.decide("registry.npmjs.org", 443),
        EgressDecision::Allowed(AllowReason::PackageManager)
    );
    assert_eq!(
        policy.decide("mcp.example.net", 443),
        EgressDecision::Allowed(AllowReason::McpServer)
    );
}

#[test]
fn an_allowed_host_is_reachable_on_other_ports_only_when_the_entry_names_them() {
    let policy = limited(
        &[
            "api.example.com",
            "svc.example.com:8443",
            "[::1]:9000",
            "bad:port",
        ],
        true,
        true,
    );
    assert!(policy.decide("api.example.com", 80).is_allowed());
    assert!(policy.decide("api.example.com", 443).is_allowed());
    let EgressDecision::Denied(denial) = policy.decide("api.example.com", 22) else {
        panic!("an unnamed port must be refused")
    };
    assert_eq!((denial.host.as_str(), denial.port), ("api.example.com", 22));
    assert!(denial.to_string().contains("port 22"));
    assert!(policy.decide("svc.example.com", 8443).is_allowed());
    assert!(!policy.decide("svc.example.com", 443).is_allowed());
    assert!(policy.decide("::1", 9000).is_allowed());
    assert!(!policy.decide("::1", 9001).is_allowed());
    assert!(
        !policy.decide("bad", 443).is_allowed(),
        "a malformed port matches nothing"
    );
    assert!(!policy.decide("pypi.org", 8080).is_allowed());
    assert!(!policy.decide("mcp.example.net", 8080).is_allowed());
    assert!(
        EgressPolicy::default()
            .decide("api.example.com", 22)
            .is_allowed()
    );
}

#[test]
fn allow_list_entries_split_into_host_and_port() {
    assert_eq!(split_entry_port("a.com"), Some(("a.com", None)));
    assert_eq!(split_entry_port("a.com:8080"), Some(("a.com", Some(8080))));
    assert_eq!(split_entry_port("[::1]:80"), Some(("[::1]", Some(80))));
    assert_eq!(split_entry_port("[::1]"), Some(("[::1]", None)));
    assert_eq!(split_entry_port("::1"), Some(("::1", None)));
    assert_eq!(split_entry_port("a.com:http"), None);
    assert_eq!(split_entry_port("a.com:99999"), None);
}

#[test]
fn an_environment_networking_config_that_does_not_parse_is_refused_not_widened() {
    use serde_json::json;
    assert_eq!(
        NetworkingPolicy::from_environment_config(&json!({"type": "cloud"})),
        Ok(NetworkingPolicy::Unrestricted)
    );
    assert_eq!(
        NetworkingPolicy::from_environment_config(&json!({"networking": null})),
        Ok(NetworkingPolicy::Unrestricted)
    );
    let limited = NetworkingPolicy::from_environment_config(
        &json!({"networking": {"type": "limited", "allowed_hosts": ["a.com"]}}),
    );
    assert!(matches!(limited, Ok(NetworkingPolicy::Limited { .. })));
    for broken in [
        json!({"networking": {"type": "limted"}}),
        json!({"networking": {"type": "limited", "allowed_hosts": "a.com"}}),
        json!({"networking": "limited"}),
        json!({"networking": {}}),
    ] {
        let err = NetworkingPolicy::from_environment_config(&broken).unwrap_err();
        assert!(err.contains("networking"), "{err}");
    }
}

#[test]
fn networking_policy_uses_the_api_wire_shape() {
    let p: NetworkingPolicy =
        serde_json::from_str(r#"{"type":"limited","allowed_hosts":["a.com"]}"#).unwrap();
    assert_eq!(
        p,
        NetworkingPolicy::Limited {
            allowed_hosts: vec!["a.com".into()],
            allow_mcp_servers: false,
            allow_package_managers: false
        }
    );
    let u: NetworkingPolicy = serde_json::from_str(r#"{"type":"unrestricted"}"#).unwrap();
    assert_eq!(u.kind(), "unrestricted");
}

fn injector(header: bool, body: bool) -> SecretInjector {
    SecretInjector::new(vec![SecretRule {
        placeholder: "oma_ph_0123456789abcdef".into(),
        value: SecretValue::new("s3cr3t"),
        networking: CredentialNetworking::Limited {
            allowed_hosts: vec!["api.example.com".into()],
        },
        injection: InjectionLocation { header, body },
    }])
}

#[test]
fn placeholders_are_substituted_only_for_allowed_hosts_and_locations() {
    let inj = injector(true, false);
    assert_eq!(
        inj.header_value("api.example.com", "Bearer oma_ph_0123456789abcdef"),
        "Bearer s3cr3t"
    );
    assert_eq!(
        inj.header_value("other.com", "Bearer oma_ph_0123456789abcdef"),
        "Bearer oma_ph_0123456789abcdef"
    );
    assert_eq!(
        &*inj.body("api.example.com", b"k=oma_ph_0123456789abcdef"),
        b"k=oma_ph_0123456789abcdef"
    );
    let inj = injector(false, true);
    assert_eq!(
        &*inj.body(
            "api.example.com",
            b"a oma_ph_0123456789abcdef b oma_ph_0123456789abcdef"
        ),
        b"a s3cr3t b s3cr3t"
    );
    assert_eq!(
        inj.header_value("api.example.com", "oma_ph_0123456789abcdef"),
        "oma_ph_0123456789abcdef"
    );
}

#[test]
fn redaction_hides_secret_values_and_debug_never_prints_them() {
    let inj = injector(true, true);
    assert_eq!(
        inj.redact("token=s3cr3t!"),
        "token=oma_ph_0123456789abcdef!"
    );
    assert_eq!(&*inj.redact_bytes(b"xs3cr3t"), b"xoma_ph_0123456789abcdef");
    assert!(!format!("{inj:?}").contains("s3cr3t"));
}

#[test]
fn injection_location_defaults_to_both_when_omitted_and_false_per_missing_field() {
    assert_eq!(
        InjectionLocation::default(),
        InjectionLocation {
            header: true,
            body: true
        }
    );
    let given: InjectionLocation = serde_json::from_str(r#"{"header":true}"#).unwrap();
    assert_eq!(
        given,
        InjectionLocation {
            header: true,
            body: false
        }
    );
}

#[test]
fn placeholders_must_be_distinctive() {
    assert!(validate_placeholder("oma_ph_0123456789abcdef").is_ok());
    assert!(validate_placeholder("oma_ph_short").is_err());
    assert!(validate_placeholder("x").is_err());
    assert!(validate_placeholder("oma_ph_0123456789abcdef!").is_err());
}

#[test]
fn very_short_secrets_are_not_redacted_so_output_stays_readable() {
    let inj = SecretInjector::new(vec![SecretRule {
        placeholder: "oma_ph_0123456789abcdef".into(),
        value: SecretValue::new("ab"),
        networking: CredentialNetworking::Unrestricted,
        injection: InjectionLocation::default(),
    }]);
    assert_eq!(inj.redact("abc"), "abc");
    assert_eq!(&*inj.redact_bytes(b"abc"), b"abc");
    // Substitution still works for them.
    assert_eq!(inj.header_value("h", "oma_ph_0123456789abcdef"), "ab");
}

#[test]
fn mcp_urls_are_matched_normalised_and_by_path_prefix() {
    assert_eq!(
        normalize_mcp_url("HTTPS://MCP.Example.com:443/Mcp/").as_deref(),
        Some("https://mcp.example.com/Mcp")
    );
    assert_eq!(
        normalize_mcp_url("http://127.0.0.1:8080/mcp?x=1").as_deref(),
        Some("http://127.0.0.1:8080/mcp")
    );
    assert_eq!(
        normalize_mcp_url("http://a:80").as_deref(),
        Some("http://a")
    );
    assert_eq!(normalize_mcp_url("ftp://a/"), None);
    assert_eq!(normalize_mcp_url("https://u:p@a/"), None);
    let server = "https://mcp.example.com/mcp";
    assert!(under_mcp_url(server, "https://mcp.example.com/mcp"));
    assert!(under_mcp_url(server, "https://mcp.example.com/mcp/tools"));
    assert!(!under_mcp_url(server, "https://mcp.example.com/mcpx"));
    assert!(!under_mcp_url(server, "https://mcp.example.com.evil/mcp"));
    assert!(!under_mcp_url(server, "http://mcp.example.com/mcp"));
}
