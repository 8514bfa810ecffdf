//! The admin API's plain-ACL requests (RocketMQ 4.9's `MQClientAPIImpl`
//! createPlainAccessConfig / deleteAccessConfig / updateGlobalWhiteAddrsConfig /
//! getBrokerClusterAclInfo).

use super::admin::AdminClient;
use super::ClientError;
use crate::protocol::header::acl::{
    CreateAccessConfigRequestHeader, DeleteAccessConfigRequestHeader,
    GetBrokerAclConfigResponseHeader, UpdateGlobalWhiteAddrsConfigRequestHeader,
};
use crate::protocol::{RemotingCommand, RequestCode};

/// One file's version on a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFileVersion {
    /// The file's path on the broker.
    pub path: String,
    /// Changes made through the admin commands.
    pub counter: i64,
    /// When the last one was made, ms since the epoch.
    pub timestamp: i64,
}

/// A broker's answer to GET_BROKER_CLUSTER_ACL_INFO (52).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterAclVersion {
    /// Cluster.
    pub cluster_name: String,
    /// Broker group.
    pub broker_name: String,
    /// Broker address.
    pub broker_addr: String,
    /// Each ACL file's version.
    pub files: Vec<AclFileVersion>,
}

fn version_of(v: &serde_json::Value) -> (i64, i64) {
    let n = |k: &str| v.get(k).and_then(serde_json::Value::as_i64).unwrap_or(0);
    (n("counter"), n("timestamp"))
}

impl AdminClient {
    /// Creates or updates an account (50).
    pub async fn update_acl_config(
        &self,
        addr: &str,
        h: &CreateAccessConfigRequestHeader,
    ) -> Result<(), ClientError> {
        let req =
            RemotingCommand::request_with(RequestCode::UPDATE_AND_CREATE_ACL_CONFIG.code(), h);
        self.broker_call(addr, req).await.map(|_| ())
    }

    /// Deletes an account (51).
    pub async fn delete_acl_config(&self, addr: &str, access_key: &str) -> Result<(), ClientError> {
        let h = DeleteAccessConfigRequestHeader {
            access_key: access_key.to_owned(),
        };
        let req = RemotingCommand::request_with(RequestCode::DELETE_ACL_CONFIG.code(), &h);
        self.broker_call(addr, req).await.map(|_| ())
    }

    /// Replaces the global whitelist (53); `patterns` is `,`-joined.
    pub async fn update_global_white_addrs(
        &self,
        addr: &str,
        patterns: &str,
        acl_file: Option<&str>,
    ) -> Result<(), ClientError> {
        let h = UpdateGlobalWhiteAddrsConfigRequestHeader {
            global_white_addrs: patterns.to_owned(),
            acl_file_full_path: acl_file.map(str::to_owned),
        };
        let req =
            RemotingCommand::request_with(RequestCode::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG.code(), &h);
        self.broker_call(addr, req).await.map(|_| ())
    }

    /// The ACL files' versions on a broker (52).
    pub async fn acl_version(&self, addr: &str) -> Result<ClusterAclVersion, ClientError> {
        let req = RemotingCommand::request(
            RequestCode::GET_BROKER_CLUSTER_ACL_INFO.code(),
            Default::default(),
        );
        let r = self.broker_call(addr, req).await?;
        let bad = |reason: String| ClientError::BadResponse {
            addr: addr.to_owned(),
            reason,
        };
        let h: GetBrokerAclConfigResponseHeader = r.header().map_err(|e| bad(e.to_string()))?;
        let mut files = Vec::new();
        if let Some(all) = &h.all_acl_file_version {
            let map: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(all).map_err(|e| bad(format!("allAclFileVersion: {e}")))?;
            for (path, v) in map {
                let (counter, timestamp) = version_of(&v);
                files.push(AclFileVersion {
                    path,
                    counter,
                    timestamp,
                });
            }
        }
        Ok(ClusterAclVersion {
            cluster_name: h.cluster_name,
            broker_name: h.broker_name,
            broker_addr: h.broker_addr,
            files,
        })
    }
}
