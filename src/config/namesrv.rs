//! Nameserver keys: RocketMQ's `NamesrvConfig`/`NettyServerConfig` ones plus coremq's.

use std::path::PathBuf;

use super::value::expand_home;
use super::Config;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load, ConfigError};

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
}
