//! getNamesrvConfig and updateNamesrvConfig: every configured nameserver's effective
//! config, and run-time changes to it (UPDATE_NAMESRV_CONFIG refuses, naming the key, what
//! the nameserver cannot change while it runs).

use super::cluster::config_table;
use super::AdminError;
use crate::client::admin::AdminClient;

/// getNamesrvConfig: `key = value` lines per nameserver of `-n`.
pub async fn namesrv_config(admin: &AdminClient, json: bool) -> Result<String, AdminError> {
    let mut out = String::new();
    let mut all = serde_json::Map::new();
    for ns in admin.namesrv() {
        let text = admin.namesrv_config(*ns).await?;
        let kv = config_table(&ns.to_string(), &text, &mut out);
        all.insert(ns.to_string(), serde_json::Value::Object(kv));
    }
    Ok(if json {
        serde_json::to_string_pretty(&all).unwrap_or_default() + "\n"
    } else {
        out
    })
}

/// updateNamesrvConfig -k KEY -v VALUE on every nameserver of `-n`, in order; the first
/// refusal stops it and names the nameserver (the ones before it keep the change).
pub async fn update_namesrv_config(
    admin: &AdminClient,
    key: &str,
    value: &str,
    json: bool,
) -> Result<String, AdminError> {
    let (key, value) = (key.trim(), value.trim());
    let mut done = Vec::new();
    for ns in admin.namesrv() {
        admin.update_namesrv_config(*ns, &[(key, value)]).await?;
        done.push(ns.to_string());
    }
    Ok(if json {
        serde_json::to_string_pretty(&serde_json::json!({"namesrv": done, key: value}))
            .unwrap_or_default()
            + "\n"
    } else {
        // mqadmin prints the server list as Java's List.toString.
        format!(
            "update name server config success![{}]\n{key} : {value}\n",
            done.join(", ")
        )
    })
}
