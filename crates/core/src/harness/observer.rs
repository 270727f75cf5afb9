//! Best-effort previews of events while the model streams.

use crate::wire::StreamPreview;

/// Receives stream previews during a step. Previews are best effort: the
/// previewed id is the one the event gets unless a concurrent append moves
/// the log first, and an interrupted or failed call just stops previewing.
pub trait StepObserver {
    /// Called synchronously for every preview.
    fn preview(&self, preview: StreamPreview);
}

/// Ignores previews.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPreviews;

impl StepObserver for NoPreviews {
    fn preview(&self, _preview: StreamPreview) {}
}
