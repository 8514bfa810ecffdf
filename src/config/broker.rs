//! Broker keys: RocketMQ's `BrokerConfig` / `MessageStoreConfig` / `NettyServerConfig` ones
//! operators set (ops-surface §3), with RocketMQ's defaults, plus coremq's own (shards,
//! cache, I/O memory) beside them. The broker process that uses them is issue #5's work.

use std::path::PathBuf;

use super::value::expand_home;
use super::{Config, ConfigError};
use crate::{config_enum, config_struct};

config_enum! {
    /// brokerRole.
    pub enum BrokerRole {
        /// Acknowledges without waiting for a slave.
        AsyncMaster = "ASYNC_MASTER",
        /// Acknowledges once a slave has the message.
        SyncMaster = "SYNC_MASTER",
        /// Follows a master.
        Slave = "SLAVE",
    }
}

config_enum! {
    /// flushDiskType.
    pub enum FlushDiskType {
        /// Acknowledged once buffered; flushed every flushIntervalCommitLog.
        AsyncFlush = "ASYNC_FLUSH",
        /// Acknowledged after an fdatasync covering the message.
        SyncFlush = "SYNC_FLUSH",
    }
}

/// The host name, RocketMQ's default brokerName.
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into the buffer we own.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

config_struct! {
    /// Effective broker configuration.
    pub struct BrokerConfig {
        /// Cluster shown in clusterList.
        broker_cluster_name: String = "brokerClusterName", "DefaultCluster".to_string();
        /// Broker group name (master and slaves share it).
        broker_name: String = "brokerName", host_name();
        /// 0 master, > 0 slave.
        broker_id: i64 = "brokerId", 0;
        /// Address registered with the nameserver; empty = first non-loopback IPv4.
        broker_ip1: String = "brokerIP1", String::new();
        /// `;`-separated nameserver list (NAMESRV_ADDR when empty).
        namesrv_addr: String = "namesrvAddr", String::new();
        /// Main port (VIP port = listenPort - 2, HA port = listenPort + 1).
        listen_port: u16 = "listenPort", 10911;
        /// ASYNC_MASTER, SYNC_MASTER or SLAVE.
        broker_role: BrokerRole = "brokerRole", BrokerRole::AsyncMaster;
        /// ASYNC_FLUSH or SYNC_FLUSH.
        flush_disk_type: FlushDiskType = "flushDiskType", FlushDiskType::AsyncFlush;
        /// SYNC_FLUSH wait before FLUSH_DISK_TIMEOUT, ms.
        sync_flush_timeout: u64 = "syncFlushTimeout", 5000;
        /// SYNC_MASTER wait before FLUSH_SLAVE_TIMEOUT, ms.
        slave_timeout: u64 = "slaveTimeout", 3000;
        /// Replication port; 0 = listenPort + 1 (RocketMQ's start script sets the same).
        ha_listen_port: u16 = "haListenPort", 0;
        /// Slave: the master's HA address (`ip:port`); empty = the one the nameserver gives.
        ha_master_address: String = "haMasterAddress", String::new();
        /// SYNC_MASTER: a slave further behind than this many bytes is not waited for
        /// (SLAVE_NOT_AVAILABLE).
        ha_slave_fallbehind_max: u64 = "haSlaveFallbehindMax", 256 << 20;
        /// Idle replication links send a heartbeat this often, ms.
        ha_send_heartbeat_interval: u64 = "haSendHeartbeatInterval", 5000;
        /// A replication link silent this long is closed, ms.
        ha_housekeeping_interval: u64 = "haHousekeepingInterval", 20_000;
        /// Log bytes per replication frame at most (coremq: 4 MiB; RocketMQ's 32 KiB works).
        ha_transfer_batch_size: u32 = "haTransferBatchSize", 4 << 20;
        /// A pull more than this percent of RAM behind the log's end is suggested to the
        /// slave (with slaveReadEnable).
        access_message_in_memory_max_ratio: u8 = "accessMessageInMemoryMaxRatio", 40;
        /// Store root.
        store_path_root_dir: PathBuf = "storePathRootDir", expand_home("~/store");
        /// Commit-log directory (coremq keeps per-shard logs under storePathRootDir; a value
        /// here is accepted and reported by -p).
        store_path_commit_log: PathBuf = "storePathCommitLog", expand_home("~/store/commitlog");
        /// Commit-log segment size (multiple of 4096).
        mapped_file_size_commit_log: u64 = "mappedFileSizeCommitLog", 1_073_741_824;
        /// Consume-queue segment size (rounded up to a multiple of 20,480).
        mapped_file_size_consume_queue: u64 = "mappedFileSizeConsumeQueue", 6_000_000;
        /// ASYNC_FLUSH period, ms.
        flush_interval_commit_log: u64 = "flushIntervalCommitLog", 500;
        /// Longest time, ms, between checkpoints (each syncs every queue's partial index
        /// tail); one is due sooner after 64 MiB of log.
        flush_consume_queue_thorough_interval: u64 = "flushConsumeQueueThoroughInterval", 60_000;
        /// Hours when expired files are removed, `04` or `04;16`.
        delete_when: String = "deleteWhen", "04".to_string();
        /// Hours a segment is kept.
        file_reserved_time: u64 = "fileReservedTime", 72;
        /// Percent of disk use at which the oldest files go regardless of age.
        disk_max_used_space_ratio: u8 = "diskMaxUsedSpaceRatio", 75;
        /// Largest message body accepted, bytes.
        max_message_size: u32 = "maxMessageSize", 4_194_304;
        /// Create unknown topics from TBW102 on send.
        auto_create_topic_enable: bool = "autoCreateTopicEnable", true;
        /// Create unknown subscription groups on heartbeat.
        auto_create_subscription_group: bool = "autoCreateSubscriptionGroup", true;
        /// Queues of an auto-created topic.
        default_topic_queue_nums: u32 = "defaultTopicQueueNums", 8;
        /// 2 W, 4 R, 6 RW.
        broker_permission: u8 = "brokerPermission", 6;
        /// Park pulls that find nothing until data arrives.
        long_polling_enable: bool = "longPollingEnable", true;
        /// Pull suspension when long polling is off, ms.
        short_polling_time_mills: u64 = "shortPollingTimeMills", 1000;
        /// Delay levels 1..18.
        message_delay_level: String = "messageDelayLevel", "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h".to_string();
        /// A half message without its producer's decision this long (ms) is checked back.
        transaction_time_out: u64 = "transactionTimeOut", 6000;
        /// Check-backs of one half message before it is dropped.
        transaction_check_max: u32 = "transactionCheckMax", 15;
        /// How often undecided half messages are checked back, ms.
        transaction_check_interval: u64 = "transactionCheckInterval", 60_000;
        /// Re-registration period, ms.
        register_name_server_period: u64 = "registerNameServerPeriod", 30_000;
        /// Let consumers read from slaves when the master is slow.
        slave_read_enable: bool = "slaveReadEnable", false;
        /// Accept SQL92 property filters (MessageSelector.bySql); off refuses them, as
        /// RocketMQ's default does. Read per request.
        enable_property_filter: bool = "enablePropertyFilter", false;
        /// Plain ACL: check every request against plain_acl.yml (see broker::acl).
        acl_enable: bool = "aclEnable", false;
        /// Consumer offsets persisted every, ms.
        flush_consumer_offset_interval: u64 = "flushConsumerOffsetInterval", 5000;
        /// Keep the key index (KEYS, UNIQ_KEY) that QUERY_MESSAGE reads.
        message_index_enable: bool = "messageIndexEnable", true;
        /// Records a query by key returns at most.
        max_msgs_num_batch: u32 = "maxMsgsNumBatch", 64;
        /// Records a query by unique key returns at most.
        default_query_max_num: u32 = "defaultQueryMaxNum", 32;
        /// coremq: key-index entries (24 bytes each) buffered per shard before a run is
        /// written.
        message_index_buffer_entries: u32 = "messageIndexBufferEntries", 262_144;
        /// coremq: shards (cores) serving the store; 0 = one per available core.
        shard_count: u32 = "shardCount", 0;
        /// coremq: CPU list for the shards (`0-3`, `2,4,6`); empty = the first shardCount cores.
        shard_cpus: String = "shardCpus", String::new();
        /// coremq: commit-log read cache per shard, bytes.
        read_cache_bytes_per_shard: u64 = "readCacheBytesPerShard", 64 << 20;
        /// coremq: a shard idle (no append, no read) this long drops its read caches, ms;
        /// 0 keeps them.
        read_cache_idle_release_ms: u64 = "readCacheIdleReleaseMs",
            crate::store::config::DEFAULT_CACHE_IDLE_RELEASE_MS;
        /// coremq: io_uring registered memory per shard, bytes (counts against memlock).
        io_memory_bytes_per_shard: u64 = "ioMemoryBytesPerShard", 1 << 20;
        /// coremq: microseconds a shard spins before sleeping (dedicated cores only).
        spin_before_park_micros: u64 = "spinBeforeParkMicros", 0;
        /// coremq: move a client connection to the shard owning nearly all its sends'
        /// queues (src/remoting/handover.rs).
        connection_move_enable: bool = "connectionMoveEnable", true;
        /// coremq: Prometheus endpoint port (`/metrics`); 0 turns it off.
        metrics_port: u16 = "metricsPort", 5557;
        /// RocketMQ 5: longest delay a timer message may ask for, seconds.
        timer_max_delay_sec: u64 = "timerMaxDelaySec", 259_200;
        /// RocketMQ 5's gRPC endpoint (the proxy's port), served by every shard; 0 turns
        /// it off.
        grpc_server_port: u16 = "grpcServerPort", 8081;
        /// coremq: `host:port` QueryRoute gives gRPC clients (NAT, containers); empty =
        /// brokerIP1 with grpcServerPort.
        grpc_advertised_address: String = "grpcAdvertisedAddress", String::new();
        /// RocketMQ 5 proxy: lease of a push consumer's (auto-renewing) receive, ms.
        default_invisible_time_mills: u64 = "defaultInvisibleTimeMills", 60_000;
        /// RocketMQ 5 proxy: keep renewing push consumers' leases while they are alive.
        enable_proxy_auto_renew: bool = "enableProxyAutoRenew", true;
        /// RocketMQ 5 proxy: a lease this close to running out is renewed, ms.
        renew_ahead_time_millis: u64 = "renewAheadTimeMillis", 10_000;
        /// RocketMQ 5 proxy: a message is renewed for at most this long after its
        /// receive, ms; then its lease runs out and it is delivered again.
        renew_max_time_millis: u64 = "renewMaxTimeMillis", 3 * 3600 * 1000;
        /// RocketMQ 5 proxy: how often leases are checked for renewal, ms.
        renew_schedule_period_millis: u64 = "renewSchedulePeriodMillis", 5_000;
        /// RocketMQ 5 proxy: leases of a client that ends are cut to this, ms, so what
        /// it held comes back soon.
        invisible_time_millis_when_clear: u64 = "invisibleTimeMillisWhenClear", 1_000;
        /// coremq: directory of broker.log.
        log_dir: PathBuf = "logDir", expand_home("~/logs/coremqlogs");
        /// coremq: log level; RUST_LOG overrides it.
        log_level: String = "logLevel", "info".to_string();
        /// coremq: rolled daily log files kept.
        log_retention_days: u32 = "logRetentionDays", crate::logging::DEFAULT_LOG_RETENTION_DAYS;
    }
}

impl BrokerConfig {
    /// Checks values that parse but do not make sense together (RocketMQ's start-up checks).
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        match self.broker_role {
            BrokerRole::Slave if self.broker_id <= 0 => {
                return Err(ConfigError::Invalid("Slave's brokerId must be > 0".into()));
            }
            BrokerRole::AsyncMaster | BrokerRole::SyncMaster => self.broker_id = 0,
            BrokerRole::Slave => {}
        }
        if self.mapped_file_size_commit_log % 4096 != 0
            || self.mapped_file_size_commit_log < (64 << 10)
        {
            return Err(ConfigError::Invalid(format!(
                "mappedFileSizeCommitLog={} must be a multiple of 4096 and at least 65536",
                self.mapped_file_size_commit_log
            )));
        }
        if u64::from(self.max_message_size) + 1024 > self.mapped_file_size_commit_log {
            return Err(ConfigError::Invalid(format!(
                "maxMessageSize={} does not fit a commit-log segment of mappedFileSizeCommitLog={}",
                self.max_message_size, self.mapped_file_size_commit_log
            )));
        }
        crate::store::RetentionPolicy::parse_delete_when(&self.delete_when).map_err(|e| {
            ConfigError::Invalid(format!("deleteWhen={:?}: expected {e}", self.delete_when))
        })?;
        if self.disk_max_used_space_ratio == 0 || self.disk_max_used_space_ratio > 95 {
            return Err(ConfigError::Invalid(format!(
                "diskMaxUsedSpaceRatio={} must be 1..=95",
                self.disk_max_used_space_ratio
            )));
        }
        if self.ha_transfer_batch_size < 4096
            || self.ha_transfer_batch_size as usize
                > crate::broker::replication::wire::MAX_HA_FRAME_BYTES / 2
        {
            return Err(ConfigError::Invalid(format!(
                "haTransferBatchSize={} must be between 4096 and {}",
                self.ha_transfer_batch_size,
                crate::broker::replication::wire::MAX_HA_FRAME_BYTES / 2
            )));
        }
        let max_entries = crate::store::message_index::MAX_INDEX_BUFFER_ENTRIES;
        if self.message_index_buffer_entries == 0
            || self.message_index_buffer_entries as usize > max_entries
        {
            return Err(ConfigError::Invalid(format!(
                "messageIndexBufferEntries={} must be 1..={max_entries}",
                self.message_index_buffer_entries
            )));
        }
        if self.access_message_in_memory_max_ratio > 100 {
            return Err(ConfigError::Invalid(format!(
                "accessMessageInMemoryMaxRatio={} must be 0..=100",
                self.access_message_in_memory_max_ratio
            )));
        }
        use crate::broker::grpc::receive::{MAX_INVISIBLE_MS, MIN_INVISIBLE_MS};
        let lease = self.default_invisible_time_mills;
        if !(MIN_INVISIBLE_MS as u64..=MAX_INVISIBLE_MS as u64).contains(&lease) {
            return Err(ConfigError::Invalid(format!(
                "defaultInvisibleTimeMills={lease} must be {MIN_INVISIBLE_MS}..={MAX_INVISIBLE_MS}"
            )));
        }
        if self.renew_ahead_time_millis >= lease {
            return Err(ConfigError::Invalid(format!(
                "renewAheadTimeMillis={} must be below defaultInvisibleTimeMills={lease}",
                self.renew_ahead_time_millis
            )));
        }
        // A lease must not run out between two scans.
        if self.renew_schedule_period_millis < 100
            || self.renew_schedule_period_millis >= self.renew_ahead_time_millis
        {
            return Err(ConfigError::Invalid(format!(
                "renewSchedulePeriodMillis={} must be at least 100 and below renewAheadTimeMillis={}",
                self.renew_schedule_period_millis, self.renew_ahead_time_millis
            )));
        }
        if !self.ha_master_address.is_empty()
            && self
                .ha_master_address
                .parse::<std::net::SocketAddr>()
                .is_err()
        {
            return Err(ConfigError::Invalid(format!(
                "haMasterAddress={:?} is not ip:port",
                self.ha_master_address
            )));
        }
        if self.transaction_check_interval < MIN_TRANSACTION_CHECK_INTERVAL_MS {
            return Err(ConfigError::Invalid(format!(
                "transactionCheckInterval={} must be at least {MIN_TRANSACTION_CHECK_INTERVAL_MS} ms",
                self.transaction_check_interval
            )));
        }
        if self.listen_port < 3 {
            return Err(ConfigError::Invalid(
                "listenPort must be at least 3 (the VIP port is listenPort-2)".into(),
            ));
        }
        Ok(())
    }
}

/// The listenPort that the fixed defaults of metricsPort and grpcServerPort go with.
pub const DEFAULT_LISTEN_PORT: u16 = 10911;

impl BrokerConfig {
    /// The replication port: haListenPort, or listenPort + 1.
    pub fn ha_port(&self) -> u16 {
        if self.ha_listen_port == 0 {
            self.listen_port.saturating_add(1)
        } else {
            self.ha_listen_port
        }
    }
}

/// Shortest transactionCheckInterval: check-backs are a background chore, never a spin.
pub const MIN_TRANSACTION_CHECK_INTERVAL_MS: u64 = 100;

impl Config for BrokerConfig {
    fn set_key(&mut self, key: &str, value: &str) -> Result<bool, (&'static str, String)> {
        self.set(key, value)
    }

    /// A second broker on a host sets listenPort (and its store) only: its metrics and
    /// gRPC ports move with it, as the HA and VIP ports do, so the two never share one.
    fn derive_defaults(&mut self, explicit: &dyn Fn(&str) -> bool) {
        let shift = i32::from(self.listen_port) - i32::from(DEFAULT_LISTEN_PORT);
        for (key, port) in [
            ("metricsPort", &mut self.metrics_port),
            ("grpcServerPort", &mut self.grpc_server_port),
        ] {
            if explicit(key) || *port == 0 {
                continue;
            }
            if let Ok(p) = u16::try_from(i32::from(*port) + shift) {
                if p > 0 {
                    *port = p;
                }
            }
        }
    }
    fn inert_keys() -> &'static [&'static str] {
        &[
            "rocketmqHome",
            "sendMessageThreadPoolNums",
            "pullMessageThreadPoolNums",
            "queryMessageThreadPoolNums",
            "adminBrokerThreadPoolNums",
            "clientManageThreadPoolNums",
            "consumerManageThreadPoolNums",
            "heartbeatThreadPoolNums",
            "endTransactionThreadPoolNums",
            "transientStorePoolEnable",
            "transientStorePoolSize",
            "warmMapedFileEnable",
            "flushCommitLogLeastPages",
            "flushConsumeQueueLeastPages",
            "useReentrantLockWhenPutMessage",
            "osPageCacheBusyTimeOutMills",
            "serverWorkerThreads",
            "serverSelectorThreads",
            "serverCallbackExecutorThreads",
            "storePathConsumeQueue",
            "storePathIndex",
            "storeCheckpoint",
            "abortFile",
            "mapedFileSizeCommitLog",
            "mapedFileSizeConsumeQueue",
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load;

    #[test]
    fn a_second_broker_on_a_host_moves_its_metrics_and_grpc_ports_with_listen_port() {
        let dir = tempfile::tempdir().unwrap();
        let load_text = |text: &str| {
            let p = dir.path().join("b.properties");
            std::fs::write(&p, text).unwrap();
            load::<BrokerConfig>(Some(&p)).unwrap().0
        };
        let c = load_text("brokerId=0\n");
        assert_eq!((c.metrics_port, c.grpc_server_port), (5557, 8081));
        let c = load_text("listenPort=10921\nstorePathRootDir=/tmp/x\n");
        assert_eq!((c.metrics_port, c.grpc_server_port), (5567, 8091));
        let c = load_text("listenPort=10921\nmetricsPort=6000\ngrpcServerPort=0\n");
        assert_eq!(
            (c.metrics_port, c.grpc_server_port),
            (6000, 0),
            "set keys are kept"
        );
        let c = load_text("listenPort=1000\n");
        assert_eq!(
            (c.metrics_port, c.grpc_server_port),
            (5557, 8081),
            "a shift below port 1 keeps the default"
        );
    }

    #[test]
    fn rocketmq_conf_files_load_and_checks_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("broker-a-s.properties");
        std::fs::write(
            &p,
            "brokerClusterName=DefaultCluster\nbrokerName=broker-a\nbrokerId=1\ndeleteWhen=04\nfileReservedTime=48\nbrokerRole=SLAVE\nflushDiskType=ASYNC_FLUSH\n",
        )
        .unwrap();
        let (mut c, warnings) = load::<BrokerConfig>(Some(&p)).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(c.broker_role, BrokerRole::Slave);
        assert_eq!(c.file_reserved_time, 48);
        c.validate().unwrap();
        c.broker_id = 0;
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "Slave's brokerId must be > 0"
        );

        std::fs::write(&p, "brokerRole=MASTER\n").unwrap();
        let err = load::<BrokerConfig>(Some(&p)).unwrap_err().to_string();
        assert!(
            err.contains("brokerRole") && err.contains("ASYNC_MASTER"),
            "{err}"
        );

        let mut c = BrokerConfig {
            broker_role: BrokerRole::SyncMaster,
            broker_id: 3,
            ..BrokerConfig::default()
        };
        c.validate().unwrap();
        assert_eq!(c.broker_id, 0, "a master's brokerId is forced to 0");
        c.delete_when = "4;25".into();
        assert!(c.validate().unwrap_err().to_string().contains("deleteWhen"));
    }

    #[test]
    fn lease_renewal_settings_that_cannot_work_are_refused_by_key() {
        let check = |f: fn(&mut BrokerConfig)| {
            let mut c = BrokerConfig::default();
            f(&mut c);
            c.validate().err().map(|e| e.to_string())
        };
        assert_eq!(check(|_| {}), None, "the proxy's defaults are valid");
        let e = check(|c| c.default_invisible_time_mills = 500).unwrap();
        assert!(e.starts_with("defaultInvisibleTimeMills=500"), "{e}");
        let e = check(|c| c.renew_ahead_time_millis = 60_000).unwrap();
        assert!(e.starts_with("renewAheadTimeMillis=60000"), "{e}");
        let e = check(|c| c.renew_schedule_period_millis = 10_000).unwrap();
        assert!(e.starts_with("renewSchedulePeriodMillis=10000"), "{e}");
        let e = check(|c| c.renew_schedule_period_millis = 50).unwrap();
        assert!(e.starts_with("renewSchedulePeriodMillis=50"), "{e}");
    }

    #[test]
    fn defaults_match_rocketmq() {
        let c = BrokerConfig::default();
        let e = c.entries();
        for (k, v) in [
            ("brokerClusterName", "DefaultCluster"),
            ("listenPort", "10911"),
            ("brokerRole", "ASYNC_MASTER"),
            ("flushDiskType", "ASYNC_FLUSH"),
            ("deleteWhen", "04"),
            ("fileReservedTime", "72"),
            ("diskMaxUsedSpaceRatio", "75"),
            ("maxMessageSize", "4194304"),
            ("defaultTopicQueueNums", "8"),
            ("mappedFileSizeConsumeQueue", "6000000"),
        ] {
            assert!(e.contains(&(k, v.to_string())), "{k}");
        }
    }
}

#[cfg(test)]
mod conf_sets {
    use super::*;
    use crate::config::load;

    /// Every file of the shipped conf/ sets loads without warnings and passes the checks.
    #[test]
    fn shipped_conf_sets_load() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
        let mut n = 0;
        for set in ["2m-noslave", "2m-2s-sync", "2m-2s-async"] {
            for entry in std::fs::read_dir(root.join(set)).unwrap() {
                let path = entry.unwrap().path();
                let (mut c, warnings) = load::<BrokerConfig>(Some(&path)).unwrap();
                assert!(warnings.is_empty(), "{}: {warnings:?}", path.display());
                c.validate().unwrap();
                let slave = path.to_string_lossy().ends_with("-s.properties");
                assert_eq!(
                    c.broker_role == BrokerRole::Slave,
                    slave,
                    "{}",
                    path.display()
                );
                assert_eq!(c.file_reserved_time, 48);
                n += 1;
            }
        }
        assert_eq!(n, 2 + 4 + 4);
    }
}
