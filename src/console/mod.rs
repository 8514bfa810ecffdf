//! `coremq console`: the web console operators run rocketmq-console/dashboard for —
//! cluster, topics, consumer groups, messages and producers — in the same binary.
//!
//! One unpinned glommio executor serves HTTP/1.1 (hyper, which runs on any executor) and
//! talks to the cluster through the same RocketMQ admin client `coremq admin` uses, so the
//! console works against Apache RocketMQ's brokers too. Everything is on one thread: the
//! session table and the sampled history are plain `RefCell`s, and a page's admin calls
//! run one after another. A console serves people, a few requests a second; the brokers'
//! hot paths never see it. Pages are rendered on the server; the only script is a
//! confirmation before deletes, and every asset is compiled into the binary.

mod auth;
pub(crate) mod html;
mod pages;
mod routes;
mod sampler;
mod server;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

pub use auth::Users;

use crate::client::admin::AdminClient;
use crate::client::producer::Producer;
use crate::client::rpc::DEFAULT_TIMEOUT_MS;

/// rocketmq-console's port.
pub const DEFAULT_PORT: u16 = 8080;
/// Default time between two samples of the charts.
pub const DEFAULT_SAMPLE_INTERVAL_MS: u64 = 5_000;
/// The producer group of the console's test messages (rocketmq-console's).
pub const TEST_PRODUCER_GROUP: &str = "CONSOLE_TEST_PRODUCER";

/// What `coremq console` was asked to run.
pub struct ConsoleOptions {
    /// Nameservers of the clusters to show.
    pub namesrv: Vec<SocketAddr>,
    /// Address to serve HTTP on.
    pub bind: SocketAddr,
    /// Hide and refuse every action.
    pub read_only: bool,
    /// Who may log in (empty: no login).
    pub users: Users,
    /// Time between two samples of the charts.
    pub sample_interval: Duration,
    /// ACL keys every request is signed with.
    pub credentials: Option<crate::protocol::acl_signature::Credentials>,
}

/// The console's state; lives on its one executor thread.
pub struct Console {
    admin: AdminClient,
    read_only: bool,
    users: Users,
    sessions: RefCell<auth::Sessions>,
    history: RefCell<sampler::History>,
    producer: RefCell<Option<Rc<Producer>>>,
}

impl Console {
    /// The producer of test messages, made at first use.
    fn producer(&self) -> Result<Rc<Producer>, crate::client::ClientError> {
        if let Some(p) = self.producer.borrow().as_ref() {
            return Ok(p.clone());
        }
        let p = Rc::new(
            Producer::new(
                TEST_PRODUCER_GROUP,
                self.admin.namesrv().to_vec(),
                Duration::from_millis(DEFAULT_TIMEOUT_MS),
            )?
            .with_credentials(self.admin.credentials()),
        );
        *self.producer.borrow_mut() = Some(p.clone());
        Ok(p)
    }
}

/// Serves the console until the process is stopped; prints its URL once listening.
pub async fn run(opts: ConsoleOptions) -> Result<(), String> {
    let admin = AdminClient::new(opts.namesrv)
        .map_err(|e| e.to_string())?
        .with_credentials(opts.credentials);
    // SO_REUSEADDR: a console restarted within a minute of closing browser connections
    // finds the port in TIME_WAIT.
    let listener = crate::remoting::server::bind_socket(opts.bind, false)
        .map(crate::remoting::server::into_listener)
        .map_err(|e| format!("console: cannot listen on {}: {e}", opts.bind))?;
    let local = listener.local_addr().map_err(|e| format!("console: {e}"))?;
    let console = Rc::new(Console {
        admin,
        read_only: opts.read_only,
        users: opts.users,
        sessions: RefCell::default(),
        history: RefCell::new(sampler::History::new(opts.sample_interval)),
        producer: RefCell::default(),
    });
    glommio::spawn_local(sampler::run(console.clone(), opts.sample_interval)).detach();
    let mode = match (console.read_only, console.users.required()) {
        (true, true) => " (read-only, login required)",
        (true, false) => " (read-only)",
        (false, true) => " (login required)",
        (false, false) => "",
    };
    tracing::info!("console listening on {local}{mode}");
    crate::stdout::server_line(&format!("The console is at http://{local}/{mode}"));
    server::serve(console, listener).await;
    Ok(())
}
