use super::*;

fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::parse(args.iter().map(|a| (*a).to_owned()), |name| {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
}

#[test]
fn flags_override_environment_and_defaults_are_loopback() {
    let c = parse(
        &["--state-dir", "/s", "--listen", "0.0.0.0:8080"],
        &[("OMA_SANDBOX_TOKEN", "t"), ("OMA_STATE_DIR", "/env")],
    )
    .unwrap();
    assert_eq!(c.state_dir, PathBuf::from("/s"));
    assert_eq!(c.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(c.proxy_listen.to_string(), "127.0.0.1:0");
    assert_eq!(c.token, "t");
    assert!(c.workspace.is_none() && c.sandbox_user.is_none());
    let c = parse(
        &["--sandbox-user", "1000:1001", "--workspace", "/workspace"],
        &[("OMA_SANDBOX_TOKEN", "t"), ("OMA_STATE_DIR", "/e")],
    )
    .unwrap();
    assert_eq!(c.sandbox_user, Some((1000, 1001)));
    assert_eq!(c.workspace, Some(PathBuf::from("/workspace")));
}

#[test]
fn token_and_state_dir_are_required_and_bad_values_are_named() {
    assert!(matches!(
        parse(&["--state-dir", "/s"], &[]),
        Err(ConfigError::Missing(_))
    ));
    assert!(matches!(
        parse(&["--token", ""], &[("OMA_STATE_DIR", "/s")]),
        Err(ConfigError::Missing(_))
    ));
    let bad = parse(
        &["--listen", "nope"],
        &[("OMA_SANDBOX_TOKEN", "t"), ("OMA_STATE_DIR", "/s")],
    )
    .unwrap_err();
    assert_eq!(bad.to_string(), "invalid value for --listen: nope");
    assert!(matches!(
        parse(&["--frobnicate", "1"], &[]),
        Err(ConfigError::Usage(_))
    ));
    assert!(matches!(
        parse(
            &["--sandbox-user", "root"],
            &[("OMA_SANDBOX_TOKEN", "t"), ("OMA_STATE_DIR", "/s")]
        ),
        Err(ConfigError::Invalid { .. })
    ));
}
