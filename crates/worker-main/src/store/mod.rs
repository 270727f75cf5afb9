//! D1 access for the control plane. Every query that reads or writes a
//! tenant's objects is scoped by `tenant_id`.

pub(crate) mod agents;
pub(crate) mod api_keys;
pub(crate) mod audit_events;
pub(crate) mod environment_keys;
pub(crate) mod environments;
pub(crate) mod sessions;
pub(crate) mod tenants;
pub(crate) mod usage;
pub(crate) mod vaults;
pub(crate) mod work;

pub(crate) use openma_cloudflare::store::Param;
pub(crate) use openma_cloudflare::store::all;
pub(crate) use openma_cloudflare::store::db;
pub(crate) use openma_cloudflare::store::files;
pub(crate) use openma_cloudflare::store::first;
pub(crate) use openma_cloudflare::store::memory;
pub(crate) use openma_cloudflare::store::run;
pub(crate) use openma_cloudflare::store::statement;
