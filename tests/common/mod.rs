//! Shared helpers for integration tests: free loopback ports, the real `coremq` binary as a
//! child process, and a small blocking remoting client built on coremq's codec.

#![allow(dead_code)]

pub mod loopfs;
pub mod ports;
pub mod start_failure;

pub use ports::{free_broker_port, free_port};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use coremq::protocol::{frame, ExtFields, RemotingCommand};

/// Path of the built `coremq` binary.
pub fn coremq_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_coremq"))
}

/// A child process killed when dropped.
pub struct ChildGuard {
    pub child: Child,
    pub first_line: String,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `coremq namesrv` in its own temp dir.
pub struct NamesrvProc {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub guard: ChildGuard,
}

/// Starts `coremq namesrv` with `extra` property lines, on a free port, and waits for its
/// boot line.
pub fn start_namesrv(extra: &str) -> NamesrvProc {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("namesrv.properties");
    std::fs::write(
        &conf,
        format!(
            "listenPort={port}\nbindAddress=127.0.0.1\nkvConfigPath={}\nlogDir={}\n{extra}\n",
            dir.path().join("kv/kvConfig.json").display(),
            dir.path().join("logs").display()
        ),
    )
    .unwrap();
    let guard = spawn_until_line(
        Command::new(coremq_bin())
            .args(["namesrv", "-c"])
            .arg(&conf),
        dir.path(),
        "boot success",
    );
    NamesrvProc {
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
        dir,
        guard,
    }
}

/// Spawns `cmd` with HOME in `home` and waits (≤ 20 s) for a stdout line containing `needle`.
pub fn spawn_until_line(cmd: &mut Command, home: &Path, needle: &str) -> ChildGuard {
    let mut child = cmd
        .env("HOME", home)
        // The level is the conf's; TEST_CHILD_RUST_LOG, when set, is the child's RUST_LOG
        // (to see a failing test's processes at debug level).
        .env_remove("RUST_LOG")
        .envs(std::env::var("TEST_CHILD_RUST_LOG").map(|v| ("RUST_LOG", v)))
        .stdout(Stdio::piped())
        .stderr(
            std::fs::File::create(home.join("stderr.log"))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        )
        .spawn()
        .unwrap();
    let rx = stdout_lines(&mut child);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => {
                return ChildGuard {
                    child,
                    first_line: line,
                }
            }
            Ok(_) => continue,
            Err(_) => panic!(
                "{cmd:?} did not print {needle:?} within 20 s: {}",
                start_failure::report(&mut child, home)
            ),
        }
    }
}

/// Forwards the lines `child` prints on its (piped) stdout to a channel, from a thread of
/// its own.
pub fn stdout_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// Starts `coremq consume -n NS -t TOPIC -g GROUP EXTRA...` with HOME in `home` and waits
/// (≤ 30 s) for its start line; its stdout lines come through the channel.
pub fn start_consume(
    ns: &str,
    topic: &str,
    group: &str,
    extra: &[&str],
    home: &Path,
) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(coremq_bin())
        .args(["consume", "-n", ns, "-t", topic, "-g", group])
        .args(extra)
        .env("HOME", home)
        .env_remove("NAMESRV_ADDR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = stdout_lines(&mut child);
    let started = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the consumer starts");
    assert!(started.contains("Consumer Started"), "{started}");
    (child, rx)
}

/// A blocking remoting client for tests.
pub struct RawClient {
    stream: TcpStream,
    buf: BytesMut,
    next_opaque: i32,
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        RawClient {
            stream,
            buf: BytesMut::new(),
            next_opaque: 1,
        }
    }

    /// How long a read waits before failing the test (10 s unless changed).
    pub fn set_read_timeout(&self, limit: Duration) {
        self.stream.set_read_timeout(Some(limit)).unwrap();
    }

    /// Closes both directions now.
    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends a request and reads frames until its response.
    pub fn call(&mut self, mut cmd: RemotingCommand) -> RemotingCommand {
        cmd.opaque = self.next_opaque;
        self.next_opaque += 1;
        self.send_raw(&frame::encode_to_vec(&cmd));
        loop {
            let got = self
                .read_frame()
                .expect("connection closed before the response");
            if got.is_response() && got.opaque == cmd.opaque {
                return got;
            }
        }
    }

    /// Convenience: request with ext pairs and body.
    pub fn call_with(&mut self, code: i32, ext: &[(&str, &str)], body: Vec<u8>) -> RemotingCommand {
        let mut e = ExtFields::new();
        for (k, v) in ext {
            e.insert(*k, *v);
        }
        self.call(RemotingCommand::request(code, e).with_body(body))
    }

    /// Reads one frame; `None` when the peer closed.
    pub fn read_frame(&mut self) -> Option<RemotingCommand> {
        loop {
            if let Some(cmd) = frame::decode(&mut self.buf).unwrap() {
                return Some(cmd);
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                // A signal (a child exiting) interrupted the read: read again.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => panic!("read: {e}"),
            }
        }
    }
}

/// Polls `f` every 50 ms until it returns true, failing after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads offsets `0..n` of a queue, asserting every one is found, 32 records per read.
pub async fn read_records(
    store: &coremq::store::ShardStore,
    topic: &str,
    qid: i32,
    n: u64,
) -> Vec<bytes::Bytes> {
    use coremq::store::{GetStatus, ReadLimits};
    let limits = ReadLimits {
        max_msgs: 32,
        max_bytes: 1 << 20,
    };
    let mut out = Vec::new();
    while (out.len() as u64) < n {
        let at = out.len() as u64;
        let r = store.read(topic, qid, at, limits, |_| true).await.unwrap();
        assert_eq!(
            r.status,
            GetStatus::Found,
            "{topic}/{qid} offset {at} of {n}"
        );
        out.extend(r.records);
    }
    out
}

/// A running `coremq broker` in its own temp dir.
pub struct BrokerProc {
    pub addr: SocketAddr,
    pub conf: PathBuf,
    pub dir: tempfile::TempDir,
    pub guard: ChildGuard,
}

/// Writes a broker property file for a loopback broker under `dir`.
pub fn broker_conf(dir: &Path, port: u16, extra: &str) -> PathBuf {
    let conf = dir.join("broker.properties");
    std::fs::write(
        &conf,
        format!(
            "brokerName=broker-a\nbrokerIP1=127.0.0.1\nlistenPort={port}\nstorePathRootDir={0}/store\nlogDir={0}/logs\nshardCount=2\nioMemoryBytesPerShard=262144\nmetricsPort=0\ngrpcServerPort=0\n{extra}\n",
            dir.display()
        ),
    )
    .unwrap();
    conf
}

/// Starts `coremq broker` registered with `namesrv` (or none) and waits for its boot line.
pub fn start_broker(namesrv: Option<SocketAddr>, extra: &str) -> BrokerProc {
    let dir = tempfile::tempdir().unwrap();
    let port = free_broker_port();
    let conf = broker_conf(dir.path(), port, extra);
    let guard = restart_broker(&conf, dir.path(), namesrv);
    BrokerProc {
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
        conf,
        dir,
        guard,
    }
}

/// Starts a broker from an existing property file (restarts on the same store).
pub fn restart_broker(conf: &Path, home: &Path, namesrv: Option<SocketAddr>) -> ChildGuard {
    let mut cmd = Command::new(coremq_bin());
    cmd.args(["broker", "-c"]).arg(conf);
    if let Some(ns) = namesrv {
        cmd.args(["-n", &ns.to_string()]);
    }
    spawn_until_line(cmd.env_remove("NAMESRV_ADDR"), home, "boot success")
}

/// Sends SIGTERM and waits (≤ 30 s) for the exit status.
pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "no exit within 30 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running `coremq standalone` (nameserver + broker in one process).
pub struct Standalone {
    /// Nameserver `ip:port`.
    pub ns: String,
    /// Broker `ip:port`.
    pub broker: String,
    pub dir: tempfile::TempDir,
    pub guard: ChildGuard,
}

/// Starts `coremq standalone` on free ports with `extra` broker properties.
pub fn standalone_with(extra: &str) -> Standalone {
    standalone_prepared(extra, |_| {})
}

/// Like [`standalone_with`], letting `prepare` write files (plain_acl.yml) into the
/// directory of the property file first.
pub fn standalone_prepared(extra: &str, prepare: impl FnOnce(&Path)) -> Standalone {
    let dir = tempfile::tempdir().unwrap();
    let port = free_broker_port();
    let ns_port = free_port();
    let conf = broker_conf(dir.path(), port, extra);
    prepare(dir.path());
    let guard = spawn_until_line(
        Command::new(coremq_bin())
            .args(["standalone", "--namesrv-port", &ns_port.to_string(), "-c"])
            .arg(&conf),
        dir.path(),
        "The broker[",
    );
    Standalone {
        ns: format!("127.0.0.1:{ns_port}"),
        broker: format!("127.0.0.1:{port}"),
        dir,
        guard,
    }
}

/// `coremq standalone` on test defaults.
pub fn standalone() -> Standalone {
    standalone_with("")
}

/// SEND_MESSAGE (10) of one message with a tag and key, as producers send it.
pub fn raw_send(
    c: &mut RawClient,
    topic: &str,
    qid: i32,
    body: &[u8],
    tag: &str,
) -> RemotingCommand {
    let props = format!("TAGS\u{1}{tag}\u{2}KEYS\u{1}k1\u{2}WAIT\u{1}true");
    c.call(send_command("pg", topic, qid, body, &props))
}

/// A SEND_MESSAGE (10) request of one message from producer group `group` with encoded
/// `properties`, not yet sent (callers pipelining sends set the opaque).
pub fn send_command(
    group: &str,
    topic: &str,
    qid: i32,
    body: &[u8],
    properties: &str,
) -> RemotingCommand {
    let mut ext = ExtFields::new();
    for (k, v) in [
        ("producerGroup", group),
        ("topic", topic),
        ("defaultTopic", "TBW102"),
        ("defaultTopicQueueNums", "4"),
        ("queueId", &qid.to_string()),
        ("sysFlag", "0"),
        ("bornTimestamp", "1700000000000"),
        ("flag", "0"),
        ("properties", properties),
    ] {
        ext.insert(k, v);
    }
    RemotingCommand::request(10, ext).with_body(body.to_vec())
}

/// PULL_MESSAGE (11) of up to 32 messages.
pub fn raw_pull(
    c: &mut RawClient,
    group: &str,
    topic: &str,
    qid: i32,
    offset: i64,
    sys_flag: i32,
    suspend_ms: u64,
) -> RemotingCommand {
    c.call_with(
        11,
        &[
            ("consumerGroup", group),
            ("topic", topic),
            ("queueId", &qid.to_string()),
            ("queueOffset", &offset.to_string()),
            ("maxMsgNums", "32"),
            ("sysFlag", &sys_flag.to_string()),
            ("commitOffset", "0"),
            ("suspendTimeoutMillis", &suspend_ms.to_string()),
            ("subVersion", "0"),
        ],
        Vec::new(),
    )
}

/// Runs `f` on a glommio executor of its own and returns its output.
pub fn on_executor<T, Fut>(f: impl FnOnce() -> Fut + Send + 'static) -> T
where
    T: Send + 'static,
    Fut: std::future::Future<Output = T> + 'static,
{
    coremq::runtime::run_unpinned("test", coremq::runtime::NETWORK_ONLY_IO_MEMORY_BYTES, f).unwrap()
}

/// Polls `f` every 50 ms for up to `limit_s` seconds.
pub async fn until(limit_s: u64, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(limit_s);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        glommio::timer::sleep(Duration::from_millis(50)).await;
    }
}

/// `coremq admin updateTopic` of `topic` with `queues` read and write queues on `broker`.
pub fn update_topic(ns: &str, broker: &str, topic: &str, queues: u32) {
    let n = queues.to_string();
    let out = Command::new(coremq_bin())
        .args(["admin", "updateTopic", "-n", ns, "-b", broker, "-t", topic])
        .args(["-r", &n, "-w", &n])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// Runs `coremq admin ARGS -n NS`; (exit code, stdout, stderr).
pub fn admin(ns: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(coremq_bin())
        .arg("admin")
        .args(args)
        .args(["-n", ns])
        .env_remove("NAMESRV_ADDR")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A `/proc/PID/status` size field (`VmRSS`, `VmHWM`) of a live process, in bytes.
pub fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{field} in {status}"))
        * 1024
}

/// The text of a `/metrics` scrape on `port`.
pub fn scrape_metrics(port: u16) -> String {
    ureq::get(&format!("http://127.0.0.1:{port}/metrics"))
        .timeout(Duration::from_secs(10))
        .call()
        .unwrap()
        .into_string()
        .unwrap()
}

/// xorshift64*: small, seeded randomness for kill timing and input mutation, reproducible
/// from a printed seed (which must not be 0).
pub struct Rng(pub u64);

impl Rng {
    /// The next value.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}
