//! One module per resource.

pub(crate) mod agents;
pub(crate) mod api_keys;
pub(crate) mod archive;
pub(crate) mod audit_events;
pub(crate) mod deployments;
pub(crate) mod environments;
pub(crate) mod files;
pub(crate) mod health;
pub(crate) mod integrations;
pub(crate) mod memory;
pub(crate) mod model_providers;
pub(crate) mod operations;
pub(crate) mod pages;
pub(crate) mod resources;
pub(crate) mod sessions;
pub(crate) mod tenants;
pub(crate) mod usage;
pub(crate) mod vaults;
pub(crate) mod webhooks;
pub(crate) mod work;
