//! `coremq admin <command>`: mqadmin's commands, options and output tables
//! (ops-surface §6), on [`crate::client::admin::AdminClient`]. Each command returns the
//! text to print; `--json` gives the same rows as JSON.

pub mod acl;
pub mod cluster;
pub mod consumers;
pub mod groups;
mod ha;
pub mod messages;
pub mod namesrv;
pub mod offsets;
pub mod producers;
pub mod query_by_key;
pub mod table;
pub mod topics;

use clap::Subcommand;

use crate::client::admin::AdminClient;
use crate::client::ClientError;
use crate::protocol::body::ClusterInfo;

/// mqadmin's commands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Brokers of every cluster with their load.
    #[command(name = "clusterList")]
    ClusterList {
        /// Message totals instead of load.
        #[arg(short = 'm', long = "moreStats")]
        more: bool,
    },
    /// Topic names; with -c, cluster and consuming groups.
    #[command(name = "topicList")]
    TopicList {
        /// Show cluster and consumer groups.
        #[arg(short = 'c', long = "clusterModel")]
        detail: bool,
    },
    /// A topic's route.
    #[command(name = "topicRoute")]
    TopicRoute {
        /// Topic.
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// As a table.
        #[arg(short = 'l', long = "list")]
        list: bool,
    },
    /// Min/max offsets of a topic's queues.
    #[command(name = "topicStatus")]
    TopicStatus {
        /// Topic.
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// Create or update a topic on a broker or every master of a cluster.
    #[command(name = "updateTopic")]
    UpdateTopic {
        /// Topic.
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// Broker address (or broker name).
        #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster")]
        broker: Option<String>,
        /// Cluster name.
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
        /// Read queues.
        #[arg(short = 'r', long = "readQueueNums", default_value_t = 8)]
        read: i32,
        /// Write queues.
        #[arg(short = 'w', long = "writeQueueNums", default_value_t = 8)]
        write: i32,
        /// Permission (2 W, 4 R, 6 RW).
        #[arg(short = 'p', long = "perm", default_value_t = 6)]
        perm: i32,
        /// Ordered topic.
        #[arg(short = 'o', long = "order", default_value_t = false, action = clap::ArgAction::Set)]
        order: bool,
        /// RocketMQ 5 attributes: `+message.type=NORMAL|FIFO|DELAY|TRANSACTION|MIXED`.
        #[arg(short = 'a', long = "attributes")]
        attributes: Option<String>,
    },
    /// Delete a topic from a cluster and the nameservers.
    #[command(name = "deleteTopic")]
    DeleteTopic {
        /// Topic.
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// Cluster name.
        #[arg(short = 'c', long = "clusterName")]
        cluster: String,
    },
    /// A broker's runtime table.
    #[command(name = "brokerStatus")]
    BrokerStatus {
        /// Broker address.
        #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster")]
        broker: Option<String>,
        /// Cluster name.
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
    },
    /// Replication: a master's slaves (ack offset, lag, in sync) or a slave's master and
    /// lag, per shard (RocketMQ 5's haStatus).
    #[command(name = "haStatus")]
    HaStatus {
        /// Broker address.
        #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster")]
        broker: Option<String>,
        /// Cluster name (its masters).
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
    },
    /// Lag of every group on a broker, per queue.
    #[command(name = "brokerConsumeStats")]
    BrokerConsumeStats {
        /// Broker address.
        #[arg(short = 'b', long = "brokerAddr")]
        broker: String,
        /// Only rows with at least this lag.
        #[arg(short = 'l', long = "level", default_value_t = 0)]
        min_diff: i64,
        /// Only ordered topics.
        #[arg(short = 'o', long = "order", default_value_t = false, action = clap::ArgAction::Set)]
        order: bool,
    },
    /// A group's progress per queue, over every broker of its retry topic; without -g,
    /// one row per group.
    #[command(name = "consumerProgress")]
    ConsumerProgress {
        /// Consumer group.
        #[arg(short = 'g', long = "groupName")]
        group: Option<String>,
        /// `true`: a column with the IP of the client holding each queue (asks every live
        /// consumer through a broker).
        #[arg(short = 's', long = "showClientIP")]
        show_client_ip: Option<String>,
    },
    /// A group's connected consumers.
    #[command(name = "consumerConnection")]
    ConsumerConnection {
        /// Consumer group.
        #[arg(short = 'g', long = "consumerGroup")]
        group: String,
    },
    /// Create or update a subscription group on a broker or every master of a cluster.
    #[command(name = "updateSubGroup")]
    UpdateSubGroup {
        /// Broker address (or broker name).
        #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster")]
        broker: Option<String>,
        /// Cluster name.
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
        /// Consumer group.
        #[arg(short = 'g', long = "groupName")]
        group: String,
        /// Consume enable.
        #[arg(short = 's', long = "consumeEnable")]
        consume_enable: Option<bool>,
        /// A fresh group starts from the min offset.
        #[arg(short = 'm', long = "consumeFromMinEnable")]
        from_min: Option<bool>,
        /// Broadcast allowed.
        #[arg(short = 'd', long = "consumeBroadcastEnable")]
        broadcast: Option<bool>,
        /// Retry queues.
        #[arg(short = 'q', long = "retryQueueNums")]
        retry_queues: Option<i32>,
        /// Deliveries before the dead-letter queue.
        #[arg(short = 'r', long = "retryMaxTimes")]
        retry_max: Option<i32>,
        /// Consume from which broker id.
        #[arg(short = 'i', long = "brokerId")]
        broker_id: Option<i64>,
        /// Broker id when consuming slowly.
        #[arg(short = 'w', long = "whichBrokerWhenConsumeSlowly")]
        slow_broker: Option<i64>,
        /// Notify consumers when membership changes.
        #[arg(short = 'a', long = "notifyConsumerIdsChanged")]
        notify: Option<bool>,
        /// RocketMQ 5: the group consumes FIFO (gRPC clients).
        #[arg(short = 'o', long = "consumeMessageOrderly")]
        orderly: Option<bool>,
    },
    /// Delete a subscription group from a broker, or from every master of a cluster
    /// together with its retry and dead-letter topics.
    #[command(name = "deleteSubGroup")]
    DeleteSubGroup {
        /// Broker address (or broker name).
        #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster")]
        broker: Option<String>,
        /// Cluster name.
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
        /// Consumer group.
        #[arg(short = 'g', long = "groupName")]
        group: String,
        /// Remove the group's offsets too.
        #[arg(short = 'r', long = "removeOffset", default_value_t = false, action = clap::ArgAction::Set)]
        remove_offset: bool,
    },
    /// Change a broker config key at run time on a broker or every master of a cluster.
    #[command(name = "updateBrokerConfig")]
    UpdateBrokerConfig {
        /// Broker address (or broker name).
        #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster")]
        broker: Option<String>,
        /// Cluster name.
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
        /// Config key.
        #[arg(short = 'k', long = "key")]
        key: String,
        /// Config value.
        #[arg(short = 'v', long = "value")]
        value: String,
    },
    /// A message by its offset message id (several, comma-separated).
    #[command(name = "queryMsgById")]
    QueryMsgById {
        /// Offset message id(s).
        #[arg(short = 'i', long = "msgId")]
        ids: String,
        /// With -d: the consumer group whose client consumes the message(s) directly
        /// (alone, as in mqadmin, it changes nothing).
        #[arg(short = 'g', long = "consumerGroup")]
        group: Option<String>,
        /// With -g: the client id (`consumerConnection`'s #ClientId) to consume them.
        #[arg(short = 'd', long = "clientId")]
        client_id: Option<String>,
        /// `true`: send the message(s) again, as stored, to their topic.
        #[arg(short = 's', long = "sendMessage")]
        resend: Option<String>,
    },
    /// Messages of a topic by key (KEYS), from every broker of its route.
    #[command(name = "queryMsgByKey")]
    QueryMsgByKey {
        /// Topic.
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// Message key.
        #[arg(short = 'k', long = "msgKey")]
        key: String,
        /// Earliest store time, ms since the epoch (default 0).
        #[arg(short = 'b', long = "beginTimestamp", default_value_t = 0)]
        begin: i64,
        /// Latest store time, ms since the epoch (default: no limit).
        #[arg(short = 'e', long = "endTimestamp", default_value_t = i64::MAX)]
        end: i64,
    },
    /// A message by its unique key (the msgId producers print), from every broker of its
    /// topic's route.
    #[command(name = "queryMsgByUniqueKey")]
    QueryMsgByUniqueKey {
        /// Unique key (msgId).
        #[arg(short = 'i', long = "msgId")]
        id: String,
        /// Topic.
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// With -d: the consumer group whose client consumes the message directly.
        #[arg(short = 'g', long = "consumerGroup")]
        group: Option<String>,
        /// With -g: the client id to consume it.
        #[arg(short = 'd', long = "clientId")]
        client_id: Option<String>,
    },
    /// A producer group's live connections (from one broker of the topic).
    #[command(name = "producerConnection")]
    ProducerConnection {
        /// Producer group.
        #[arg(short = 'g', long = "producerGroup")]
        group: String,
        /// A topic the group sends to.
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// Moves a group's offsets on a topic to a point in time (its live consumers restart
    /// from there; with none online the offsets are written directly).
    #[command(name = "resetOffsetByTime")]
    ResetOffsetByTime {
        /// Consumer group.
        #[arg(short = 'g', long = "group")]
        group: String,
        /// Topic.
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// `now`, milliseconds since the epoch, or `yyyy-MM-dd#HH:mm:ss:SSS` (local time).
        #[arg(short = 's', long = "timestamp")]
        timestamp: String,
        /// `false`: only move offsets back, never forward (default true).
        #[arg(short = 'f', long = "force")]
        force: Option<String>,
    },
    /// The clusters a topic lives in.
    #[command(name = "topicClusterList")]
    TopicClusterList {
        /// Topic.
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// Takes a broker group's write permission away on every nameserver (producers stop
    /// sending to it; consumers drain it): the first step of taking a broker out.
    #[command(name = "wipeWritePerm")]
    WipeWritePerm {
        /// Broker group name.
        #[arg(short = 'b', long = "brokerName")]
        broker_name: String,
    },
    /// Gives a broker group's write permission back on every nameserver.
    #[command(name = "addWritePerm")]
    AddWritePerm {
        /// Broker group name.
        #[arg(short = 'b', long = "brokerName")]
        broker_name: String,
    },
    /// A message by topic, broker name, queue and offset.
    #[command(name = "queryMsgByOffset")]
    QueryMsgByOffset {
        /// Topic.
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// Broker name.
        #[arg(short = 'b', long = "brokerName")]
        broker_name: String,
        /// Queue id.
        #[arg(short = 'i', long = "queueId")]
        queue_id: i32,
        /// Queue offset.
        #[arg(short = 'o', long = "offset")]
        offset: i64,
    },
    /// Create or update an ACL account in plain_acl.yml on a broker or a cluster's brokers.
    #[command(name = "updateAclConfig")]
    UpdateAclConfig {
        #[command(flatten)]
        target: acl::AclTarget,
        /// The account's access key.
        #[arg(short = 'a', long = "accessKey")]
        access_key: String,
        /// The account's secret key.
        #[arg(short = 's', long = "secretKey")]
        secret_key: String,
        /// Addresses the account passes from unsigned (`192.168.0.*`).
        #[arg(short = 'w', long = "whiteRemoteAddress")]
        white: Option<String>,
        /// Permission on topics not listed (DENY, PUB, SUB, PUB|SUB).
        #[arg(short = 'i', long = "defaultTopicPerm")]
        default_topic: Option<String>,
        /// Permission on groups not listed.
        #[arg(short = 'u', long = "defaultGroupPerm")]
        default_group: Option<String>,
        /// Topics, `topicA=DENY,topicB=SUB`.
        #[arg(short = 't', long = "topicPerms")]
        topics: Option<String>,
        /// Groups, `groupA=DENY,groupB=SUB`.
        #[arg(short = 'g', long = "groupPerms")]
        groups: Option<String>,
        /// `true`: an admin account.
        #[arg(short = 'm', long = "admin")]
        admin: Option<bool>,
    },
    /// Delete an ACL account from plain_acl.yml on a broker or a cluster's brokers.
    #[command(name = "deleteAclConfig", alias = "deleteAccessConfig")]
    DeleteAclConfig {
        #[command(flatten)]
        target: acl::AclTarget,
        /// The account's access key.
        #[arg(short = 'a', long = "accessKey")]
        access_key: String,
    },
    /// The version of plain_acl.yml on a broker or every master of a cluster.
    #[command(name = "clusterAclConfigVersion")]
    ClusterAclConfigVersion {
        #[command(flatten)]
        target: acl::AclTarget,
    },
    /// Replace globalWhiteRemoteAddresses in plain_acl.yml on a broker or a cluster's
    /// brokers.
    #[command(name = "updateGlobalWhiteAddr")]
    UpdateGlobalWhiteAddr {
        #[command(flatten)]
        target: acl::AclTarget,
        /// Patterns, `10.10.103.*,192.168.0.*`.
        #[arg(short = 'g', long = "globalWhiteRemoteAddresses")]
        patterns: String,
        /// The ACL file (coremq keeps one: it must be the broker's plain_acl.yml).
        #[arg(short = 'p', long = "aclFileFullPath")]
        acl_file: Option<String>,
    },
    /// Every nameserver's effective configuration.
    #[command(name = "getNamesrvConfig")]
    GetNamesrvConfig,
    /// Change a nameserver config key at run time on every nameserver.
    #[command(name = "updateNamesrvConfig")]
    UpdateNamesrvConfig {
        /// Config key.
        #[arg(short = 'k', long = "key")]
        key: String,
        /// Config value.
        #[arg(short = 'v', long = "value")]
        value: String,
    },
    /// A broker's effective configuration.
    #[command(name = "getBrokerConfig")]
    GetBrokerConfig {
        /// Broker address.
        #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster")]
        broker: Option<String>,
        /// Cluster name.
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
    },
}

impl Command {
    /// mqadmin's name of the command.
    pub fn name(&self) -> &'static str {
        match self {
            Command::ClusterList { .. } => "clusterList",
            Command::UpdateAclConfig { .. } => "updateAclConfig",
            Command::DeleteAclConfig { .. } => "deleteAclConfig",
            Command::ClusterAclConfigVersion { .. } => "clusterAclConfigVersion",
            Command::UpdateGlobalWhiteAddr { .. } => "updateGlobalWhiteAddr",
            Command::TopicList { .. } => "topicList",
            Command::TopicRoute { .. } => "topicRoute",
            Command::TopicStatus { .. } => "topicStatus",
            Command::UpdateTopic { .. } => "updateTopic",
            Command::DeleteTopic { .. } => "deleteTopic",
            Command::BrokerStatus { .. } => "brokerStatus",
            Command::HaStatus { .. } => "haStatus",
            Command::BrokerConsumeStats { .. } => "brokerConsumeStats",
            Command::ConsumerProgress { .. } => "consumerProgress",
            Command::ConsumerConnection { .. } => "consumerConnection",
            Command::GetBrokerConfig { .. } => "getBrokerConfig",
            Command::GetNamesrvConfig => "getNamesrvConfig",
            Command::UpdateNamesrvConfig { .. } => "updateNamesrvConfig",
            Command::UpdateSubGroup { .. } => "updateSubGroup",
            Command::DeleteSubGroup { .. } => "deleteSubGroup",
            Command::UpdateBrokerConfig { .. } => "updateBrokerConfig",
            Command::QueryMsgById { .. } => "queryMsgById",
            Command::QueryMsgByOffset { .. } => "queryMsgByOffset",
            Command::QueryMsgByKey { .. } => "queryMsgByKey",
            Command::QueryMsgByUniqueKey { .. } => "queryMsgByUniqueKey",
            Command::ProducerConnection { .. } => "producerConnection",
            Command::TopicClusterList { .. } => "topicClusterList",
            Command::WipeWritePerm { .. } => "wipeWritePerm",
            Command::AddWritePerm { .. } => "addWritePerm",
            Command::ResetOffsetByTime { .. } => "resetOffsetByTime",
        }
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A call failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Something the operator named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// An option's value is not valid.
    #[error("{0}")]
    Invalid(String),
}

/// Runs a command; the text to print.
pub async fn run(admin: &AdminClient, cmd: Command, json: bool) -> Result<String, AdminError> {
    match cmd {
        Command::ClusterList { more } => cluster::cluster_list(admin, more, json).await,
        Command::UpdateAclConfig {
            target,
            access_key,
            secret_key,
            white,
            default_topic,
            default_group,
            topics,
            groups,
            admin: is_admin,
        } => {
            let h = crate::protocol::header::acl::CreateAccessConfigRequestHeader {
                access_key,
                secret_key: Some(secret_key),
                white_remote_address: white,
                // mqadmin always sends the flag (a Java boolean), false unless -m true.
                admin: Some(is_admin.unwrap_or(false)),
                default_topic_perm: default_topic,
                default_group_perm: default_group,
                topic_perms: topics,
                group_perms: groups,
            };
            acl::update_acl_config(admin, target, h, json).await
        }
        Command::DeleteAclConfig { target, access_key } => {
            acl::delete_acl_config(admin, target, &access_key, json).await
        }
        Command::ClusterAclConfigVersion { target } => {
            acl::cluster_acl_config_version(admin, target, json).await
        }
        Command::UpdateGlobalWhiteAddr {
            target,
            patterns,
            acl_file,
        } => {
            acl::update_global_white_addr(admin, target, &patterns, acl_file.as_deref(), json).await
        }
        Command::BrokerStatus { broker, cluster } => {
            cluster::broker_status(admin, broker, cluster, json).await
        }
        Command::HaStatus { broker, cluster } => ha::ha_status(admin, broker, cluster, json).await,
        Command::GetBrokerConfig { broker, cluster } => {
            cluster::broker_config(admin, broker, cluster, json).await
        }
        Command::GetNamesrvConfig => namesrv::namesrv_config(admin, json).await,
        Command::UpdateNamesrvConfig { key, value } => {
            namesrv::update_namesrv_config(admin, &key, &value, json).await
        }
        Command::TopicList { detail } => topics::topic_list(admin, detail, json).await,
        Command::TopicRoute { topic, list } => topics::topic_route(admin, &topic, list, json).await,
        Command::TopicStatus { topic } => topics::topic_status(admin, &topic, json).await,
        Command::TopicClusterList { topic } => {
            topics::topic_cluster_list(admin, &topic, json).await
        }
        Command::ProducerConnection { group, topic } => {
            producers::producer_connection(admin, &group, &topic, json).await
        }
        Command::ResetOffsetByTime {
            group,
            topic,
            timestamp,
            force,
        } => {
            let force = force.is_none_or(|f| f.trim().eq_ignore_ascii_case("true"));
            offsets::reset_offset_by_time(admin, &group, &topic, &timestamp, force, json).await
        }
        Command::WipeWritePerm { broker_name } => {
            cluster::write_perm(admin, &broker_name, false, json).await
        }
        Command::AddWritePerm { broker_name } => {
            cluster::write_perm(admin, &broker_name, true, json).await
        }
        c @ Command::UpdateTopic { .. } => topics::update_topic(admin, c, json).await,
        Command::DeleteTopic { topic, cluster } => {
            topics::delete_topic(admin, &topic, &cluster, json).await
        }
        Command::BrokerConsumeStats {
            broker,
            min_diff,
            order,
        } => consumers::broker_consume_stats(admin, &broker, min_diff, order, json).await,
        Command::ConsumerProgress {
            group: Some(group),
            show_client_ip,
        } => {
            let show_ip = show_client_ip.is_some_and(|v| v.eq_ignore_ascii_case("true"));
            consumers::consumer_progress(admin, &group, show_ip, json).await
        }
        Command::ConsumerProgress { group: None, .. } => {
            consumers::all_groups_progress(admin, json).await
        }
        Command::UpdateSubGroup {
            broker,
            cluster,
            group,
            consume_enable,
            from_min,
            broadcast,
            retry_queues,
            retry_max,
            broker_id,
            slow_broker,
            notify,
            orderly,
        } => {
            let opts = groups::GroupOptions {
                consume_enable,
                consume_from_min_enable: from_min,
                consume_broadcast_enable: broadcast,
                retry_queue_nums: retry_queues,
                retry_max_times: retry_max,
                broker_id,
                which_broker_when_consume_slowly: slow_broker,
                notify_consumer_ids_changed: notify,
                consume_message_orderly: orderly,
            };
            groups::update_sub_group(admin, broker, cluster, &group, &opts, json).await
        }
        Command::DeleteSubGroup {
            broker,
            cluster,
            group,
            remove_offset,
        } => groups::delete_sub_group(admin, broker, cluster, &group, remove_offset, json).await,
        Command::UpdateBrokerConfig {
            broker,
            cluster,
            key,
            value,
        } => cluster::update_broker_config(admin, broker, cluster, &key, &value, json).await,
        Command::QueryMsgById {
            ids,
            group: Some(group),
            client_id: Some(client),
            ..
        } => messages::consume_directly(admin, &ids, &group, &client, json).await,
        Command::QueryMsgById {
            ids,
            resend: Some(resend),
            ..
        } => {
            if resend.trim().eq_ignore_ascii_case("true") {
                messages::resend(admin, &ids, json).await
            } else {
                Ok(String::new())
            }
        }
        Command::QueryMsgById { ids, .. } => messages::query_by_id(admin, &ids, json).await,
        Command::QueryMsgByOffset {
            topic,
            broker_name,
            queue_id,
            offset,
        } => messages::query_by_offset(admin, &topic, &broker_name, queue_id, offset, json).await,
        Command::QueryMsgByKey {
            topic,
            key,
            begin,
            end,
        } => query_by_key::query_by_key(admin, &topic, &key, begin, end, json).await,
        Command::QueryMsgByUniqueKey {
            id,
            topic,
            group: Some(group),
            client_id: Some(client),
        } => query_by_key::consume_unique_directly(admin, &topic, &id, &group, &client, json).await,
        Command::QueryMsgByUniqueKey { id, topic, .. } => {
            query_by_key::query_by_unique_key(admin, &topic, &id, json).await
        }
        Command::ConsumerConnection { group } => {
            consumers::consumer_connection(admin, &group, json).await
        }
    }
}

/// A topic's route, or mqadmin's "No topic route info" error.
pub async fn route_of(
    admin: &AdminClient,
    topic: &str,
) -> Result<crate::protocol::body::TopicRouteData, AdminError> {
    admin.topic_route(topic).await?.ok_or_else(|| {
        AdminError::NotFound(format!(
            "No topic route info in name server for the topic: {topic}"
        ))
    })
}

/// Master addresses of a cluster's broker groups, as (broker name, address).
pub fn cluster_masters(
    info: &ClusterInfo,
    cluster: &str,
) -> Result<Vec<(String, String)>, AdminError> {
    let names = info.cluster_addr_table.get(cluster).ok_or_else(|| {
        AdminError::NotFound(format!("cluster [{cluster}] not found in the nameservers"))
    })?;
    Ok(names
        .iter()
        .filter_map(|n| {
            let b = info.broker_addr_table.get(n)?;
            Some((n.clone(), b.master_addr()?.to_owned()))
        })
        .collect())
}

/// Broker addresses named by `-b` (an address, or a broker name) or `-c`.
pub async fn targets(
    admin: &AdminClient,
    broker: Option<String>,
    cluster: Option<String>,
) -> Result<Vec<String>, AdminError> {
    match (broker, cluster) {
        (Some(b), _) if b.contains(':') => Ok(vec![b]),
        (Some(name), _) => {
            let info = admin.cluster_info().await?;
            info.broker_addr_table
                .get(&name)
                .and_then(|b| b.master_addr().map(str::to_owned))
                .map(|a| vec![a])
                .ok_or_else(|| {
                    AdminError::NotFound(format!("broker [{name}] not found in the nameservers"))
                })
        }
        (None, Some(c)) => {
            let info = admin.cluster_info().await?;
            Ok(cluster_masters(&info, &c)?
                .into_iter()
                .map(|(_, a)| a)
                .collect())
        }
        (None, None) => Err(AdminError::NotFound(
            "give -b BROKER_ADDR or -c CLUSTER".into(),
        )),
    }
}
