//! Helpers for the compatibility tests in tests/: the real `coremq` binary as child
//! processes on free loopback ports, and the third-party client's runtime.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use rocketmq_client_rust::{
    ClientConfig, ClientResult, ClientRuntime, ClientRuntimeConfig, ConsumeConcurrentlyContext,
    ConsumeConcurrentlyStatus, DefaultMQProducer, DefaultMQPushConsumer,
    MessageListenerConcurrently, TelemetryHandle,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};

/// The workspace's `coremq` binary, next to the test's `deps/` directory (or COREMQ_BIN).
pub fn coremq_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("COREMQ_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("coremq");
    assert!(
        bin.exists(),
        "{} not built: run `cargo build --release` (or set COREMQ_BIN)",
        bin.display()
    );
    bin
}

#[path = "../../common/ports.rs"]
mod ports;
#[path = "../../common/start_failure.rs"]
mod start_failure;

pub use ports::{free_broker_port, free_port};

/// A child process, killed when dropped.
pub struct Proc {
    /// The process.
    pub child: Child,
}

impl Proc {
    /// Kills it with SIGKILL and waits.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit status (at most 30 s).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "process did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Spawns `cmd` (HOME = `home`) and waits ≤ 30 s for a stdout line containing `needle`.
pub fn spawn_until(cmd: &mut Command, home: &Path, needle: &str) -> Proc {
    let mut child = cmd
        .env("HOME", home)
        .env_remove("RUST_LOG")
        .env_remove("NAMESRV_ADDR")
        .stdout(Stdio::piped())
        .stderr(
            std::fs::File::create(home.join("stderr.log"))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        )
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if line.contains(needle) => return Proc { child },
            Ok(_) => continue,
            Err(_) => panic!(
                "{cmd:?} did not print {needle:?} within 30 s: {}",
                start_failure::report(&mut child, home)
            ),
        }
    }
}

/// A nameserver and a broker, as separate processes, in one temp dir.
pub struct Cluster {
    /// `127.0.0.1:port` of the nameserver.
    pub namesrv_addr: String,
    /// The broker's main port.
    pub broker_port: u16,
    /// The broker's property file (restarts reuse it).
    pub broker_conf: PathBuf,
    /// Nameserver process.
    pub namesrv: Proc,
    /// Broker process (`None` after a kill).
    pub broker: Option<Proc>,
    /// Temp dir holding store, logs and configs.
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `coremq namesrv` and `coremq broker` with `extra` broker properties.
    pub fn start(extra: &str) -> Cluster {
        Self::start_prepared(extra, |_| {})
    }

    /// Like [`Cluster::start`], letting `prepare` write files (plain_acl.yml) into the
    /// directory of the broker's property file before the broker starts.
    pub fn start_prepared(extra: &str, prepare: impl FnOnce(&Path)) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path());
        let ns_port = free_port();
        let ns_conf = dir.path().join("namesrv.properties");
        std::fs::write(
            &ns_conf,
            format!(
                "listenPort={ns_port}\nbindAddress=127.0.0.1\nkvConfigPath={0}/kv.json\nlogDir={0}/logs\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let namesrv = spawn_until(
            Command::new(coremq_bin())
                .args(["namesrv", "-c"])
                .arg(&ns_conf),
            dir.path(),
            "boot success",
        );
        let broker_port = free_broker_port();
        let broker_conf = dir.path().join("broker.properties");
        std::fs::write(
            &broker_conf,
            format!(
                "brokerName=broker-a\nbrokerIP1=127.0.0.1\nlistenPort={broker_port}\nstorePathRootDir={0}/store\nlogDir={0}/logs\nioMemoryBytesPerShard=262144\nmetricsPort=0\ngrpcServerPort=0\n{extra}\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let mut c = Cluster {
            namesrv_addr: format!("127.0.0.1:{ns_port}"),
            broker_port,
            broker_conf,
            namesrv,
            broker: None,
            dir,
        };
        c.start_broker();
        c
    }

    /// (Re)starts the broker on the same store.
    pub fn start_broker(&mut self) {
        self.broker = Some(spawn_until(
            Command::new(coremq_bin())
                .args(["broker", "-c"])
                .arg(&self.broker_conf)
                .args(["-n", &self.namesrv_addr]),
            self.dir.path(),
            "boot success",
        ));
    }
}

/// Consume calls the client may queue on its blocking lane. rocketmq-client-rust runs each
/// listener call there, and its default depth on a 2-core host (16) is exceeded when a
/// consumer catches up on a backlog (4 queues × 32 messages at once): a call that finds the
/// lane full counts as RECONSUME_LATER, so the message is sent back to the master's retry
/// delay levels and arrives 10 s later (or, with the master dead, only once it returns).
/// That is the client's own back-pressure, not what these tests look at.
const CLIENT_CONSUME_QUEUE_DEPTH: usize = 4096;

static OWNER: LazyLock<RuntimeOwner> = LazyLock::new(|| {
    let mut cfg = RuntimeConfig {
        thread_name: "compat-client".to_string(),
        ..Default::default()
    };
    cfg.blocking_lane_policies.metadata_io.max_queue_depth = CLIENT_CONSUME_QUEUE_DEPTH;
    RuntimeOwner::plan(cfg)
        .expect("valid runtime config")
        .build()
        .expect("runtime owner")
});

/// A client runtime for the third-party client.
pub fn client_runtime(scope: &'static str) -> Arc<ClientRuntime> {
    ClientRuntime::try_new(
        OWNER.root_context().component(scope),
        ClientRuntimeConfig::default(),
        TelemetryHandle::noop(),
    )
    .expect("client runtime")
}

/// A started producer of `group` (instance `<group>-p`, 5 s send timeout).
pub async fn started_producer(ns: &str, group: &str) -> DefaultMQProducer {
    let mut p = DefaultMQProducer::builder(client_runtime("producer"))
        .client_config(client_config(ns, &format!("{group}-p")))
        .producer_group(group.to_string())
        .name_server_addr(ns.to_string())
        .send_msg_timeout(5_000)
        .build();
    p.start().await.expect("producer start");
    p
}

/// A push consumer of `group` as client instance `instance`, starting at `from` when the
/// group has no offset; the caller subscribes, registers a listener and starts it.
pub fn push_consumer(
    ns: &str,
    group: &str,
    instance: &str,
    from: ConsumeFromWhere,
) -> DefaultMQPushConsumer {
    DefaultMQPushConsumer::builder(client_runtime("consumer"))
        .client_config(client_config(ns, instance))
        .consumer_group(group.to_string())
        .name_server_addr(ns.to_string())
        .consume_from_where(from)
        .build()
}

/// One request over a fresh connection with coremq's own codec (for checks the third-party
/// client has no call for).
pub fn raw_call(
    addr: &str,
    code: i32,
    ext: &[(&str, &str)],
    body: Vec<u8>,
) -> coremq::protocol::RemotingCommand {
    use std::io::{Read, Write};
    let mut e = coremq::protocol::ExtFields::new();
    for (k, v) in ext {
        e.insert(*k, *v);
    }
    let mut req = coremq::protocol::RemotingCommand::request(code, e).with_body(body);
    req.opaque = 7;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(&coremq::protocol::frame::encode_to_vec(&req))
        .unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut rest = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut rest).unwrap();
    let mut whole = bytes_mut(&len, &rest);
    coremq::protocol::frame::decode(&mut whole)
        .unwrap()
        .unwrap()
}

fn bytes_mut(a: &[u8], b: &[u8]) -> bytes::BytesMut {
    let mut m = bytes::BytesMut::with_capacity(a.len() + b.len());
    m.extend_from_slice(a);
    m.extend_from_slice(b);
    m
}

/// What a listener saw: (body, tag, queue id) per delivery, in order.
pub type Seen = Arc<Mutex<Vec<(String, String, i32)>>>;

/// A concurrent listener recording every delivery.
pub struct Record(pub Seen);

impl MessageListenerConcurrently for Record {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _ctx: &ConsumeConcurrentlyContext,
    ) -> ClientResult<ConsumeConcurrentlyStatus> {
        let mut seen = self.0.lock().unwrap();
        for m in msgs {
            seen.push(delivery(m));
        }
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}

/// (body, tag, queue id) of a delivered message.
pub fn delivery(m: &MessageExt) -> (String, String, i32) {
    let body = m
        .body()
        .map(|b: bytes::Bytes| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let tag = m.get_tags().map(|t| t.to_string()).unwrap_or_default();
    (body, tag, m.queue_id())
}

/// A client config for nameservers `ns` and an instance name.
pub fn client_config(ns: &str, instance: &str) -> ClientConfig {
    ClientConfig {
        namesrv_addr: Some(ns.to_string().into()),
        instance_name: instance.to_string().into(),
        ..Default::default()
    }
}
