//! The plain-ACL admin requests (RocketMQ 4.9's `AdminBrokerProcessor`): create or update
//! an account (50), delete one (51), the file's version (52), the global whitelist (53).
//! Changes go to shard 0, which writes plain_acl.yml and puts the new rules in force on
//! every core before answering.

use std::rc::Rc;

use super::Reply;
use crate::broker::acl::edit::{AccountUpdate, AclChange};
use crate::broker::shard::Shard;
use crate::protocol::header::acl::{
    CreateAccessConfigRequestHeader, DeleteAccessConfigRequestHeader,
    GetBrokerAclConfigResponseHeader, UpdateGlobalWhiteAddrsConfigRequestHeader,
};
use crate::protocol::{CommandHeader as _, RemotingCommand, ResponseCode};

/// `a,b,c` as items; an empty text is an empty list.
fn items(text: Option<String>) -> Option<Vec<String>> {
    text.map(|t| {
        t.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

async fn change(
    shard: &Rc<Shard>,
    req: &RemotingCommand,
    c: AclChange,
    failed: ResponseCode,
) -> Reply {
    let r = shard
        .run_on(0, move |s| async move {
            crate::broker::acl::reload::apply(&s, c).await
        })
        .await?;
    Ok(match r {
        Ok(()) => req.success(),
        Err(e) => {
            tracing::warn!("ACL change refused: {e}");
            req.error(failed, e)
        }
    })
}

/// UPDATE_AND_CREATE_ACL_CONFIG (50).
pub async fn upsert(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: CreateAccessConfigRequestHeader = req.header()?;
    let u = AccountUpdate {
        access_key: h.access_key,
        secret_key: h.secret_key.filter(|s| !s.is_empty()),
        white_remote_address: h.white_remote_address,
        admin: h.admin,
        default_topic_perm: h.default_topic_perm.filter(|s| !s.is_empty()),
        default_group_perm: h.default_group_perm.filter(|s| !s.is_empty()),
        topic_perms: items(h.topic_perms),
        group_perms: items(h.group_perms),
    };
    let failed = ResponseCode::UPDATE_AND_CREATE_ACL_CONFIG_FAILED;
    change(shard, req, AclChange::Upsert(u), failed).await
}

/// DELETE_ACL_CONFIG (51).
pub async fn delete(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: DeleteAccessConfigRequestHeader = req.header()?;
    let failed = ResponseCode::DELETE_ACL_CONFIG_FAILED;
    change(shard, req, AclChange::Delete(h.access_key), failed).await
}

/// UPDATE_GLOBAL_WHITE_ADDRS_CONFIG (53).
pub async fn global_white(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let h: UpdateGlobalWhiteAddrsConfigRequestHeader = req.header()?;
    let failed = ResponseCode::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED;
    if let (Some(asked), Some(gate)) = (h.acl_file_full_path.as_deref(), &shard.acl) {
        if !asked.is_empty() && std::path::Path::new(asked) != gate.path {
            return Ok(req.error(
                failed,
                format!(
                    "coremq keeps one ACL file, {}; {asked} is not it",
                    gate.path.display()
                ),
            ));
        }
    }
    let patterns = items(Some(h.global_white_addrs)).unwrap_or_default();
    change(shard, req, AclChange::GlobalWhite(patterns), failed).await
}

/// GET_BROKER_CLUSTER_ACL_INFO (52): the file's DataVersion.
pub fn version(shard: &Rc<Shard>, req: &RemotingCommand) -> Reply {
    let Some(gate) = &shard.acl else {
        return Ok(req.error(
            ResponseCode::SYSTEM_ERROR,
            "ACL is not enabled on this broker (aclEnable=false)",
        ));
    };
    let v = gate.rules().version;
    let version = serde_json::json!({"counter": v.counter, "timestamp": v.timestamp});
    let all = serde_json::json!({ gate.path.display().to_string(): version });
    let cfg = shard.cfg();
    let h = GetBrokerAclConfigResponseHeader {
        version: version.to_string(),
        all_acl_file_version: Some(all.to_string()),
        broker_name: cfg.broker_name.clone(),
        broker_addr: shard.ident.addr.clone(),
        cluster_name: cfg.broker_cluster_name.clone(),
    };
    Ok(req.success().with_ext(h.to_ext()))
}
