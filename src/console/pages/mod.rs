//! One file per page of the top bar, each with its actions.

pub mod cluster;
pub mod group;
pub mod groups;
pub mod login;
pub mod message;
pub mod messages;
pub mod producers;
pub mod topic;
pub mod topics;

use super::html::{esc, Flash, Table};
use super::routes::Reply;
use crate::protocol::body::client::Connection;

/// A page that could not be drawn: the error above an empty body.
pub fn failed(title: &'static str, tab: &'static str, e: impl std::fmt::Display) -> Reply {
    Reply::page(title, tab, String::new(), Some(Flash::error(e.to_string())))
}

/// A table of client connections (consumers or producers).
pub fn connections_table(id: &str, connections: &[Connection]) -> String {
    let mut t = Table::new(id, &["Client id", "Address", "Language", "Version"]);
    for cl in connections {
        t.row(&[
            esc(&cl.client_id),
            esc(&cl.client_addr),
            esc(&cl.language),
            esc(&crate::protocol::version_name(cl.version)),
        ]);
    }
    t.finish()
}

/// A whole number from a form field, within `range`; the error names the field.
pub fn number_in(
    label: &str,
    text: &str,
    range: std::ops::RangeInclusive<i32>,
) -> Result<i32, String> {
    text.trim()
        .parse::<i32>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            format!(
                "{label}: {text:?} is not a number from {} to {}",
                range.start(),
                range.end()
            )
        })
}

/// A `datetime-local` field (`YYYY-MM-DDTHH:MM[:SS]`, local time) or milliseconds, as ms.
pub fn time_field(label: &str, text: &str) -> Result<i64, String> {
    let text = text.trim();
    let mqadmin = match text.split_once('T') {
        Some((date, clock)) => {
            let mut parts: Vec<&str> = clock.split(':').collect();
            parts.resize(3, "00");
            format!("{date}#{}:000", parts.join(":"))
        }
        None => text.to_owned(),
    };
    crate::admin::offsets::parse_timestamp(&mqadmin)
        .ok()
        .filter(|ms| *ms >= 0)
        .ok_or_else(|| {
            format!("{label}: {text:?} is not a time (YYYY-MM-DDTHH:MM or milliseconds)")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_numbers_and_times_name_the_field() {
        assert_eq!(number_in("read queues", " 8 ", 1..=1024), Ok(8));
        let e = number_in("read queues", "0", 1..=1024).unwrap_err();
        assert!(e.starts_with("read queues: \"0\""), "{e}");
        assert_eq!(time_field("begin", "1700000000000"), Ok(1_700_000_000_000));
        let a = time_field("begin", "2026-11-30T10:20").unwrap();
        let b = time_field("begin", "2026-11-30T10:20:30").unwrap();
        assert_eq!(b - a, 30_000);
        assert!(time_field("end", "yesterday")
            .unwrap_err()
            .starts_with("end:"));
    }
}
