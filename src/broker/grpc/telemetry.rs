//! Telemetry (the bidirectional settings stream), Heartbeat and NotifyClientTermination.
//!
//! Both SDKs block their start on the answer to their first settings, with no timeout, so
//! every `settings` command is answered at once with the server's merged settings:
//! publishing gets an exponential retry policy and the broker's max body size;
//! subscription gets batch size, long-polling timeout, FIFO and the group's retry
//! schedule. The stream stays open for commands the broker pushes (transaction checks).

use std::rc::Rc;

use hyper::Response;

use super::body::{channel, BodyWriter, GrpcBody};
use super::clients::GrpcClient;
use super::server::{grpc_response, Call, MessageReader};
use super::{ms_duration, name_of, ok};
use crate::broker::delay;
use crate::broker::handlers::topic_check;
use crate::broker::metadata::retry_topic;
use crate::protocol::body::client::SubscriptionData;
use crate::protocol::body::TopicConfig;
use crate::protocol::codes::perm;
use crate::protocol::grpc::status::GrpcCode;
use crate::protocol::grpc::v2;
use crate::protocol::grpc::v2::telemetry_command::Command;

/// Messages per receive the server suggests (RocketMQ's proxy: 32).
pub const RECEIVE_BATCH_SIZE: i32 = 32;
/// Long-polling time the server suggests, ms (RocketMQ's proxy: 20 s).
pub const LONG_POLLING_TIMEOUT_MS: i64 = 20_000;
/// Producer send attempts when the client asks for none.
pub const PRODUCER_MAX_ATTEMPTS: i32 = 3;
/// Producer retry backoff: first wait, longest wait, ms.
pub const PRODUCER_BACKOFF_MS: (i64, i64) = (10, 1_000);

fn client_type_name(t: i32) -> String {
    v2::ClientType::try_from(t)
        .map(|t| {
            t.as_str_name()
                .trim_start_matches("CLIENT_TYPE_")
                .to_owned()
        })
        .unwrap_or_else(|_| format!("TYPE_{t}"))
}

/// RocketMQ's remoting `LanguageCode` name for an SDK language (what mqadmin parses).
fn remoting_language(l: i32) -> &'static str {
    use v2::Language as L;
    match L::try_from(l) {
        Ok(L::Java | L::Kotlin) => "JAVA",
        Ok(L::Cpp) => "CPP",
        Ok(L::DotNet) => "DOTNET",
        Ok(L::Golang) => "GO",
        Ok(L::Rust) => "RUST",
        Ok(L::Python) => "PYTHON",
        Ok(L::Php) => "PHP",
        Ok(L::NodeJs) => "NODE_JS",
        Ok(L::Ruby) => "RUBY",
        _ => "OTHER",
    }
}

/// A subscription entry as the remoting tables show it: a TAG expression parsed into its
/// tags, SQL kept as written.
fn subscription(
    topic: &v2::Resource,
    filter: Option<&v2::FilterExpression>,
    version: i64,
) -> SubscriptionData {
    let expr = filter.map_or("*", |f| f.expression.as_str());
    if filter.is_some_and(|f| f.r#type == v2::FilterType::Sql as i32) {
        return SubscriptionData::sql92(&topic.name, expr, version);
    }
    SubscriptionData::from_expression(&topic.name, expr, version)
}

/// Opens the stream: answers each settings command until the client closes its side.
pub fn open(call: Rc<Call>, mut reader: MessageReader) -> Response<GrpcBody> {
    let (w, body) = channel();
    glommio::spawn_local(async move {
        loop {
            match reader.next::<v2::TelemetryCommand>().await {
                Ok(Some(cmd)) => on_command(&call, &w, cmd).await,
                Ok(None) => {
                    w.finish(GrpcCode::Ok, "");
                    break;
                }
                Err((code, msg)) => {
                    w.finish(code, &msg);
                    break;
                }
            }
        }
        call.shard
            .grpc_clients
            .borrow_mut()
            .stream_closed(&call.client_id);
    })
    .detach();
    grpc_response(body)
}

async fn on_command(call: &Rc<Call>, w: &BodyWriter, cmd: v2::TelemetryCommand) {
    let Some(Command::Settings(settings)) = cmd.command else {
        // Stack traces and verify results answer commands coremq does not send.
        return;
    };
    if let Err(e) = super::acl::check(call, "Telemetry", &settings) {
        w.send(&v2::TelemetryCommand {
            status: Some(v2::Status {
                code: v2::Code::Forbidden as i32,
                message: e,
            }),
            command: None,
        });
        return;
    }
    let reply = match merge(call, settings, w).await {
        Ok(s) => v2::TelemetryCommand {
            status: ok(),
            command: Some(Command::Settings(s)),
        },
        Err(status) => v2::TelemetryCommand {
            status: Some(status),
            command: None,
        },
    };
    w.send(&reply);
}

/// The client's settings with the server's values filled in; records the client.
async fn merge(
    call: &Rc<Call>,
    mut s: v2::Settings,
    w: &BodyWriter,
) -> Result<v2::Settings, v2::Status> {
    let cfg = call.shard.cfg();
    let mut client = GrpcClient {
        client_id: call.client_id.clone(),
        peer: call.peer,
        client_type: client_type_name(s.client_type.unwrap_or(0)),
        group: String::new(),
        topics: Vec::new(),
        subscriptions: Vec::new(),
        language: s
            .user_agent
            .as_ref()
            .map_or("OTHER", |u| remoting_language(u.language))
            .to_owned(),
        version: s
            .user_agent
            .as_ref()
            .map_or(crate::protocol::SERVER_VERSION, |u| {
                crate::protocol::version_ordinal_of(&u.version)
            }),
        last_seen_ms: crate::clock::now_ms(),
        telemetry: Some(w.clone()),
    };
    match s.pub_sub.as_mut() {
        Some(v2::settings::PubSub::Publishing(p)) => {
            client.topics = p.topics.iter().map(|t| t.name.clone()).collect();
            p.max_body_size = i32::try_from(cfg.max_message_size).unwrap_or(i32::MAX);
            p.validate_message_type = true;
            let attempts = s
                .backoff_policy
                .as_ref()
                .map(|b| b.max_attempts)
                .filter(|a| *a > 0)
                .unwrap_or(PRODUCER_MAX_ATTEMPTS);
            s.backoff_policy = Some(v2::RetryPolicy {
                max_attempts: attempts,
                strategy: Some(v2::retry_policy::Strategy::ExponentialBackoff(
                    v2::ExponentialBackoff {
                        initial: Some(ms_duration(PRODUCER_BACKOFF_MS.0)),
                        max: Some(ms_duration(PRODUCER_BACKOFF_MS.1)),
                        multiplier: 2.0,
                    },
                )),
            });
        }
        Some(v2::settings::PubSub::Subscription(sub)) => {
            let group = name_of(&sub.group, "subscription.group")?;
            let g = topic_check::group(&call.shard, &group)
                .await
                .map_err(|e| v2::Status {
                    code: v2::Code::InternalServerError as i32,
                    message: e,
                })?
                .ok_or_else(|| v2::Status {
                    code: v2::Code::ConsumerGroupNotFound as i32,
                    message: format!("consumer group {group} not found"),
                })?;
            // consumerProgress finds a group's brokers through its retry topic's route.
            let mut retry = TopicConfig::new(&retry_topic(&group), g.retry_queue_nums.max(1));
            retry.perm = perm::READ | perm::WRITE;
            topic_check::create_if_absent(&call.shard, retry)
                .await
                .map_err(|e| v2::Status {
                    code: v2::Code::InternalServerError as i32,
                    message: e,
                })?;
            client.group = group;
            client.topics = sub
                .subscriptions
                .iter()
                .filter_map(|e| e.topic.as_ref().map(|t| t.name.clone()))
                .collect();
            let now = crate::clock::now_ms();
            client.subscriptions = sub
                .subscriptions
                .iter()
                .filter_map(|e| Some(subscription(e.topic.as_ref()?, e.expression.as_ref(), now)))
                .collect();
            sub.receive_batch_size = Some(RECEIVE_BATCH_SIZE);
            sub.long_polling_timeout = Some(ms_duration(LONG_POLLING_TIMEOUT_MS));
            sub.fifo = Some(sub.fifo.unwrap_or(false) || g.consume_message_orderly);
            let levels = delay::parse_levels(&cfg.message_delay_level).unwrap_or_default();
            s.backoff_policy = Some(v2::RetryPolicy {
                max_attempts: g.retry_max_times.saturating_add(1),
                strategy: Some(v2::retry_policy::Strategy::CustomizedBackoff(
                    v2::CustomizedBackoff {
                        next: levels
                            .iter()
                            .map(|d| ms_duration(d.as_millis() as i64))
                            .collect(),
                    },
                )),
            });
        }
        None => {
            return Err(v2::Status {
                code: v2::Code::UnrecognizedClientType as i32,
                message: "settings carry neither publishing nor subscription".into(),
            })
        }
    }
    s.metric = Some(v2::Metric {
        on: false,
        endpoints: None,
    });
    call.shard.grpc_clients.borrow_mut().upsert(client);
    Ok(s)
}

/// Heartbeat: keeps the client alive in the tables.
pub async fn heartbeat(call: Rc<Call>, _req: v2::HeartbeatRequest) -> v2::HeartbeatResponse {
    call.shard
        .grpc_clients
        .borrow_mut()
        .touch(&call.client_id, crate::clock::now_ms());
    v2::HeartbeatResponse { status: ok() }
}

/// NotifyClientTermination: forgets the client.
pub async fn terminated(
    call: Rc<Call>,
    _req: v2::NotifyClientTerminationRequest,
) -> v2::NotifyClientTerminationResponse {
    call.shard.grpc_clients.borrow_mut().remove(&call.client_id);
    super::renewal::clear_client(&call.shard, &call.client_id).await;
    v2::NotifyClientTerminationResponse { status: ok() }
}
