//! Egress policy: which hosts a sandbox may reach, and which vault secret
//! placeholders are substituted for which hosts.
