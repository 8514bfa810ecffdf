//! resetOffsetByTime: moves a consumer group's offsets on a topic to a point in time.
//! First through the brokers (each tells the group's live consumers, which drop the
//! queues they hold and commit the new offsets); when no consumer is online, by writing
//! the offsets directly (RocketMQ's "old" method, with its own table).

use super::table::Table;
use super::AdminError;
use crate::client::admin::AdminClient;
use crate::protocol::body::TopicRouteData;

/// `now` (-1: the end of every queue), milliseconds since the epoch, or local time as
/// `yyyy-MM-dd#HH:mm:ss:SSS`.
pub fn parse_timestamp(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if text == "now" {
        return Ok(-1);
    }
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let bad =
        || format!("timestamp {text:?}: expected now, milliseconds, or yyyy-MM-dd#HH:mm:ss:SSS");
    let (date, time) = text.split_once('#').ok_or_else(bad)?;
    let d: Vec<i32> = date
        .split('-')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let t: Vec<i32> = time
        .split(':')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let (&[y, mo, da], &[h, mi, s, ms]) = (d.as_slice(), t.as_slice()) else {
        return Err(bad());
    };
    // SAFETY: an all-zero libc::tm is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = da;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    tm.tm_isdst = -1;
    // SAFETY: mktime reads and normalizes the struct it is given, nothing else.
    let secs = unsafe { libc::mktime(&mut tm) };
    if secs == -1 || !(1..=12).contains(&mo) || !(0..1000).contains(&ms) {
        return Err(bad());
    }
    Ok(secs as i64 * 1000 + i64::from(ms))
}

/// resetOffsetByTime -g GROUP -t TOPIC -s TIMESTAMP [-f FORCE].
pub async fn reset_offset_by_time(
    admin: &AdminClient,
    group: &str,
    topic: &str,
    timestamp_text: &str,
    force: bool,
    json: bool,
) -> Result<String, AdminError> {
    let timestamp = parse_timestamp(timestamp_text).map_err(AdminError::NotFound)?;
    let route = super::route_of(admin, topic).await?;
    let masters: Vec<&str> = route
        .broker_datas
        .iter()
        .filter_map(|b| b.master_addr())
        .collect();
    let mut table = Vec::new();
    for addr in &masters {
        match admin
            .reset_offset_by_time(addr, topic, group, timestamp, force)
            .await?
        {
            Some(rows) => table.extend(rows),
            None => {
                let at = (timestamp, timestamp_text);
                return reset_offline(admin, &route, group, topic, at, force, json).await;
            }
        }
    }
    let mut t = Table::new(
        "%-40s  %-40s  %-40s",
        "%-40s  %-40s  %-40s",
        &["#brokerName", "#queueId", "#offset"],
    );
    for (mq, offset) in table {
        t.row(vec![
            mq.broker_name,
            mq.queue_id.to_string(),
            offset.to_string(),
        ]);
    }
    if json {
        return Ok(t.to_json());
    }
    Ok(format!(
        "rollback consumer offset by specified group[{group}], topic[{topic}], force[{force}], timestamp(string)[{timestamp_text}], timestamp(long)[{timestamp}]\n{}",
        t.render()
    ))
}

/// No consumer online: computes each queue's offset and writes it to the broker.
async fn reset_offline(
    admin: &AdminClient,
    route: &TopicRouteData,
    group: &str,
    topic: &str,
    (timestamp, timestamp_text): (i64, &str),
    force: bool,
    json: bool,
) -> Result<String, AdminError> {
    let mut t = Table::new(
        "%-20s  %-20s  %-20s  %-20s  %-20s  %-20s",
        "%-20s  %-20s  %-20s  %-20s  %-20s  %-20s",
        &[
            "#brokerName",
            "#queueId",
            "#brokerOffset",
            "#consumerOffset",
            "#timestampOffset",
            "#rollbackOffset",
        ],
    );
    for b in &route.broker_datas {
        let Some(addr) = b.master_addr() else {
            continue;
        };
        // Queues the group has offsets for; else every queue, from its first offset.
        let mut rows: Vec<_> = admin
            .consume_stats(addr, group, Some(topic))
            .await?
            .0
            .into_iter()
            .filter(|(mq, _)| mq.topic == topic)
            .map(|(mq, w)| (mq, w.broker_offset, w.consumer_offset))
            .collect();
        if rows.is_empty() {
            rows = admin
                .topic_stats(addr, topic)
                .await?
                .into_iter()
                .map(|(mq, o)| (mq, o.max_offset, o.min_offset))
                .collect();
        }
        for (mq, broker_offset, consumer_offset) in rows {
            let at = if timestamp < 0 {
                broker_offset
            } else {
                admin
                    .search_offset(addr, topic, mq.queue_id, timestamp)
                    .await?
            };
            let reset = if force || at < consumer_offset {
                at
            } else {
                consumer_offset
            };
            admin
                .update_consumer_offset(addr, group, &mq, reset)
                .await?;
            t.row(vec![
                mq.broker_name.clone(),
                mq.queue_id.to_string(),
                broker_offset.to_string(),
                consumer_offset.to_string(),
                at.to_string(),
                reset.to_string(),
            ]);
        }
    }
    if json {
        return Ok(t.to_json());
    }
    Ok(format!(
        "rollback consumer offset by specified consumerGroup[{group}], topic[{topic}], force[{force}], timestamp(string)[{timestamp_text}], timestamp(long)[{timestamp}]\n{}",
        t.render()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_as_mqadmin_takes_them() {
        assert_eq!(parse_timestamp("now"), Ok(-1));
        assert_eq!(parse_timestamp("1700000000123"), Ok(1_700_000_000_123));
        let local = parse_timestamp("2026-11-29#10:20:30:456").unwrap();
        assert_eq!(local % 1000, 456);
        assert_eq!(
            crate::admin::table::local_time(local, true),
            "2026-11-29 10:20:30,456"
        );
        for bad in [
            "yesterday",
            "2026-11-29",
            "2026-13-01#00:00:00:000",
            "2026-11-29#10:20",
        ] {
            assert!(parse_timestamp(bad).unwrap_err().contains(bad), "{bad}");
        }
    }
}
