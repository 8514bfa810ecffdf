//! updateAclConfig, deleteAclConfig, clusterAclConfigVersion, updateGlobalWhiteAddr:
//! mqadmin 4.9's ACL commands, on a broker (`-b`) or every broker of a cluster (`-c`:
//! masters and slaves for changes, masters for the version, as mqadmin does). Output is
//! mqadmin's, except that updateAclConfig prints the account it sent (without its secret)
//! where mqadmin prints a Java object id.

use serde_json::json;

use super::table::{local_time, printf};
use super::{targets, AdminError};
use crate::client::admin::AdminClient;
use crate::protocol::header::acl::CreateAccessConfigRequestHeader;

/// `-b ADDR | -c CLUSTER` of the ACL commands.
#[derive(Debug, Clone, clap::Args)]
pub struct AclTarget {
    /// Broker address (or broker name).
    #[arg(short = 'b', long = "brokerAddr", conflicts_with = "cluster")]
    pub broker: Option<String>,
    /// Cluster name: its masters and slaves (clusterAclConfigVersion: its masters).
    #[arg(short = 'c', long = "clusterName")]
    pub cluster: Option<String>,
}

/// Every broker address (masters and slaves) of `-b` or `-c`.
async fn all_brokers(admin: &AdminClient, t: AclTarget) -> Result<Vec<String>, AdminError> {
    let Some(c) = t.cluster.filter(|_| t.broker.is_none()) else {
        return targets(admin, t.broker, None).await;
    };
    let info = admin.cluster_info().await?;
    let names = info.cluster_addr_table.get(&c).ok_or_else(|| {
        AdminError::NotFound(format!("cluster [{c}] not found in the nameservers"))
    })?;
    let mut out: Vec<String> = names
        .iter()
        .filter_map(|n| info.broker_addr_table.get(n))
        .flat_map(|b| b.broker_addrs.values().cloned())
        .collect();
    out.sort();
    Ok(out)
}

/// The account as printed after an update: every field but the secret.
fn describe(h: &CreateAccessConfigRequestHeader) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "null".into());
    format!(
        "PlainAccessConfig{{accessKey='{}', whiteRemoteAddress='{}', admin={}, defaultTopicPerm='{}', defaultGroupPerm='{}', topicPerms=[{}], groupPerms=[{}]}}",
        h.access_key,
        opt(&h.white_remote_address),
        h.admin.unwrap_or(false),
        opt(&h.default_topic_perm),
        opt(&h.default_group_perm),
        h.topic_perms.clone().unwrap_or_default(),
        h.group_perms.clone().unwrap_or_default(),
    )
}

/// updateAclConfig.
pub async fn update_acl_config(
    admin: &AdminClient,
    target: AclTarget,
    h: CreateAccessConfigRequestHeader,
    json: bool,
) -> Result<String, AdminError> {
    let mut out = String::new();
    let addrs = all_brokers(admin, target).await?;
    for addr in &addrs {
        admin.update_acl_config(addr, &h).await?;
        out.push_str(&format!(
            "create or update plain access config to {addr} success.\n"
        ));
    }
    if json {
        return Ok(json!({"brokers": addrs, "accessKey": h.access_key}).to_string() + "\n");
    }
    out.push_str(&describe(&h));
    out.push('\n');
    Ok(out)
}

/// deleteAclConfig.
pub async fn delete_acl_config(
    admin: &AdminClient,
    target: AclTarget,
    access_key: &str,
    json: bool,
) -> Result<String, AdminError> {
    let mut out = String::new();
    let addrs = all_brokers(admin, target).await?;
    for addr in &addrs {
        admin.delete_acl_config(addr, access_key).await?;
        out.push_str(&format!(
            "delete plain access config account from {addr} success.\n"
        ));
    }
    if json {
        return Ok(json!({"brokers": addrs, "accessKey": access_key}).to_string() + "\n");
    }
    out.push_str(&format!("account's accesskey is:{access_key}\n"));
    Ok(out)
}

/// updateGlobalWhiteAddr.
pub async fn update_global_white_addr(
    admin: &AdminClient,
    target: AclTarget,
    patterns: &str,
    acl_file: Option<&str>,
    json: bool,
) -> Result<String, AdminError> {
    let mut out = String::new();
    let addrs = all_brokers(admin, target).await?;
    for addr in &addrs {
        admin
            .update_global_white_addrs(addr, patterns, acl_file)
            .await?;
        out.push_str(&format!(
            "update global white remote addresses to {addr} success.\n"
        ));
    }
    if json {
        return Ok(
            json!({"brokers": addrs, "globalWhiteRemoteAddresses": patterns}).to_string() + "\n",
        );
    }
    Ok(out)
}

const VERSION_PATTERN: &str = "%-16s  %-22s  %-22s  %-20s  %-22s  %-22s";

/// clusterAclConfigVersion.
pub async fn cluster_acl_config_version(
    admin: &AdminClient,
    target: AclTarget,
    json: bool,
) -> Result<String, AdminError> {
    let by_cluster = target.broker.is_none() && target.cluster.is_some();
    let addrs = targets(admin, target.broker, target.cluster).await?;
    let mut rows = Vec::new();
    for addr in &addrs {
        let v = admin.acl_version(addr).await?;
        for f in v.files {
            rows.push(vec![
                v.cluster_name.clone(),
                v.broker_name.clone(),
                v.broker_addr.clone(),
                f.path,
                f.counter.to_string(),
                local_time(f.timestamp, false),
            ]);
        }
    }
    if json {
        return Ok(serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n");
    }
    let mut out = String::new();
    if by_cluster {
        let header = [
            "#Cluster Name",
            "#Broker Name",
            "#Broker Addr",
            "#AclFilePath",
            "#AclConfigVersionNum",
            "#AclLastUpdateTime",
        ]
        .map(String::from);
        out.push_str(&printf(VERSION_PATTERN, &header));
        out.push('\n');
    }
    for r in &rows {
        out.push_str(&printf(VERSION_PATTERN, r));
        out.push('\n');
    }
    out.push_str(if by_cluster {
        "get cluster's plain access config version success.\n"
    } else {
        "get broker's plain access config version success.\n"
    });
    Ok(out)
}
