//! TopicRouteData (GET_ROUTEINFO_BY_TOPIC response), BrokerData and QueueData (spec §5.2).
//!
//! Emitted with the 5.x field superset (`enableActingMaster`, `topicSysFlag`,
//! `filterServerTable`) because the Rust client requires them and Java 4.x ignores them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// brokerId of a group's master.
pub const MASTER_ID: i64 = 0;

/// A broker group: name, cluster and brokerId → address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BrokerData {
    /// Cluster the group belongs to.
    pub cluster: String,
    /// Broker group name (master and slaves share it).
    pub broker_name: String,
    /// brokerId (0 master, ≥1 slaves) → `ip:port`; keys are emitted quoted.
    pub broker_addrs: BTreeMap<i64, String>,
    /// 5.x field; always false in coremq.
    #[serde(default)]
    pub enable_acting_master: bool,
    /// 5.x zone name, omitted when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_name: Option<String>,
}

impl BrokerData {
    /// The master's address, if the group has a live master.
    pub fn master_addr(&self) -> Option<&str> {
        self.broker_addrs.get(&MASTER_ID).map(String::as_str)
    }

    /// Where a consumer reads the group's queues: the master, else (master down) its
    /// lowest-numbered slave, as RocketMQ's findBrokerAddressInSubscribe falls back.
    pub fn subscribe_addr(&self) -> Option<&str> {
        self.master_addr()
            .or_else(|| self.broker_addrs.values().next().map(String::as_str))
    }
}

/// The queues one broker group serves for a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct QueueData {
    /// Broker group name.
    pub broker_name: String,
    /// Queues consumers read: ids 0..readQueueNums.
    pub read_queue_nums: i32,
    /// Queues producers write: ids 0..writeQueueNums.
    pub write_queue_nums: i32,
    /// Permission bits (see `codes::perm`).
    pub perm: i32,
    /// Topic system flag (unit bits); Java ≤ 4.7 called it `topicSynFlag`.
    #[serde(default, alias = "topicSynFlag")]
    pub topic_sys_flag: i32,
}

/// A topic's route: which groups serve it, with which queues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TopicRouteData {
    /// `brokerName:queueNums;...` for ordered topics, when the nameserver has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_topic_conf: Option<String>,
    /// Queue data per broker group.
    #[serde(default)]
    pub queue_datas: Vec<QueueData>,
    /// Broker groups named by the queue data.
    #[serde(default)]
    pub broker_datas: Vec<BrokerData>,
    /// Filter servers by broker address (always empty in coremq).
    #[serde(default)]
    pub filter_server_table: BTreeMap<String, Vec<String>>,
}
