//! Update semantics: omitted keeps, `null` clears, a value replaces.

use serde::Deserialize;
use serde::Deserializer;

/// One field of an update body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    /// The field was omitted: keep the current value.
    #[default]
    Keep,
    /// The field was `null`: clear it.
    Clear,
    /// The field has a new value.
    Set(T),
}

impl<T> Patch<T> {
    /// The value after applying the patch to `current`.
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Self::Keep => current,
            Self::Clear => None,
            Self::Set(value) => Some(value),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            Some(value) => Self::Set(value),
            None => Self::Clear,
        })
    }
}
