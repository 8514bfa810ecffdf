//! QUERY_MESSAGE (12): records of a topic by key (`KEYS` item) or unique key, within a
//! store-time range. Every shard keeps the index of the queues it owns, so the query goes
//! to all of them and the newest `maxNum` answers are merged. Slaves answer too: their
//! index is built from the records they replicate.
//!
//! As in RocketMQ, a unique-key query (ext `_UNIQUE_KEY_QUERY=true`) is capped at
//! `defaultQueryMaxNum` whatever `maxNum` says, and every query at `maxMsgsNumBatch`; the
//! response header carries the newest indexed entry's time and offset with SUCCESS and
//! QUERY_NOT_FOUND alike.

use std::rc::Rc;

use bytes::{Bytes, BytesMut};

use super::Reply;
use crate::broker::shard::Shard;
use crate::protocol::header::broker::{
    QueryMessageRequestHeader, QueryMessageResponseHeader, UNIQUE_MSG_QUERY_FLAG,
};
use crate::protocol::{CommandHeader, RemotingCommand, ResponseCode};
use crate::store::message_index::{Found, KeyQuery};

/// 12.
pub async fn query_message(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: QueryMessageRequestHeader = req.header()?;
    let cfg = shard.cfg();
    let unique = req.ext.get(UNIQUE_MSG_QUERY_FLAG) == Some("true");
    let asked = if unique {
        i64::from(cfg.default_query_max_num)
    } else {
        i64::from(h.max_num)
    };
    let max = asked.clamp(0, i64::from(cfg.max_msgs_num_batch)) as usize;
    let q = KeyQuery {
        topic: h.topic,
        key: h.key,
        unique,
        max,
        begin: h.begin_timestamp,
        end: h.end_timestamp,
    };
    let answers = shard
        .run_on_all(move |s| {
            let q = q.clone();
            async move { s.store.query_keys(&q).await }
        })
        .await?;
    let mut found: Vec<Found> = Vec::new();
    let mut last = (0i64, 0i64);
    for a in answers {
        let a = a?;
        last = last.max(a.last_update);
        found.extend(a.found);
    }
    let body = merge(found, max);
    let header = QueryMessageResponseHeader {
        index_last_update_timestamp: last.0,
        index_last_update_phyoffset: last.1,
    }
    .to_ext();
    Ok(if body.is_empty() {
        req.error(
            ResponseCode::QUERY_NOT_FOUND,
            "no message matches this key in that time range",
        )
        .with_ext(header)
    } else {
        req.success().with_ext(header).with_body(body)
    })
}

/// The newest `max` records of every shard's answers, concatenated oldest first (the
/// order RocketMQ's store returns them in: by commit-log position, here by store time).
fn merge(mut found: Vec<Found>, max: usize) -> Bytes {
    found.sort_unstable_by_key(|f| std::cmp::Reverse((f.store_timestamp, f.physical_offset)));
    found.truncate(max);
    found.reverse();
    let mut body = BytesMut::with_capacity(found.iter().map(|f| f.record.len()).sum());
    for f in &found {
        body.extend_from_slice(&f.record);
    }
    body.freeze()
}
