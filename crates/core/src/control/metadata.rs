//! `metadata`: at most 16 pairs, keys ≤ 64 chars, values ≤ 512 chars; updates
//! are patches (a string upserts, `null` deletes, omitted keys are kept).

use std::collections::BTreeMap;

use crate::wire::ValidationError;

const MAX_PAIRS: usize = 16;
const MAX_KEY: usize = 64;
const MAX_VALUE: usize = 512;

/// Checks the limits of a metadata bag at `path`.
pub fn validate_metadata(
    metadata: &BTreeMap<String, String>,
    path: &str,
) -> Result<(), ValidationError> {
    if metadata.len() > MAX_PAIRS {
        return Err(ValidationError::new(
            path,
            format!("at most {MAX_PAIRS} pairs"),
        ));
    }
    for (key, value) in metadata {
        if key.is_empty() || key.chars().count() > MAX_KEY {
            return Err(ValidationError::new(
                format!("{path}.{key}"),
                format!("keys must be 1-{MAX_KEY} characters"),
            ));
        }
        if value.chars().count() > MAX_VALUE {
            return Err(ValidationError::new(
                format!("{path}.{key}"),
                format!("values must be at most {MAX_VALUE} characters"),
            ));
        }
    }
    Ok(())
}

/// Applies a metadata patch and checks the result.
pub fn apply_metadata_patch(
    current: &BTreeMap<String, String>,
    patch: &BTreeMap<String, Option<String>>,
    path: &str,
) -> Result<BTreeMap<String, String>, ValidationError> {
    let mut next = current.clone();
    for (key, value) in patch {
        match value {
            Some(value) => next.insert(key.clone(), value.clone()),
            None => next.remove(key),
        };
    }
    validate_metadata(&next, path)?;
    Ok(next)
}
