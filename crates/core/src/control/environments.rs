//! Environment create and update: validation that names the field, config
//! merging (omitted fields keep their value), and the rules the API
//! enforces (no `config.type` change, archived environments are read-only,
//! packages under `limited` networking need package managers allowed).

use std::collections::BTreeMap;

use serde_json::Map;
use serde_json::Value;

use super::metadata::apply_metadata_patch;
use super::metadata::validate_metadata;
use crate::wire::Environment;
use crate::wire::Timestamp;
use crate::wire::ValidationError;
use crate::wire::environment::CloudConfig;
use crate::wire::environment::EnvironmentConfig;
use crate::wire::environment::Networking;
use crate::wire::environment::Packages;
use crate::wire::object_type::EnvironmentType;
use crate::wire::validate::array;
use crate::wire::validate::index;
use crate::wire::validate::join;
use crate::wire::validate::object;
use crate::wire::validate::one_of;
use crate::wire::validate::optional;
use crate::wire::validate::optional_bool;
use crate::wire::validate::required;
use crate::wire::validate::string;

const MAX_NAME: usize = 256;
const MAX_DESCRIPTION: usize = 2048;
const MAX_HOSTS: usize = 256;
const MAX_HOST: usize = 253;
const MAX_PACKAGES: usize = 1000;
const MAX_PACKAGE: usize = 256;
/// The package managers of `config.packages`.
pub const PACKAGE_MANAGERS: [&str; 6] = ["apt", "cargo", "gem", "go", "npm", "pip"];

/// Why an environment create or update was refused (all 400s).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvironmentError {
    /// The body is invalid.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// `metadata` breaks its limits (`details.error_code = "invalid_metadata"`).
    #[error("{0}")]
    InvalidMetadata(ValidationError),
    /// `config.type` cannot change (`invalid_config_type_change`).
    #[error("config.type: cannot change from {from} to {to}")]
    ConfigTypeChange {
        /// The current type.
        from: &'static str,
        /// The requested type.
        to: String,
    },
    /// The environment is archived and read-only (`environment_archived`).
    #[error("the environment is archived and cannot be updated")]
    Archived,
}

impl EnvironmentError {
    /// `error.details.error_code`, where the SDK knows one.
    #[must_use]
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Self::Invalid(_) => None,
            Self::InvalidMetadata(_) => Some("invalid_metadata"),
            Self::ConfigTypeChange { .. } => Some("invalid_config_type_change"),
            Self::Archived => Some("environment_archived"),
        }
    }
}

/// A validated `POST /v1/environments` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentCreateParams {
    /// Display name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Config, defaults filled in.
    pub config: EnvironmentConfig,
    /// Visibility scope.
    pub scope: String,
}

/// A validated `POST /v1/environments/{id}` body: `None` keeps a field.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EnvironmentUpdateParams {
    /// New name.
    pub name: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    /// Metadata patch: a non-empty string upserts, `null` or `""` deletes.
    pub metadata: Option<BTreeMap<String, Option<String>>>,
    /// The raw `config` object, merged onto the current config.
    pub config: Option<Map<String, Value>>,
    /// New scope.
    pub scope: Option<String>,
}

/// Parses and validates a create body.
pub fn parse_environment_create(body: &Value) -> Result<EnvironmentCreateParams, EnvironmentError> {
    let obj = object(body, "")?;
    let name = check_name(required(obj, "name", "")?)?;
    let description = match optional(obj, "description") {
        Some(value) => Some(check_description(value)?),
        None => None,
    };
    let metadata = match optional(obj, "metadata") {
        None => BTreeMap::new(),
        Some(value) => {
            let mut metadata = BTreeMap::new();
            for (key, value) in object(value, "metadata")? {
                let value = string(value, &join("metadata", key))?;
                metadata.insert(key.clone(), value.to_owned());
            }
            validate_metadata(&metadata, "metadata").map_err(EnvironmentError::InvalidMetadata)?;
            metadata
        }
    };
    let config = match optional(obj, "config") {
        None => EnvironmentConfig::Cloud(CloudConfig::default()),
        Some(value) => merge_config(None, object(value, "config")?)?,
    };
    let scope = match optional(obj, "scope") {
        None => "organization".to_owned(),
        Some(value) => check_scope(value)?,
    };
    Ok(EnvironmentCreateParams {
        name,
        description,
        metadata,
        config,
        scope,
    })
}

/// The new environment for validated params.
#[must_use]
pub fn create_environment(
    params: EnvironmentCreateParams,
    id: String,
    now: Timestamp,
) -> Environment {
    Environment {
        id,
        kind: EnvironmentType::Tag,
        name: params.name,
        description: params.description,
        metadata: params.metadata,
        config: params.config,
        scope: Some(params.scope),
        created_at: now,
        updated_at: now,
        archived_at: None,
    }
}

/// Parses and validates an update body (the config is checked against the
/// current environment in [`apply_environment_update`]).
pub fn parse_environment_update(body: &Value) -> Result<EnvironmentUpdateParams, EnvironmentError> {
    let obj = object(body, "")?;
    let mut params = EnvironmentUpdateParams::default();
    if let Some(name) = optional(obj, "name") {
        params.name = Some(check_name(name)?);
    }
    match obj.get("description") {
        None => {}
        Some(Value::Null) => params.description = Some(None),
        Some(value) => params.description = Some(Some(check_description(value)?)),
    }
    if let Some(metadata) = optional(obj, "metadata") {
        let mut patch = BTreeMap::new();
        for (key, value) in object(metadata, "metadata")? {
            let value = match value {
                Value::Null => None,
                Value::String(text) if text.is_empty() => None,
                Value::String(text) => Some(text.clone()),
                _ => {
                    return Err(ValidationError::new(
                        join("metadata", key),
                        "expected a string or null",
                    )
                    .into());
                }
            };
            patch.insert(key.clone(), value);
        }
        params.metadata = Some(patch);
    }
    if let Some(config) = optional(obj, "config") {
        params.config = Some(object(config, "config")?.clone());
    }
    if let Some(scope) = optional(obj, "scope") {
        params.scope = Some(check_scope(scope)?);
    }
    Ok(params)
}

/// Applies an update. `Ok(None)` means nothing changed.
pub fn apply_environment_update(
    current: &Environment,
    params: EnvironmentUpdateParams,
    now: Timestamp,
) -> Result<Option<Environment>, EnvironmentError> {
    if current.archived_at.is_some() {
        return Err(EnvironmentError::Archived);
    }
    let mut next = current.clone();
    if let Some(name) = params.name {
        next.name = name;
    }
    if let Some(description) = params.description {
        next.description = description;
    }
    if let Some(patch) = &params.metadata {
        next.metadata = apply_metadata_patch(&next.metadata, patch, "metadata")
            .map_err(EnvironmentError::InvalidMetadata)?;
    }
    if let Some(config) = &params.config {
        next.config = merge_config(Some(&current.config), config)?;
    }
    if let Some(scope) = params.scope {
        next.scope = Some(scope);
    }
    if next == *current {
        return Ok(None);
    }
    next.updated_at = now;
    Ok(Some(next))
}

fn config_type(config: &EnvironmentConfig) -> &'static str {
    match config {
        EnvironmentConfig::Cloud(_) => "cloud",
        EnvironmentConfig::SelfHosted => "self_hosted",
    }
}

/// Validates `config` params and merges them onto `current` (`None` on
/// create): omitted fields keep their value, `null` resets to the default.
pub fn merge_config(
    current: Option<&EnvironmentConfig>,
    config: &Map<String, Value>,
) -> Result<EnvironmentConfig, EnvironmentError> {
    let kind = one_of(config, "type", "config", &["cloud", "self_hosted"])?;
    if let Some(current) = current
        && config_type(current) != kind
    {
        return Err(EnvironmentError::ConfigTypeChange {
            from: config_type(current),
            to: kind.to_owned(),
        });
    }
    if kind == "self_hosted" {
        return Ok(EnvironmentConfig::SelfHosted);
    }
    let base = match current {
        Some(EnvironmentConfig::Cloud(cloud)) => cloud.clone(),
        _ => CloudConfig::default(),
    };
    let networking = match config.get("networking") {
        None => base.networking,
        Some(Value::Null) => Networking::default(),
        Some(value) => merge_networking(&base.networking, value)?,
    };
    let packages = match config.get("packages") {
        None => base.packages,
        Some(Value::Null) => Packages::default(),
        Some(value) => merge_packages(&base.packages, value)?,
    };
    check_packages_allowed(&networking, &packages)?;
    Ok(EnvironmentConfig::Cloud(CloudConfig {
        networking,
        packages,
    }))
}

fn merge_networking(current: &Networking, value: &Value) -> Result<Networking, ValidationError> {
    const PATH: &str = "config.networking";
    let obj = object(value, PATH)?;
    match one_of(obj, "type", PATH, &["unrestricted", "limited"])? {
        "unrestricted" => Ok(Networking::Unrestricted),
        _ => {
            let (mut hosts, mut mcp, mut managers) = match current {
                Networking::Limited {
                    allowed_hosts,
                    allow_mcp_servers,
                    allow_package_managers,
                } => (
                    allowed_hosts.clone(),
                    *allow_mcp_servers,
                    *allow_package_managers,
                ),
                Networking::Unrestricted => (Vec::new(), false, false),
            };
            match obj.get("allowed_hosts") {
                None => {}
                Some(Value::Null) => hosts = Vec::new(),
                Some(value) => hosts = check_hosts(value)?,
            }
            if obj.contains_key("allow_mcp_servers") {
                mcp = optional_bool(obj, "allow_mcp_servers", PATH)?.unwrap_or(false);
            }
            if obj.contains_key("allow_package_managers") {
                managers = optional_bool(obj, "allow_package_managers", PATH)?.unwrap_or(false);
            }
            Ok(Networking::Limited {
                allowed_hosts: hosts,
                allow_mcp_servers: mcp,
                allow_package_managers: managers,
            })
        }
    }
}

fn check_hosts(value: &Value) -> Result<Vec<String>, ValidationError> {
    const PATH: &str = "config.networking.allowed_hosts";
    let items = array(value, PATH)?;
    if items.len() > MAX_HOSTS {
        return Err(ValidationError::new(
            PATH,
            format!("at most {MAX_HOSTS} hosts"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let path = index(PATH, i);
            let host = string(item, &path)?;
            if host.is_empty() || host.len() > MAX_HOST || host.chars().any(char::is_whitespace) {
                return Err(ValidationError::new(
                    path,
                    format!("expected a host name of 1-{MAX_HOST} characters without spaces"),
                ));
            }
            Ok(host.to_owned())
        })
        .collect()
}

fn merge_packages(current: &Packages, value: &Value) -> Result<Packages, ValidationError> {
    const PATH: &str = "config.packages";
    let obj = object(value, PATH)?;
    if optional(obj, "type").is_some() {
        one_of(obj, "type", PATH, &["packages"])?;
    }
    let mut next = current.clone();
    for manager in PACKAGE_MANAGERS {
        let list = match obj.get(manager) {
            None => continue,
            Some(Value::Null) => Vec::new(),
            Some(value) => check_package_list(value, &join(PATH, manager))?,
        };
        *package_list(&mut next, manager) = list;
    }
    Ok(next)
}

fn package_list<'a>(packages: &'a mut Packages, manager: &str) -> &'a mut Vec<String> {
    match manager {
        "apt" => &mut packages.apt,
        "cargo" => &mut packages.cargo,
        "gem" => &mut packages.gem,
        "go" => &mut packages.go,
        "npm" => &mut packages.npm,
        _ => &mut packages.pip,
    }
}

fn check_package_list(value: &Value, path: &str) -> Result<Vec<String>, ValidationError> {
    let items = array(value, path)?;
    if items.len() > MAX_PACKAGES {
        return Err(ValidationError::new(
            path,
            format!("at most {MAX_PACKAGES} packages"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let path = index(path, i);
            let name = string(item, &path)?;
            if name.trim().is_empty() || name.len() > MAX_PACKAGE {
                return Err(ValidationError::new(
                    path,
                    format!("expected a package of 1-{MAX_PACKAGE} characters"),
                ));
            }
            Ok(name.to_owned())
        })
        .collect()
}

fn has_packages(packages: &Packages) -> bool {
    [
        &packages.apt,
        &packages.cargo,
        &packages.gem,
        &packages.go,
        &packages.npm,
        &packages.pip,
    ]
    .iter()
    .any(|list| !list.is_empty())
}

fn check_packages_allowed(
    networking: &Networking,
    packages: &Packages,
) -> Result<(), ValidationError> {
    if let Networking::Limited {
        allow_package_managers: false,
        ..
    } = networking
        && has_packages(packages)
    {
        return Err(ValidationError::new(
            "config.packages",
            "packages under limited networking require config.networking.allow_package_managers: true",
        ));
    }
    Ok(())
}

fn check_name(value: &Value) -> Result<String, ValidationError> {
    let name = string(value, "name")?;
    let length = name.chars().count();
    if length == 0 || length > MAX_NAME || name.trim().is_empty() {
        return Err(ValidationError::new(
            "name",
            format!("expected 1-{MAX_NAME} characters"),
        ));
    }
    Ok(name.to_owned())
}

fn check_description(value: &Value) -> Result<String, ValidationError> {
    let description = string(value, "description")?;
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(ValidationError::new(
            "description",
            format!("at most {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(description.to_owned())
}

fn check_scope(value: &Value) -> Result<String, ValidationError> {
    match string(value, "scope")? {
        "organization" => Ok("organization".to_owned()),
        "account" => Err(ValidationError::new(
            "scope",
            "\"account\" is not supported: environments are visible to the whole tenant (\"organization\")",
        )),
        other => Err(ValidationError::new(
            "scope",
            format!("expected one of organization, account, got {other:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn created(body: Value) -> Result<Environment, EnvironmentError> {
        let params = parse_environment_create(&body)?;
        Ok(create_environment(params, "env_1".into(), Timestamp(1_000)))
    }

    fn update(current: &Environment, body: Value) -> Result<Option<Environment>, EnvironmentError> {
        apply_environment_update(current, parse_environment_update(&body)?, Timestamp(2_000))
    }

    #[test]
    fn create_defaults_to_an_unrestricted_cloud_config() {
        let env = created(json!({"name": "py"})).unwrap();
        assert_eq!(env.config, EnvironmentConfig::Cloud(CloudConfig::default()));
        assert_eq!(env.scope.as_deref(), Some("organization"));
        let wire = serde_json::to_value(&env).unwrap();
        assert_eq!(wire["type"], "environment");
        assert_eq!(wire["config"]["networking"]["type"], "unrestricted");
        assert_eq!(wire["config"]["packages"]["pip"], json!([]));
    }

    #[test]
    fn create_validates_and_names_the_field() {
        let err = |body: Value| created(body).unwrap_err().to_string();
        assert_eq!(err(json!({})), "name: is required");
        assert!(err(json!({"name": ""})).starts_with("name: "));
        assert!(err(json!({"name": 5})).starts_with("name: "));
        assert!(err(json!({"name": "a", "config": {"type": "vm"}})).starts_with("config.type: "));
        assert!(
            err(json!({"name": "a", "config": {"type": "cloud", "networking": {"type": "limited", "allowed_hosts": [1]}}}))
                .starts_with("config.networking.allowed_hosts[0]: ")
        );
        assert!(
            err(json!({"name": "a", "config": {"type": "cloud", "networking": {"type": "limited", "allow_mcp_servers": "yes"}}}))
                .starts_with("config.networking.allow_mcp_servers: ")
        );
        assert!(
            err(json!({"name": "a", "config": {"type": "cloud", "packages": {"pip": "numpy"}}}))
                .starts_with("config.packages.pip: ")
        );
        assert!(
            err(json!({"name": "a", "config": {"type": "cloud", "packages": {"npm": ["ok", 3]}}}))
                .starts_with("config.packages.npm[1]: ")
        );
        assert!(err(json!({"name": "a", "scope": "account"})).starts_with("scope: "));
    }

    #[test]
    fn packages_under_limited_networking_need_package_managers() {
        let limited = |allow: bool| {
            json!({"name": "a", "config": {"type": "cloud",
                "networking": {"type": "limited", "allowed_hosts": ["api.example.com"], "allow_package_managers": allow},
                "packages": {"pip": ["numpy==2.0"]}}})
        };
        let err = created(limited(false)).unwrap_err();
        assert!(err.to_string().starts_with("config.packages: "), "{err}");
        let env = created(limited(true)).unwrap();
        let EnvironmentConfig::Cloud(cloud) = &env.config else {
            panic!("not cloud")
        };
        assert_eq!(cloud.packages.pip, vec!["numpy==2.0".to_owned()]);
        assert_eq!(
            cloud.networking,
            Networking::Limited {
                allowed_hosts: vec!["api.example.com".into()],
                allow_mcp_servers: false,
                allow_package_managers: true
            }
        );
    }

    #[test]
    fn metadata_limits_carry_the_invalid_metadata_code() {
        let many: Map<String, Value> = (0..17).map(|i| (format!("k{i}"), json!("v"))).collect();
        let err = created(json!({"name": "a", "metadata": many})).unwrap_err();
        assert_eq!(err.error_code(), Some("invalid_metadata"));
        let err = created(json!({"name": "a", "metadata": {"k": "x".repeat(513)}})).unwrap_err();
        assert_eq!(err.error_code(), Some("invalid_metadata"));
        let err = created(json!({"name": "a", "metadata": {"k".repeat(65): "v"}})).unwrap_err();
        assert_eq!(err.error_code(), Some("invalid_metadata"));
        assert!(created(json!({"name": "a", "metadata": {"k": 1}})).is_err());
    }

    #[test]
    fn update_merges_patches_and_detects_no_ops() {
        let env = created(json!({"name": "a", "description": "d", "metadata": {"a": "1", "b": "2"},
            "config": {"type": "cloud", "networking": {"type": "limited", "allowed_hosts": ["x.com"], "allow_package_managers": true}}}))
        .unwrap();
        assert_eq!(update(&env, json!({})).unwrap(), None);
        assert_eq!(
            update(&env, json!({"name": "a", "metadata": {"a": "1"}})).unwrap(),
            None
        );
        let next = update(
            &env,
            json!({"metadata": {"a": null, "b": "", "c": "3"}, "description": null}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(next.metadata.len(), 1);
        assert_eq!(next.metadata["c"], "3");
        assert_eq!(next.description, None);
        assert_eq!(next.updated_at, Timestamp(2_000));
        assert_eq!(next.created_at, Timestamp(1_000));
        // Omitted networking fields keep their values.
        let next = update(&env, json!({"config": {"type": "cloud", "networking": {"type": "limited", "allow_mcp_servers": true}, "packages": {"apt": ["git"]}}}))
            .unwrap()
            .unwrap();
        let EnvironmentConfig::Cloud(cloud) = &next.config else {
            panic!("not cloud")
        };
        assert_eq!(
            cloud.networking,
            Networking::Limited {
                allowed_hosts: vec!["x.com".into()],
                allow_mcp_servers: true,
                allow_package_managers: true
            }
        );
        assert_eq!(cloud.packages.apt, vec!["git".to_owned()]);
        // Turning package managers off while packages exist is refused.
        let err = update(&next, json!({"config": {"type": "cloud", "networking": {"type": "limited", "allow_package_managers": false}}}))
            .unwrap_err();
        assert!(err.to_string().starts_with("config.packages: "));
    }

    #[test]
    fn config_type_changes_and_archived_updates_are_refused() {
        let env = created(json!({"name": "a"})).unwrap();
        let err = update(&env, json!({"config": {"type": "self_hosted"}})).unwrap_err();
        assert_eq!(err.error_code(), Some("invalid_config_type_change"));
        let hosted = created(json!({"name": "b", "config": {"type": "self_hosted"}})).unwrap();
        assert_eq!(hosted.config, EnvironmentConfig::SelfHosted);
        let err = update(&hosted, json!({"config": {"type": "cloud"}})).unwrap_err();
        assert_eq!(err.error_code(), Some("invalid_config_type_change"));
        let mut archived = env;
        archived.archived_at = Some(Timestamp(1_500));
        let err = update(&archived, json!({"name": "c"})).unwrap_err();
        assert_eq!(err, EnvironmentError::Archived);
        assert_eq!(err.error_code(), Some("environment_archived"));
    }
}
