//! One module per resource.

pub(crate) mod api_keys;
pub(crate) mod health;
pub(crate) mod tenants;
