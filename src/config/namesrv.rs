//! Nameserver keys: RocketMQ's `NamesrvConfig`/`NettyServerConfig` ones plus coremq's, and
//! which of them UPDATE_NAMESRV_CONFIG (318) may change while the nameserver runs.

use std::path::PathBuf;

use super::value::expand_home;
use super::{Config, ConfigError};
use crate::config_struct;

config_struct! {
    /// Effective nameserver configuration.
    pub struct NamesrvConfig {
        /// TCP port clients and brokers connect to.
        listen_port: u16 = "listenPort", 9876;
        /// Where the KV config (e.g. ORDER_TOPIC_CONFIG) is persisted.
        kv_config_path: PathBuf = "kvConfigPath", expand_home("~/namesrv/kvConfig.json");
        /// Fill routes' orderTopicConf from the ORDER_TOPIC_CONFIG namespace.
        order_message_enable: bool = "orderMessageEnable", false;
        /// How often silent brokers are looked for, ms (RocketMQ 5 key).
        scan_not_active_broker_interval: u64 = "scanNotActiveBrokerInterval", 5_000;
        /// coremq: a broker silent this long is dropped, unless its registration names its own
        /// timeout (heartbeatTimeoutMillis), ms.
        broker_channel_expired_millis: u64 = "brokerChannelExpiredMillis", 120_000;
        /// Close a connection that completes no frame for this long (RocketMQ's Netty key).
        server_channel_max_idle_time_seconds: u64 = "serverChannelMaxIdleTimeSeconds", 120;
        /// coremq: address to bind.
        bind_address: String = "bindAddress", "0.0.0.0".to_string();
        /// coremq: directory of namesrv.log.
        log_dir: PathBuf = "logDir", expand_home("~/logs/coremqlogs");
        /// coremq: log level (error, warn, info, debug, trace); RUST_LOG overrides it.
        log_level: String = "logLevel", "info".to_string();
        /// coremq: rolled daily log files kept.
        log_retention_days: u32 = "logRetentionDays", crate::logging::DEFAULT_LOG_RETENTION_DAYS;
    }
}

impl Config for NamesrvConfig {
    fn set_key(&mut self, key: &str, value: &str) -> Result<bool, (&'static str, String)> {
        self.set(key, value)
    }
    fn inert_keys() -> &'static [&'static str] {
        &[
            "rocketmqHome",
            "productEnvName",
            "clusterTest",
            "serverWorkerThreads",
            "serverCallbackExecutorThreads",
            "serverSelectorThreads",
            "serverOnewaySemaphoreValue",
            "serverAsyncSemaphoreValue",
            "serverSocketSndBufSize",
            "serverSocketRcvBufSize",
            "serverPooledByteBufAllocatorEnable",
            "useEpollNativeSelector",
            "defaultThreadPoolNums",
        ]
    }
}

/// Keys RocketMQ's nameserver never lets UPDATE_NAMESRV_CONFIG touch (its fixed
/// `configBlackList` default; coremq has no key to extend it).
pub const UPDATE_BLACK_LIST: &[&str] = &[
    "configBlackList",
    "configStorePath",
    "kvConfigPath",
    "rocketmqHome",
];

/// Keys the running nameserver reads again when it uses them, so a change takes effect
/// without a restart: orderMessageEnable per route request, brokerChannelExpiredMillis per
/// registration, scanNotActiveBrokerInterval before each expiry scan. The others are bound
/// at start (the socket, the log files, the idle limit handed to every connection).
pub const RUNTIME_KEYS: &[&str] = &[
    "orderMessageEnable",
    "scanNotActiveBrokerInterval",
    "brokerChannelExpiredMillis",
];

/// Why a run-time config change was refused; it names the key.
#[derive(Debug, thiserror::Error)]
pub enum UpdateRefusal {
    /// The key is in [`UPDATE_BLACK_LIST`] (RocketMQ's remark, then the key).
    #[error("Can not update config in black list. ({0})")]
    BlackListed(String),
    /// A key of ours that is only read at start.
    #[error("{0} cannot change at run time; restart with it in the file")]
    NotAtRunTime(&'static str),
    /// A RocketMQ key that coremq accepts in files but does not use.
    #[error("{0} has no effect in coremq")]
    NoEffect(String),
    /// Not a nameserver key.
    #[error("unknown nameserver config key {0}")]
    Unknown(String),
    /// A run-time key with a value of the wrong form.
    #[error(transparent)]
    BadValue(ConfigError),
}

impl NamesrvConfig {
    /// This config with `changes` applied, or the first refusal; all or nothing. Black-listed
    /// keys are looked for first, over the whole request, as RocketMQ does.
    pub fn with_runtime_changes(
        &self,
        changes: &[(String, String)],
    ) -> Result<NamesrvConfig, UpdateRefusal> {
        if let Some((key, _)) = changes
            .iter()
            .find(|(k, _)| UPDATE_BLACK_LIST.contains(&k.as_str()))
        {
            return Err(UpdateRefusal::BlackListed(key.clone()));
        }
        let mut next = self.clone();
        for (key, value) in changes {
            if let Some(fixed) = Self::KEYS
                .iter()
                .find(|k| **k == key.as_str() && !RUNTIME_KEYS.contains(k))
            {
                return Err(UpdateRefusal::NotAtRunTime(fixed));
            }
            match next.set(key, value) {
                Ok(true) => {}
                Ok(false) if Self::inert_keys().contains(&key.as_str()) => {
                    return Err(UpdateRefusal::NoEffect(key.clone()))
                }
                Ok(false) => return Err(UpdateRefusal::Unknown(key.clone())),
                Err((key, expected)) => {
                    return Err(UpdateRefusal::BadValue(ConfigError::BadValue {
                        origin: "UPDATE_NAMESRV_CONFIG".into(),
                        key,
                        value: value.clone(),
                        expected,
                    }))
                }
            }
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load;

    #[test]
    fn file_overrides_defaults_and_bad_values_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ns.properties");
        std::fs::write(&p, "listenPort=19876\nserverWorkerThreads=8\nmystery=1\n").unwrap();
        let (c, warnings) = load::<NamesrvConfig>(Some(&p)).unwrap();
        assert_eq!(c.listen_port, 19876);
        assert_eq!(c.broker_channel_expired_millis, 120_000);
        assert_eq!(warnings.len(), 2);
        assert!(warnings[0].contains("serverWorkerThreads") && warnings[1].contains("mystery"));

        std::fs::write(&p, "# x\nlistenPort=98765\n").unwrap();
        let err = load::<NamesrvConfig>(Some(&p)).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::BadValue {
                key: "listenPort",
                ..
            }
        ));
        assert!(
            err.to_string()
                .contains(":2: bad value \"98765\" for key listenPort"),
            "{err}"
        );

        let err = load::<NamesrvConfig>(Some(&dir.path().join("missing.properties"))).unwrap_err();
        assert!(err.to_string().contains("missing.properties"), "{err}");
    }

    #[test]
    fn every_key_prints() {
        let c = NamesrvConfig::default();
        let keys: Vec<&str> = c.entries().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, NamesrvConfig::KEYS);
        assert!(c.entries().contains(&("listenPort", "9876".to_string())));
    }

    fn changes(kv: &[(&str, &str)]) -> Vec<(String, String)> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn runtime_keys_apply_and_every_refusal_names_its_key() {
        let c = NamesrvConfig::default();
        let next = c
            .with_runtime_changes(&changes(&[
                ("orderMessageEnable", "true"),
                ("scanNotActiveBrokerInterval", "100"),
                ("brokerChannelExpiredMillis", "1500"),
            ]))
            .unwrap();
        assert!(next.order_message_enable);
        assert_eq!(next.scan_not_active_broker_interval, 100);
        assert_eq!(next.broker_channel_expired_millis, 1500);

        let refused = |kv: &[(&str, &str)]| c.with_runtime_changes(&changes(kv)).unwrap_err();
        // The black list wins even when another key comes first.
        let e = refused(&[("listenPort", "1"), ("rocketmqHome", "/x")]);
        assert!(matches!(e, UpdateRefusal::BlackListed(ref k) if k == "rocketmqHome"));
        assert!(e
            .to_string()
            .starts_with("Can not update config in black list."));
        let e = refused(&[("orderMessageEnable", "true"), ("listenPort", "1")]);
        assert_eq!(
            e.to_string(),
            "listenPort cannot change at run time; restart with it in the file"
        );
        assert!(refused(&[("clusterTest", "true")])
            .to_string()
            .contains("clusterTest"));
        assert!(refused(&[("mystery", "1")]).to_string().contains("mystery"));
        let e = refused(&[("scanNotActiveBrokerInterval", "soon")]).to_string();
        assert!(
            e.contains("for key scanNotActiveBrokerInterval: expected"),
            "{e}"
        );
        // Every key is either changeable or refused as fixed: none is silently stored.
        for k in RUNTIME_KEYS {
            assert!(NamesrvConfig::KEYS.contains(k), "{k}");
        }
    }
}
