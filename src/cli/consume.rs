//! `coremq consume`: RocketMQ's quickstart Consumer as a command — prints each message.

use std::cell::Cell;
use std::io::Write as _;
use std::rc::Rc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::client::consumer::{ConsumeStatus, Consumer, ConsumerConfig, Listener, StartFrom};
use crate::client::message::Received;
use crate::config::namesrv_addr;
use crate::runtime::{run_unpinned, NETWORK_ONLY_IO_MEMORY_BYTES};

/// `--from`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum From {
    /// CONSUME_FROM_FIRST_OFFSET.
    First,
    /// CONSUME_FROM_LAST_OFFSET.
    Last,
    /// CONSUME_FROM_TIMESTAMP (give --timestamp).
    Timestamp,
}

/// Options of `coremq consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Nameserver list, `a:9876;b:9876` (else NAMESRV_ADDR).
    #[arg(short = 'n', long = "namesrvAddr", value_name = "ADDRS")]
    namesrv_addr: Option<String>,
    /// Topic.
    #[arg(short = 't', long = "topic", default_value = "TopicTest")]
    topic: String,
    /// Consumer group.
    #[arg(
        short = 'g',
        long = "group",
        default_value = "please_rename_unique_group_name_4"
    )]
    group: String,
    /// Tag expression, `*` or `TagA || TagB`.
    #[arg(long = "tag", default_value = "*", conflicts_with = "sql")]
    tag: String,
    /// SQL92 property filter instead of tags, e.g. "a BETWEEN 3 AND 6" (the broker needs
    /// enablePropertyFilter=true).
    #[arg(long = "sql", value_name = "EXPR")]
    sql: Option<String>,
    /// Where a group with no committed offset starts.
    #[arg(long = "from", value_enum, default_value = "first")]
    from: From,
    /// With `--from timestamp`: start at this time, ms since the epoch.
    #[arg(long = "timestamp")]
    timestamp: Option<i64>,
    /// Stop after this many messages (default: run until Ctrl-C or --timeout).
    #[arg(long = "count")]
    count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long = "timeout")]
    timeout: Option<u64>,
    #[command(flatten)]
    credentials: super::credentials::CredentialArgs,
}

fn line(m: &Received) -> String {
    format!(
        "Receive New Messages: MessageExt [topic={}, queueId={}, queueOffset={}, msgId={}, tags={}, keys={}, bornTimestamp={}, storeTimestamp={}, body={}]",
        m.topic,
        m.queue_id,
        m.queue_offset,
        m.msg_id,
        m.tags,
        m.keys,
        m.born_timestamp,
        m.store_timestamp,
        String::from_utf8_lossy(&m.body)
    )
}

/// Runs the command.
pub fn run(args: ConsumeArgs) -> Result<(), String> {
    let namesrv = namesrv_addr::from_flag_or_env(args.namesrv_addr.as_deref())
        .map_err(|e| format!("consume: {e}"))?;
    let client_id = crate::client::client_id("");
    let expr = args.sql.as_deref().unwrap_or(&args.tag);
    let mut cfg = ConsumerConfig::new(&args.group, &args.topic, expr, &client_id);
    cfg.sql92 = args.sql.is_some();
    cfg.credentials = args
        .credentials
        .resolve()
        .map_err(|e| format!("consume: {e}"))?;
    cfg.from = match (args.from, args.timestamp) {
        (From::First, _) => StartFrom::First,
        (From::Last, _) => StartFrom::Last,
        (From::Timestamp, Some(ts)) => StartFrom::Timestamp(ts),
        (From::Timestamp, None) => {
            return Err("consume: --from timestamp needs --timestamp MS".into());
        }
    };
    let (count, timeout) = (args.count, args.timeout.map(Duration::from_secs));
    run_unpinned(
        "consume",
        NETWORK_ONLY_IO_MEMORY_BYTES,
        move || async move {
            let consumer = Consumer::new(cfg, namesrv).map_err(|e| e.to_string())?;
            crate::stdout::line("Consumer Started.");
            let seen = Rc::new(Cell::new(0u64));
            let sink: Listener = {
                let seen = seen.clone();
                Rc::new(move |m: &Received| {
                    seen.set(seen.get() + 1);
                    let printed = writeln!(std::io::stdout().lock(), "{}", line(m)).is_ok();
                    if printed && count.is_none_or(|c| seen.get() < c) {
                        ConsumeStatus::Success
                    } else {
                        ConsumeStatus::Stop
                    }
                })
            };
            consumer.run(sink, timeout).await.map_err(|e| e.to_string())
        },
    )
    .map_err(|e| format!("consume: {e}"))?
    .map_err(|e| format!("consume: {e}"))
}
