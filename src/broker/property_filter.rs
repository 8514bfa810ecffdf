//! SQL92 property filters on the broker: each shard compiles an expression once (cached by
//! its text, which a subscription version names) and tests stored records with it on the
//! queue's owner, so non-matching messages never leave the broker and their offsets still
//! advance (see `store::read::read_filtered`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::filter::{self, Expr, ParseError};
use crate::protocol::ResponseCode;
use crate::store::record::{property, Record};

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
        let props = rec.properties();
        filter::matches(expr, &|k: &str| property(&props, k))
    }
}
