//! `GET /v1/sessions/{id}/events` query parameters, and listing a log page.

use super::event::EVENT_TYPES;
use super::event::Event;
use super::event::SessionEvent;
use super::ids::EventSeq;
use super::page::Order;
use super::page::Page;
use super::page::PageCursor;
use super::time::Timestamp;
use super::validate::ValidationError;

/// Default page size of the event list.
pub const DEFAULT_EVENT_PAGE: usize = 1000;
/// Largest page size of the event list.
pub const MAX_EVENT_PAGE: usize = 1000;

/// Parsed event-list query (`types[]`, `created_at[gte]`…, `order`, `limit`, `page`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventListQuery {
    /// Only these event types (empty: all).
    pub types: Vec<String>,
    /// `created_at[gt]`, compared with `processed_at`.
    pub created_after: Option<Timestamp>,
    /// `created_at[gte]`.
    pub created_at_or_after: Option<Timestamp>,
    /// `created_at[lt]`.
    pub created_before: Option<Timestamp>,
    /// `created_at[lte]`.
    pub created_at_or_before: Option<Timestamp>,
    /// `asc` (default) or `desc`.
    pub order: Order,
    /// Page size.
    pub limit: usize,
    /// Where the page starts (decoded `page` cursor).
    pub after_seq: Option<EventSeq>,
}

impl EventListQuery {
    /// Parses decoded query pairs. Unknown parameters (such as `beta=true`)
    /// are ignored; both `types[]` and `types` are accepted.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: &[(K, V)],
    ) -> Result<Self, ValidationError> {
        let mut query = Self {
            types: Vec::new(),
            created_after: None,
            created_at_or_after: None,
            created_before: None,
            created_at_or_before: None,
            order: Order::Asc,
            limit: DEFAULT_EVENT_PAGE,
            after_seq: None,
        };
        let mut page = None;
        for (key, value) in pairs {
            let (key, value) = (key.as_ref(), value.as_ref());
            let time = || {
                Timestamp::parse_rfc3339(value)
                    .ok_or_else(|| ValidationError::new(key, "expected an RFC 3339 timestamp"))
            };
            match key {
                "types[]" | "types" => {
                    if !EVENT_TYPES.contains(&value) {
                        return Err(ValidationError::new(
                            key,
                            format!("unknown event type {value:?}"),
                        ));
                    }
                    query.types.push(value.to_owned());
                }
                "created_at[gt]" => query.created_after = Some(time()?),
                "created_at[gte]" => query.created_at_or_after = Some(time()?),
                "created_at[lt]" => query.created_before = Some(time()?),
                "created_at[lte]" => query.created_at_or_before = Some(time()?),
                "order" => {
                    query.order = match value {
                        "asc" => Order::Asc,
                        "desc" => Order::Desc,
                        _ => return Err(ValidationError::new("order", "expected asc or desc")),
                    }
                }
                "limit" => {
                    query.limit = value
                        .parse()
                        .ok()
                        .filter(|limit| (1..=MAX_EVENT_PAGE).contains(limit))
                        .ok_or_else(|| {
                            ValidationError::new(
                                "limit",
                                format!("expected an integer between 1 and {MAX_EVENT_PAGE}"),
                            )
                        })?;
                }
                "page" => page = Some(value.to_owned()),
                _ => {}
            }
        }
        if let Some(page) = page {
            let cursor = PageCursor::decode(&page, query.order)?;
            query.after_seq = Some(
                cursor
                    .after
                    .parse()
                    .map_err(|_| ValidationError::new("page", "invalid page cursor"))?,
            );
        }
        Ok(query)
    }

    /// Whether `event` passes the type and time filters. Queued events
    /// (no `processed_at`) match no time filter.
    #[must_use]
    pub fn matches(&self, event: &Event) -> bool {
        self.admits(event.type_name(), event.processed_at)
    }

    /// Whether an event of type `kind`, processed at `processed_at`, passes
    /// the type and time filters: [`Self::matches`] for a stored row that
    /// has not been decoded.
    #[must_use]
    pub fn admits(&self, kind: &str, processed_at: Option<Timestamp>) -> bool {
        if !self.types.is_empty() && !self.types.iter().any(|t| t == kind) {
            return false;
        }
        let bounds = [
            self.created_after,
            self.created_at_or_after,
            self.created_before,
            self.created_at_or_before,
        ];
        if bounds.iter().all(Option::is_none) {
            return true;
        }
        let Some(at) = processed_at else {
            return false;
        };
        self.created_after.is_none_or(|t| at > t)
            && self.created_at_or_after.is_none_or(|t| at >= t)
            && self.created_before.is_none_or(|t| at < t)
            && self.created_at_or_before.is_none_or(|t| at <= t)
    }

    /// One page of `log` (in seq order), with the cursor of the next page.
    #[must_use]
    pub fn page(&self, log: &[SessionEvent]) -> Page<Event> {
        let selected = self.select(log, |r| (r.seq, r.event.type_name(), r.event.processed_at));
        self.page_of(selected.into_iter().cloned().collect())
    }

    /// The entries of `log` (in seq order) this query selects, in its order:
    /// past the cursor, passing the filters, at most `limit + 1` of them
    /// (ready for [`Self::page_of`] once decoded). `key` gives an entry's
    /// seq, type and processing time, so a log of stored rows is paged
    /// without decoding the rows the page leaves out.
    pub fn select<'a, T>(
        &self,
        log: &'a [T],
        key: impl Fn(&T) -> (EventSeq, &str, Option<Timestamp>),
    ) -> Vec<&'a T> {
        let wanted = |entry: &&T| {
            let (seq, kind, processed_at) = key(entry);
            let beyond = match (self.after_seq, self.order) {
                (None, _) => true,
                (Some(after), Order::Asc) => seq > after,
                (Some(after), Order::Desc) => seq < after,
            };
            beyond && self.admits(kind, processed_at)
        };
        let take = self.limit.saturating_add(1);
        match self.order {
            Order::Asc => log.iter().filter(wanted).take(take).collect(),
            Order::Desc => log.iter().rev().filter(wanted).take(take).collect(),
        }
    }

    /// The page made of `selected`: the events this query selects, in its
    /// order, at most `limit + 1` of them (one more than the page shows
    /// tells that a next page exists). What a store that filters and orders
    /// in its own queries answers with.
    #[must_use]
    pub fn page_of(&self, mut selected: Vec<SessionEvent>) -> Page<Event> {
        let next_page = if selected.len() > self.limit {
            selected.truncate(self.limit);
            selected.last().map(|last| {
                PageCursor {
                    order: self.order,
                    after: last.seq.to_string(),
                }
                .encode()
            })
        } else {
            None
        };
        Page {
            data: selected.into_iter().map(|r| r.event).collect(),
            next_page,
            prev_page: None,
        }
    }
}
