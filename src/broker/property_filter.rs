//! SQL92 property filters on the broker: each shard compiles an expression once (cached by
//! its text, which a subscription version names) and tests stored records with it on the
//! queue's owner, so non-matching messages never leave the broker and their offsets still
//! advance (see `store::read::read_filtered`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use crate::filter::{self, Expr, ParseError};
use crate::protocol::ResponseCode;
use crate::store::record::{property, property_raw, Record};

/// Distinct expressions a shard keeps compiled; past it the cache starts over (a client
/// that changes its expression per request must not grow it without end).
pub const MAX_COMPILED_FILTERS: usize = 1024;

/// RocketMQ's remark when `enablePropertyFilter=false` (CHECK_CLIENT_CONFIG and pulls).
pub const PROPERTY_FILTER_DISABLED: &str =
    "The broker does not support consumer to filter message by SQL92";

thread_local! {
    /// This shard's compiled expressions (one shard per thread).
    static COMPILED: RefCell<HashMap<String, Rc<Result<Expr, ParseError>>>> =
        RefCell::new(HashMap::new());
}

/// `sql` compiled, from this shard's cache when it was seen before.
pub fn compiled(sql: &str) -> Rc<Result<Expr, ParseError>> {
    COMPILED.with(|c| {
        if let Some(e) = c.borrow().get(sql) {
            return e.clone();
        }
        let e = Rc::new(filter::parse(sql));
        let mut c = c.borrow_mut();
        if c.len() >= MAX_COMPILED_FILTERS {
            c.clear();
        }
        c.insert(sql.to_owned(), e.clone());
        e
    })
}

/// Whether a SQL92 subscription may be served: the refusal code and remark if not.
pub fn check(enabled: bool, sql: &str) -> Result<(), (ResponseCode, String)> {
    if !enabled {
        return Err((
            ResponseCode::SYSTEM_ERROR,
            PROPERTY_FILTER_DISABLED.to_owned(),
        ));
    }
    match &*compiled(sql) {
        Ok(_) => Ok(()),
        Err(e) => Err((
            ResponseCode::SUBSCRIPTION_PARSE_FAILED,
            format!("SQL92 expression {sql:?} does not compile: {e}"),
        )),
    }
}

/// A record test for `sql`: true when the stored record's properties match, and for every
/// record without one. An expression that does not compile (already refused at the
/// request) matches nothing.
pub fn record_test(sql: Option<&str>) -> impl Fn(&[u8]) -> bool {
    let expr = sql.map(compiled);
    move |bytes: &[u8]| {
        let Some(expr) = &expr else {
            return true;
        };
        let (Ok(expr), Ok(rec)) = (&**expr, Record::parse(bytes)) else {
            return false;
        };
        // The stored bytes are searched as they are; only a value found is checked as
        // text, and one that is not valid UTF-8 sends the record down the decoding path.
        let raw = rec.properties_raw();
        let not_text = Cell::new(false);
        let matched = filter::matches(expr, &|k: &str| {
            let v = property_raw(raw, k)?;
            std::str::from_utf8(v).map_err(|_| not_text.set(true)).ok()
        });
        if !not_text.get() {
            return matched;
        }
        let props = rec.properties();
        filter::matches(expr, &|k: &str| property(&props, k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record::{encode, NewMessage, TRAILER_BYTES};

    fn record(props: &str) -> Vec<u8> {
        let m = NewMessage {
            topic: "T".into(),
            queue_id: 0,
            flag: 0,
            sys_flag: 0,
            born_timestamp: 1,
            born_host: "127.0.0.1:1".parse().expect("address"),
            store_host: "127.0.0.1:2".parse().expect("address"),
            reconsume_times: 0,
            prepared_tx_offset: 0,
            body: bytes::Bytes::from_static(b"body"),
            properties: props.into(),
        };
        let mut buf = Vec::new();
        encode(&m, 0, 0, 1, &mut buf);
        // What a scan tests: the record without its CRC trailer.
        buf.truncate(buf.len() - TRAILER_BYTES);
        buf
    }

    #[test]
    fn records_are_tested_on_their_stored_properties() {
        let rec = record("TAGS\u{1}t1\u{2}a\u{1}4\u{2}color\u{1}red");
        assert!(record_test(Some("a BETWEEN 3 AND 6 AND color = 'red'"))(
            &rec
        ));
        assert!(record_test(Some("TAGS = 't1' AND b IS NULL"))(&rec));
        assert!(!record_test(Some("a > 4"))(&rec));
        assert!(record_test(None)(&rec));
        assert!(
            !record_test(Some("a >"))(&rec),
            "a broken expression matches nothing"
        );
    }

    #[test]
    fn a_value_that_is_not_utf8_is_tested_as_java_decodes_it() {
        let mut rec = record("a\u{1}4\u{2}color\u{1}rXd");
        // Make the value's middle byte invalid UTF-8 (stored bytes need not be text).
        let at = rec.windows(3).position(|w| w == b"rXd").expect("value") + 1;
        rec[at] = 0xFF;
        assert!(record_test(Some("color IS NOT NULL AND a = 4"))(&rec));
        assert!(record_test(Some("color = 'r\u{FFFD}d'"))(&rec));
        assert!(!record_test(Some("color = 'rXd'"))(&rec));
    }
}
