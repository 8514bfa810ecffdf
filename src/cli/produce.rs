//! `coremq produce`: RocketMQ's quickstart Producer as a command — sends messages and prints
//! one `SendResult [...]` line per message.

use std::io::Write as _;
use std::time::Duration;

use clap::Args;

use crate::client::producer::{Message, Producer};
use crate::client::rpc::DEFAULT_TIMEOUT_MS;
use crate::config::namesrv_addr;
use crate::runtime::{run_unpinned, NETWORK_ONLY_IO_MEMORY_BYTES};

/// Options of `coremq produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Nameserver list, `a:9876;b:9876` (else NAMESRV_ADDR).
    #[arg(short = 'n', long = "namesrvAddr", value_name = "ADDRS")]
    namesrv_addr: Option<String>,
    /// Topic (created from TBW102 on first send when the broker allows it).
    #[arg(short = 't', long = "topic", default_value = "TopicTest")]
    topic: String,
    /// Producer group.
    #[arg(
        short = 'g',
        long = "group",
        default_value = "please_rename_unique_group_name"
    )]
    group: String,
    /// Messages to send.
    #[arg(long = "count", default_value_t = 1000)]
    count: u64,
    /// Tag of every message.
    #[arg(long = "tag", default_value = "TagA")]
    tag: String,
    /// Key of every message (`<key>-<i>` per message).
    #[arg(long = "keys")]
    keys: Option<String>,
    /// Body size in bytes (default: "Hello RocketMQ <i>").
    #[arg(long = "size")]
    size: Option<usize>,
    #[command(flatten)]
    credentials: super::credentials::CredentialArgs,
}

/// Runs the command.
pub fn run(args: ProduceArgs) -> Result<(), String> {
    let namesrv = namesrv_addr::from_flag_or_env(args.namesrv_addr.as_deref())
        .map_err(|e| format!("produce: {e}"))?;
    let credentials = args
        .credentials
        .resolve()
        .map_err(|e| format!("produce: {e}"))?;
    run_unpinned(
        "produce",
        NETWORK_ONLY_IO_MEMORY_BYTES,
        move || async move {
            let producer = Producer::new(
                &args.group,
                namesrv,
                Duration::from_millis(DEFAULT_TIMEOUT_MS),
            )
            .map_err(|e| e.to_string())?
            .with_credentials(credentials);
            for i in 0..args.count {
                let body = match args.size {
                    Some(n) => {
                        let seed = format!("Hello RocketMQ {i} ");
                        seed.bytes().cycle().take(n).collect()
                    }
                    None => format!("Hello RocketMQ {i}").into_bytes(),
                };
                let msg = Message {
                    topic: args.topic.clone(),
                    tags: Some(args.tag.clone()),
                    keys: args.keys.iter().map(|k| format!("{k}-{i}")).collect(),
                    body: body.into(),
                    ..Message::default()
                };
                let r = producer
                    .send(&msg)
                    .await
                    .map_err(|e| format!("send {i}: {e}"))?;
                // A closed stdout (`| head`) ends the run quietly.
                if writeln!(std::io::stdout().lock(), "{r}").is_err() {
                    break;
                }
            }
            Ok::<(), String>(())
        },
    )
    .map_err(|e| format!("produce: {e}"))?
    .map_err(|e| format!("produce: {e}"))
}
