//! Content blocks shared by user, agent and tool events.

use serde::Deserialize;
use serde::Serialize;

/// A content block inside an event (`text`, `image`, `document`, `redacted`,
/// `search_result`). Request and response shapes are identical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContentBlock {
    /// Plain text.
    Text(TextBlock),
    /// An image, inline or by reference.
    Image(ImageBlock),
    /// A document (PDF, plain text), inline or by reference.
    Document(DocumentBlock),
    /// Content withheld by model policy.
    Redacted(RedactedBlock),
    /// A web search result, in tool results.
    SearchResult(SearchResultBlock),
}

impl ContentBlock {
    /// A text block.
    #[must_use]
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(TextBlock { text: text.into() })
    }

    /// The text of a text block, `None` for other kinds.
    #[must_use]
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(block) => Some(&block.text),
            Self::Image(_) | Self::Document(_) | Self::Redacted(_) | Self::SearchResult(_) => None,
        }
    }
}

/// `{"type":"text","text":...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextBlock {
    /// The text content.
    pub text: String,
}

/// `{"type":"image","source":...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageBlock {
    /// Where the image bytes come from.
    pub source: ImageSource,
}

/// The source of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ImageSource {
    /// Inline base64 bytes.
    Base64 {
        /// MIME type, e.g. `image/png`.
        media_type: String,
        /// Base64-encoded bytes.
        data: String,
    },
    /// Fetched from a URL.
    Url {
        /// The image URL.
        url: String,
    },
    /// A previously uploaded file.
    File {
        /// The `file_` id.
        file_id: String,
    },
}

/// `{"type":"document","source":...,"title"?,"context"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentBlock {
    /// Where the document comes from.
    pub source: DocumentSource,
    /// The document's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Extra context about the document for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// The source of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DocumentSource {
    /// Inline base64 bytes.
    Base64 {
        /// MIME type, e.g. `application/pdf`.
        media_type: String,
        /// Base64-encoded bytes.
        data: String,
    },
    /// Inline plain text (`media_type` is `text/plain`).
    Text {
        /// Always `text/plain`.
        media_type: String,
        /// The text.
        data: String,
    },
    /// Fetched from a URL.
    Url {
        /// The document URL.
        url: String,
    },
    /// A previously uploaded file.
    File {
        /// The `file_` id.
        file_id: String,
    },
}

/// `{"type":"redacted"}`: content withheld by model policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RedactedBlock {}

/// `{"type":"search_result",...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResultBlock {
    /// The URL the result came from.
    pub source: String,
    /// The result's title.
    pub title: String,
    /// Text content of the result.
    pub content: Vec<TextContent>,
    /// Citation settings.
    #[serde(default)]
    pub citations: SearchResultCitations,
}

/// A `{"type":"text","text":...}` item with an explicit tag, used where the
/// schema allows only text (search results, system messages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "text")]
pub struct TextContent {
    /// The text content.
    pub text: String,
}

/// Citation settings of a search result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SearchResultCitations {
    /// Whether citations are enabled.
    pub enabled: bool,
}
