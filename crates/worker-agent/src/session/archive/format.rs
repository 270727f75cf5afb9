//! The archive of a session object's storage: one gzip-compressed JSON
//! Lines document. The first line is a [`Header`]; every further line is
//! one row of one table, `{"table": …, "row": {column: value, …}}`, table
//! by table in [`TABLES`] order and, within a table, in storage order (the
//! event log by `seq`). Rows are kept as stored: an event's `body` is its
//! JSON without `processed_at`, or, for a body spilled to R2, the spill's
//! key, which stays valid.
//!
//! Decoding checks everything a reader relies on: the format and version,
//! the session, each table's row count against the header, and that the
//! log's seqs strictly increase up to the header's `last_seq`.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::io::Write;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use openma_core::wire::Timestamp;
use serde::Deserialize;
use serde::Serialize;
use serde_json::Map;
use serde_json::Value;

/// The header's `format`.
pub(crate) const FORMAT: &str = "openma.session_archive";

/// The header's `version`: bumped when a reader of the previous version
/// could not read the new one.
pub(crate) const VERSION: u32 = 1;

/// The tables of a session object's storage, in the order they are written
/// and restored. `schema_version` is not among them: a restore applies the
/// current schema, and rows name their columns.
pub(crate) const TABLES: [&str; 5] = ["meta", "events", "mount_roots", "mount_files", "mcp_calls"];

/// The event log's table.
pub(crate) const EVENTS: &str = "events";

/// The first line of an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Header {
    /// [`FORMAT`].
    pub(crate) format: String,
    /// [`VERSION`].
    pub(crate) version: u32,
    /// The session.
    pub(crate) session_id: String,
    /// Its tenant.
    pub(crate) tenant_id: String,
    /// The storage schema the rows were read from.
    pub(crate) schema_version: i64,
    /// When the archive was written.
    pub(crate) archived_at: Timestamp,
    /// The log's last seq (0 for an empty log).
    pub(crate) last_seq: u64,
    /// How many rows each table holds.
    pub(crate) rows: BTreeMap<String, u64>,
}

/// One line after the header.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    table: String,
    row: Map<String, Value>,
}

/// What can be wrong with an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArchiveError(pub(crate) String);

impl std::fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "session archive: {}", self.0)
    }
}

impl std::error::Error for ArchiveError {}

fn bad(what: impl std::fmt::Display) -> ArchiveError {
    ArchiveError(what.to_string())
}

/// One row of the event log, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EventRow {
    pub(crate) seq: i64,
    pub(crate) id: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) processed_at: Option<i64>,
    pub(crate) spilled: i64,
    pub(crate) body: String,
}

impl EventRow {
    /// The row's seq, as the log counts.
    pub(crate) fn seq(&self) -> u64 {
        u64::try_from(self.seq).unwrap_or(0)
    }
}

/// Writes an archive: the header first, then the rows, compressed as they
/// come, so the uncompressed document is never held whole.
pub(crate) struct Writer {
    header: Header,
    gz: GzEncoder<Vec<u8>>,
    written: BTreeMap<String, u64>,
    last_seq: u64,
}

impl Writer {
    /// Starts an archive with `header`, whose row counts the rows written
    /// must match.
    pub(crate) fn new(header: Header) -> Result<Self, ArchiveError> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        let line = serde_json::to_string(&header).map_err(bad)?;
        gz.write_all(line.as_bytes()).map_err(bad)?;
        gz.write_all(b"\n").map_err(bad)?;
        Ok(Self {
            header,
            gz,
            written: BTreeMap::new(),
            last_seq: 0,
        })
    }

    /// Appends one row of `table`.
    pub(crate) fn row(&mut self, table: &str, row: Map<String, Value>) -> Result<(), ArchiveError> {
        if !TABLES.contains(&table) {
            return Err(bad(format!("no table {table}")));
        }
        if table == EVENTS {
            self.last_seq = row
                .get("seq")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad("an event row without a seq"))?;
        }
        let line = serde_json::to_string(&Line {
            table: table.to_owned(),
            row,
        })
        .map_err(bad)?;
        self.gz.write_all(line.as_bytes()).map_err(bad)?;
        self.gz.write_all(b"\n").map_err(bad)?;
        *self.written.entry(table.to_owned()).or_default() += 1;
        Ok(())
    }

    /// The compressed archive, once every row the header counts was written.
    pub(crate) fn finish(self) -> Result<Vec<u8>, ArchiveError> {
        check_counts(&self.header, &self.written)?;
        if self.last_seq != self.header.last_seq {
            return Err(bad(format!(
                "the log ends at seq {}, the header says {}",
                self.last_seq, self.header.last_seq
            )));
        }
        self.gz.finish().map_err(bad)
    }
}

/// A decoded archive.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Archive {
    pub(crate) header: Header,
    /// Every row, by table, in storage order.
    pub(crate) tables: BTreeMap<String, Vec<Map<String, Value>>>,
}

impl Archive {
    /// The event log's rows, in seq order.
    pub(crate) fn events(&self) -> Result<Vec<EventRow>, ArchiveError> {
        self.tables
            .get(EVENTS)
            .map(|rows| {
                rows.iter()
                    .map(|row| serde_json::from_value(Value::Object(row.clone())).map_err(bad))
                    .collect()
            })
            .unwrap_or_else(|| Ok(Vec::new()))
    }
}

/// Decodes and checks an archive of `session_id`.
pub(crate) fn decode(bytes: &[u8], session_id: &str) -> Result<Archive, ArchiveError> {
    let mut lines = std::io::BufReader::new(GzDecoder::new(bytes)).lines();
    let first = lines.next().ok_or_else(|| bad("empty"))?.map_err(bad)?;
    let header: Header = serde_json::from_str(&first).map_err(bad)?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(bad(format!(
            "unknown format {} version {}",
            header.format, header.version
        )));
    }
    if header.session_id != session_id {
        return Err(bad(format!(
            "the archive is of session {}, not {session_id}",
            header.session_id
        )));
    }
    let mut tables: BTreeMap<String, Vec<Map<String, Value>>> = BTreeMap::new();
    let mut last_seq = 0;
    for line in lines {
        let line = line.map_err(bad)?;
        if line.is_empty() {
            continue;
        }
        let Line { table, row } = serde_json::from_str(&line).map_err(bad)?;
        if !TABLES.contains(&table.as_str()) {
            return Err(bad(format!("no table {table}")));
        }
        if table == EVENTS {
            let seq = row
                .get("seq")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad("an event row without a seq"))?;
            if seq <= last_seq {
                return Err(bad(format!("seq {seq} follows {last_seq}")));
            }
            last_seq = seq;
        }
        tables.entry(table).or_default().push(row);
    }
    let counts = tables
        .iter()
        .map(|(table, rows)| (table.clone(), rows.len() as u64))
        .collect();
    check_counts(&header, &counts)?;
    if last_seq != header.last_seq {
        return Err(bad(format!(
            "the log ends at seq {last_seq}, the header says {}",
            header.last_seq
        )));
    }
    Ok(Archive { header, tables })
}

/// Whether `counts` (rows seen per table) are the header's.
fn check_counts(header: &Header, counts: &BTreeMap<String, u64>) -> Result<(), ArchiveError> {
    for table in TABLES {
        let expected = header.rows.get(table).copied().unwrap_or(0);
        let found = counts.get(table).copied().unwrap_or(0);
        if expected != found {
            return Err(bad(format!(
                "{table}: {found} rows, the header says {expected}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use openma_core::wire::Timestamp;
    use serde_json::Map;
    use serde_json::Value;
    use serde_json::json;

    use super::Header;
    use super::TABLES;
    use super::Writer;
    use super::decode;

    fn header(rows: &[(&str, u64)], last_seq: u64) -> Header {
        Header {
            format: super::FORMAT.to_owned(),
            version: super::VERSION,
            session_id: "sesn_1".to_owned(),
            tenant_id: "default".to_owned(),
            schema_version: 4,
            archived_at: Timestamp(1_775_000_000_000),
            last_seq,
            rows: rows
                .iter()
                .map(|(table, n)| ((*table).to_owned(), *n))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn event(seq: i64, kind: &str, spilled: i64, body: &str) -> Map<String, Value> {
        object(json!({
            "seq": seq, "id": format!("sevt_{seq}"), "type": kind,
            "processed_at": if seq == 3 { Value::Null } else { json!(1_775_000_000_000_i64 + seq) },
            "spilled": spilled, "body": body,
        }))
    }

    #[test]
    fn an_archive_reads_back_row_for_row() {
        let mut writer =
            Writer::new(header(&[("meta", 2), ("events", 3), ("mcp_calls", 1)], 3)).unwrap();
        writer
            .row(
                "meta",
                object(json!({"key": "record", "value": "{\"id\":\"sesn_1\"}"})),
            )
            .unwrap();
        writer
            .row("meta", object(json!({"key": "summary", "value": "{}"})))
            .unwrap();
        let body =
            "{\"type\":\"user.message\",\"content\":[{\"type\":\"text\",\"text\":\"é\\n\"}]}";
        writer
            .row("events", event(1, "user.message", 0, body))
            .unwrap();
        writer
            .row(
                "events",
                event(2, "agent.message", 1, "sessions/sesn_1/events/2.json"),
            )
            .unwrap();
        writer
            .row("events", event(3, "user.message", 0, "{}"))
            .unwrap();
        writer
            .row(
                "mcp_calls",
                object(json!({"tool_use_id": "t", "server": "s", "started_at": 5, "result": null})),
            )
            .unwrap();
        let bytes = writer.finish().unwrap();
        assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip");

        let archive = decode(&bytes, "sesn_1").unwrap();
        assert_eq!(archive.header.last_seq, 3);
        let events = archive.events().unwrap();
        assert_eq!(
            events.iter().map(super::EventRow::seq).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(events[0].body, body);
        assert_eq!(events[1].spilled, 1);
        assert_eq!(events[2].processed_at, None);
        assert_eq!(archive.tables["mcp_calls"][0]["result"], Value::Null);
        assert_eq!(archive.tables["meta"].len(), 2);
        assert!(
            decode(&bytes, "sesn_2").is_err(),
            "another session's archive"
        );
    }

    #[test]
    fn a_short_wrong_or_damaged_archive_is_refused() {
        // The writer refuses to finish short of the header's counts.
        let mut writer = Writer::new(header(&[("events", 2)], 2)).unwrap();
        writer
            .row("events", event(1, "user.message", 0, "{}"))
            .unwrap();
        assert!(writer.finish().is_err());
        let mut writer = Writer::new(header(&[], 0)).unwrap();
        assert!(writer.row("nope", Map::new()).is_err());

        let mut writer = Writer::new(header(&[("events", 1)], 1)).unwrap();
        writer
            .row("events", event(1, "user.message", 0, "{}"))
            .unwrap();
        let bytes = writer.finish().unwrap();
        // A flipped byte fails gzip's checksum; a cut archive ends early.
        let mut flipped = bytes.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x55;
        assert!(decode(&flipped, "sesn_1").is_err());
        assert!(decode(&bytes[..bytes.len() - 6], "sesn_1").is_err());
        assert!(decode(b"not gzip", "sesn_1").is_err());
    }

    /// An archive written by hand, with lines a writer would refuse.
    fn raw_archive(head: &Header, rows: &[Map<String, Value>]) -> Vec<u8> {
        let mut text = format!("{}\n", serde_json::to_string(head).unwrap());
        for row in rows {
            text.push_str(&serde_json::to_string(&json!({"table": "events", "row": row})).unwrap());
            text.push('\n');
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn seqs_must_increase_to_the_header_s_last_seq() {
        let out_of_order = raw_archive(
            &header(&[("events", 2)], 2),
            &[event(2, "a", 0, "{}"), event(1, "b", 0, "{}")],
        );
        let err = decode(&out_of_order, "sesn_1").unwrap_err();
        assert!(err.0.contains("follows"), "{err}");
        let short_log = raw_archive(&header(&[("events", 1)], 2), &[event(1, "a", 0, "{}")]);
        let err = decode(&short_log, "sesn_1").unwrap_err();
        assert!(err.0.contains("ends at seq 1"), "{err}");
        assert!(
            decode(
                &raw_archive(&header(&[("events", 1)], 1), &[event(1, "a", 0, "{}")]),
                "sesn_1"
            )
            .is_ok()
        );
    }

    #[test]
    fn the_tables_are_every_table_of_the_session_schema() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/session");
        let mut created = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in text.lines() {
                if let Some(rest) = line.trim().strip_prefix("CREATE TABLE IF NOT EXISTS ") {
                    created.push(rest.split_whitespace().next().unwrap().to_owned());
                }
            }
        }
        created.sort();
        let mut tables: Vec<String> = TABLES.iter().map(|t| (*t).to_owned()).collect();
        tables.sort();
        assert_eq!(created, tables, "a new table must be archived and restored");
    }
}
