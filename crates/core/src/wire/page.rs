//! List pages `{data, next_page}` and opaque `page_` cursors.

use serde::Deserialize;
use serde::Serialize;

use super::ids::PAGE_PREFIX;
use super::validate::ValidationError;

/// A page of a list endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items.
    pub data: Vec<T>,
    /// Cursor of the next page; `null` on the last page.
    pub next_page: Option<String>,
    /// Cursor of the previous page; only `GET /v1/sessions` sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_page: Option<Option<String>>,
}

/// List order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Oldest first.
    #[default]
    Asc,
    /// Newest first.
    Desc,
}

impl Order {
    fn as_str(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }
}

/// The decoded content of a cursor: a position key and the order it was
/// issued for (reusing it with another order is a 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor {
    /// Order the cursor was issued for.
    pub order: Order,
    /// Position after which the next page starts (an id or a seq).
    pub after: String,
}

impl PageCursor {
    /// Encodes as `page_<hex>`.
    #[must_use]
    pub fn encode(&self) -> String {
        let raw = format!("{}:{}", self.order.as_str(), self.after);
        let mut out = String::with_capacity(PAGE_PREFIX.len() + raw.len() * 2);
        out.push_str(PAGE_PREFIX);
        for byte in raw.bytes() {
            out.push_str(&format!("{byte:02x}"));
        }
        out
    }

    /// Decodes a cursor; `expected` is the order of the current request.
    pub fn decode(cursor: &str, expected: Order) -> Result<Self, ValidationError> {
        let invalid = || ValidationError::new("page", "invalid page cursor");
        let hex = cursor.strip_prefix(PAGE_PREFIX).ok_or_else(invalid)?;
        if hex.len() % 2 != 0 {
            return Err(invalid());
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(invalid)?;
        let raw = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (order, after) = raw.split_once(':').ok_or_else(invalid)?;
        let order = match order {
            "asc" => Order::Asc,
            "desc" => Order::Desc,
            _ => return Err(invalid()),
        };
        if order != expected {
            return Err(ValidationError::new(
                "page",
                "page cursor was issued for a different order",
            ));
        }
        Ok(Self {
            order,
            after: after.to_owned(),
        })
    }
}
