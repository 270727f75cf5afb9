use crate::wire::Timestamp;

/// The current time. Core never reads the system clock (it panics on wasm).
pub trait Clock {
    /// Now, in milliseconds since the epoch.
    fn now(&self) -> Timestamp;
}
