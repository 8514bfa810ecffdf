//! Bodies of master/slave requests: what a slave copies from its master (RocketMQ's
//! SlaveSynchronize: GET_ALL_CONSUMER_OFFSET 43, GET_ALL_DELAY_OFFSET 45) and the HA
//! status table (GET_BROKER_HA_STATUS 907, RocketMQ 5's HARuntimeInfo field names, with
//! coremq's per-shard detail beside them).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// GET_ALL_CONSUMER_OFFSET: `{"offsetTable":{"topic@group":{"0":12}}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerOffsetSerializeWrapper {
    /// `topic@group` → queue id → next offset.
    pub offset_table: BTreeMap<String, BTreeMap<i32, i64>>,
}

/// GET_ALL_DELAY_OFFSET: `{"offsetTable":{"1":40}}` (delay level → offset in its queue).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DelayOffsetSerializeWrapper {
    /// Delay level (1-based) → offset.
    pub offset_table: BTreeMap<i32, i64>,
}

/// One slave link of a master (HAConnectionRuntimeInfo).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HaConnectionRuntimeInfo {
    /// The slave's broker address.
    pub addr: String,
    /// Physical offset the slave acknowledged (durable under SYNC_FLUSH, received else).
    pub slave_ack_offset: i64,
    /// Bytes the slave is behind.
    pub diff: i64,
    /// Within haSlaveFallbehindMax.
    pub in_sync: bool,
    /// Log bytes sent per second (since the previous status call).
    pub transferred_byte_in_second: i64,
    /// Physical offset the transfer started from.
    pub transfer_from_where: i64,
    /// coremq: the shard this link copies.
    pub shard: u32,
}

/// A slave's view of its master (HAClientRuntimeInfo).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HaClientRuntimeInfo {
    /// The master's HA address.
    pub master_addr: String,
    /// Bytes received since start.
    pub transferred_byte_in_second: i64,
    /// The slave's log end (physical).
    pub max_offset: i64,
    /// Last frame from the master (ms since the epoch).
    pub last_read_timestamp: i64,
    /// Last report to the master (ms since the epoch).
    pub last_write_timestamp: i64,
    /// The master's log end as last heard (physical).
    pub master_flush_offset: i64,
    /// Following now.
    pub is_activated: bool,
    /// coremq: the shard.
    pub shard: u32,
    /// coremq: FOLLOWING, CONNECTING, DIVERGED, REFUSED, ...
    pub state: String,
    /// coremq: why, for DIVERGED / REFUSED / DISCONNECTED.
    pub detail: String,
    /// coremq: bytes behind the master.
    pub lag_bytes: i64,
}

/// GET_BROKER_HA_STATUS (907).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HaRuntimeInfo {
    /// This broker is a master.
    pub master: bool,
    /// Sum of every shard's log end (coremq: per shard below).
    pub master_commit_log_max_offset: i64,
    /// Slaves (by address) in sync on every shard.
    pub in_sync_slave_nums: i32,
    /// Master: one entry per slave link (per shard).
    pub ha_connection_info: Vec<HaConnectionRuntimeInfo>,
    /// Slave: its master (shard 0); coremq adds every shard below.
    pub ha_client_runtime_info: HaClientRuntimeInfo,
    /// coremq: every shard's follower (slave).
    pub shard_clients: Vec<HaClientRuntimeInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_tables_read_java_shapes() {
        // fastjson writes integer keys unquoted.
        let java = br#"{"offsetTable":{"T@g":{0:12,1:3}}}"#;
        let w: ConsumerOffsetSerializeWrapper = super::super::from_json_lenient(java).unwrap();
        assert_eq!(w.offset_table["T@g"][&1], 3);
        let d: DelayOffsetSerializeWrapper =
            super::super::from_json_lenient(br#"{"offsetTable":{1:40,3:2}}"#).unwrap();
        assert_eq!(d.offset_table[&3], 2);
        let back: DelayOffsetSerializeWrapper =
            serde_json::from_slice(&super::super::to_json(&d)).unwrap();
        assert_eq!(back, d);
    }
}
