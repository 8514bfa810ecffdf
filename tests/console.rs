//! `coremq console` in a real browser: headless Chromium driven through chromedriver
//! (WebDriver), against a real standalone. Every page opens; a topic is created through the
//! form and seen by `coremq admin`; a test message is sent and found by key and by id; a
//! consumer drains its group's lag and a reset brings it back; a topic is deleted after its
//! name is typed; bad input changes nothing; a read-only console shows no action and a
//! wrong password is refused.
//!
//! Chromium and chromedriver come from Debian (`chromium`, `chromium-driver`); `.ci/run`
//! installs them and sets COREMQ_REQUIRE_BROWSER=1 so a missing browser fails there. A
//! screenshot of each page is saved under `target/tmp/console-screenshots/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{admin, free_port, spawn_until_line, standalone, ChildGuard, Standalone};
use fantoccini::{Client, ClientBuilder, Locator};

/// Longest wait for something a page should come to show.
const PAGE_WAIT: Duration = Duration::from_secs(40);
/// Messages the consumer part sends before its consumer starts.
const BACKLOG_MESSAGES: usize = 20;

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// (chromium, chromedriver), or None (the test is skipped unless the browser is required).
fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = std::env::var_os("COREMQ_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| on_path(&["chromium", "chromium-browser", "google-chrome"]));
    let driver = std::env::var_os("COREMQ_CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| on_path(&["chromedriver"]));
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        _ if std::env::var("COREMQ_REQUIRE_BROWSER").as_deref() == Ok("1") => {
            panic!("COREMQ_REQUIRE_BROWSER=1 but chromium or chromedriver is not on PATH")
        }
        _ => {
            eprintln!("skipped: chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
            None
        }
    }
}

/// A running `coremq console`.
struct ConsoleProc {
    url: String,
    log_dir: PathBuf,
    _guard: ChildGuard,
    _dir: tempfile::TempDir,
}

fn start_console(ns: &str, extra: &[&str]) -> ConsoleProc {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log_dir = dir.path().join("logs");
    let guard = spawn_until_line(
        Command::new(common::coremq_bin())
            .args(["console", "-n", ns, "--bind", "127.0.0.1"])
            .args(["--port", &port.to_string(), "--sample-interval-ms", "500"])
            .arg("--log-dir")
            .arg(&log_dir)
            .args(extra)
            .env_remove("NAMESRV_ADDR")
            .env_remove("COREMQ_CONSOLE_PASSWORD"),
        dir.path(),
        "The console is at",
    );
    assert!(
        guard
            .first_line
            .contains(&format!("http://127.0.0.1:{port}/")),
        "{}",
        guard.first_line
    );
    ConsoleProc {
        url: format!("http://127.0.0.1:{port}"),
        log_dir,
        _guard: guard,
        _dir: dir,
    }
}

/// chromedriver and a headless Chromium session through it.
struct Browser {
    client: Client,
    _driver: ChildGuard,
    _dir: tempfile::TempDir,
}

async fn open_browser(chromium: &Path, driver: &Path) -> Browser {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let guard = spawn_until_line(
        Command::new(driver).arg(format!("--port={port}")),
        dir.path(),
        "started successfully",
    );
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,1000",
                     format!("--user-data-dir={}", dir.path().join("profile").display())],
        }
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session through chromedriver");
    Browser {
        client,
        _driver: guard,
        _dir: dir,
    }
}

async fn text(c: &Client, css: &str) -> String {
    let at = c.current_url().await.map(|u| u.to_string());
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} not on {at:?}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn present(c: &Client, css: &str) -> bool {
    !c.find_all(Locator::Css(css)).await.unwrap().is_empty()
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits for the page the last action led to, and returns its flash text.
async fn flash(c: &Client, ok: bool) -> String {
    let css = if ok { "#flash-ok" } else { "#flash-error" };
    let e = c
        .wait()
        .at_most(PAGE_WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    e.text().await.unwrap()
}

/// Reloads `url` until `f` holds on its `css` element's text.
async fn wait_on_page(c: &Client, url: &str, css: &str, what: &str, f: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + PAGE_WAIT;
    loop {
        c.goto(url).await.unwrap();
        let found = match c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if f(&found) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {css} on {url} still shows {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn wait_for_path(c: &Client, path: &str) {
    let deadline = Instant::now() + PAGE_WAIT;
    while c.current_url().await.unwrap().path() != path {
        assert!(Instant::now() < deadline, "never reached {path}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn screenshot(c: &Client, name: &str) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// The value after `key=` in a SendResult line.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let at = line.find(&format!(" {key}=")).unwrap() + key.len() + 2;
    line[at..].split([',', ']']).next().unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn pages_and_actions_in_a_browser() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let sa: Standalone = standalone();
    let console = start_console(&sa.ns, &[]);
    runtime().block_on(async {
        let b = open_browser(&chromium, &driver).await;
        let c = &b.client;
        let u = |p: &str| format!("{}{p}", console.url);

        // Every page of the top bar opens and shows what it is for.
        c.goto(&u("/")).await.unwrap();
        assert_eq!(text(c, "h1").await, "Cluster");
        assert!(
            text(c, "#brokers").await.contains(&sa.broker),
            "the broker's row"
        );
        for (path, title, element) in [
            ("/topics", "Topics", "#topics"),
            ("/groups", "Consumer groups", "#groups"),
            ("/messages", "Messages", "#by-key"),
            ("/producers", "Producers", "#producers-form"),
        ] {
            c.find(Locator::LinkText(title))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            wait_for_path(c, path).await;
            assert_eq!(text(c, "h1").await, title);
            assert!(present(c, element).await, "{element} on {path}");
            screenshot(c, &path[1..]).await;
        }

        // Bad input is named and changes nothing.
        c.goto(&u("/topics")).await.unwrap();
        fill(c, "#topic", "bad name!").await;
        click(c, "#create-topic-submit").await;
        assert!(flash(c, false)
            .await
            .starts_with("topic: the specified topic[bad name!] contains illegal characters"));
        c.goto(&u("/topics")).await.unwrap();
        fill(c, "#topic", "ConsoleTopic").await;
        fill(c, "#read", "0").await;
        click(c, "#create-topic-submit").await;
        assert!(flash(c, false).await.starts_with("read queues: \"0\""));
        let (_, list, _) = admin(&sa.ns, &["topicList"]);
        assert!(
            !list.contains("ConsoleTopic"),
            "a refused form created nothing"
        );

        // Create a topic through the form: in the list, and in `coremq admin topicList`.
        c.goto(&u("/topics")).await.unwrap();
        fill(c, "#topic", "ConsoleTopic").await;
        fill(c, "#read", "4").await;
        fill(c, "#write", "4").await;
        c.find(Locator::Css("#target"))
            .await
            .unwrap()
            .select_by_value("cluster:DefaultCluster")
            .await
            .unwrap();
        click(c, "#create-topic-submit").await;
        let said = flash(c, true).await;
        assert!(
            said.contains(&format!(
                "create topic [ConsoleTopic] to {} success.",
                sa.broker
            )),
            "{said}"
        );
        assert!(text(c, "#topics").await.contains("ConsoleTopic"));
        let (code, list, _) = admin(&sa.ns, &["topicList"]);
        assert_eq!(code, 0);
        assert!(list.lines().any(|l| l == "ConsoleTopic"), "{list}");
        screenshot(c, "topics-created").await;

        // Send a test message and find it by key, by msgId and by offsetMsgId.
        c.goto(&u("/topic?name=ConsoleTopic")).await.unwrap();
        assert!(text(c, "#route").await.contains(&sa.broker));
        fill(c, "#tag", "TagC").await;
        fill(c, "#keys", "console-key-1").await;
        fill(c, "#body", "hello from the console").await;
        click(c, "#send-message-submit").await;
        let sent = flash(c, true).await;
        assert!(sent.starts_with("SendResult [sendStatus=SEND_OK"), "{sent}");
        let (msg_id, offset_id) = (
            field(&sent, "msgId").to_owned(),
            field(&sent, "offsetMsgId").to_owned(),
        );
        screenshot(c, "topic").await;

        c.goto(&u("/messages")).await.unwrap();
        fill(c, "#key-topic", "ConsoleTopic").await;
        fill(c, "#key", "console-key-1").await;
        click(c, "#by-key-submit").await;
        let found = c
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Css("#results"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            found.contains(&msg_id) && found.contains(&offset_id),
            "{found}"
        );
        assert_eq!(text(c, "#found").await, "1 message(s)");

        c.goto(&u("/messages")).await.unwrap();
        fill(c, "#id", &msg_id).await;
        fill(c, "#id-topic", "ConsoleTopic").await;
        click(c, "#by-id-submit").await;
        let body = c
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Css("#message-body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "hello from the console");
        assert!(text(c, "#message-fields").await.contains("console-key-1"));
        screenshot(c, "message").await;

        c.goto(&u("/messages")).await.unwrap();
        fill(c, "#id", &offset_id).await;
        click(c, "#by-id-submit").await;
        c.wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Css("#message-body"))
            .await
            .unwrap();
        assert!(text(c, "#message-fields").await.contains(&msg_id));

        // The console's own producer is live: the Producers page shows it.
        c.goto(&u(
            "/producers?group=CONSOLE_TEST_PRODUCER&topic=ConsoleTopic",
        ))
        .await
        .unwrap();
        assert!(text(c, "#producers").await.contains("@"), "a client id");

        // A consumer drains the backlog: its group's lag falls to 0.
        let (code, out, err) = {
            let o = Command::new(common::coremq_bin())
                .args(["produce", "-n", &sa.ns, "-t", "ConsoleTopic", "--count"])
                .arg(BACKLOG_MESSAGES.to_string())
                .output()
                .unwrap();
            (
                o.status.code(),
                String::from_utf8_lossy(&o.stdout).into_owned(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        };
        assert_eq!(code, Some(0), "{out}{err}");
        let before_backlog = coremq::clock::now_ms() - 60_000;
        let consumer_home = tempfile::tempdir().unwrap();
        let mut consumer = spawn_until_line(
            Command::new(common::coremq_bin()).args([
                "consume",
                "-n",
                &sa.ns,
                "-t",
                "ConsoleTopic",
                "-g",
                "ConsoleGroup",
            ]),
            consumer_home.path(),
            "Consumer Started",
        );
        let group = u("/group?name=ConsoleGroup");
        wait_on_page(c, &group, "#total-lag", "lag falls to 0", |t| t == "0").await;
        assert!(
            text(c, "#clients").await.contains("@"),
            "the consumer is listed"
        );
        assert!(text(c, "#lag").await.contains("ConsoleTopic"));
        screenshot(c, "group").await;
        c.goto(&u("/groups")).await.unwrap();
        assert!(text(c, "#groups").await.contains("ConsoleGroup"));

        // The message page tells which group consumed it; the consumer consumes it again.
        c.goto(&u(&format!("/message?id={offset_id}")))
            .await
            .unwrap();
        assert!(text(c, "#tracks").await.contains("CONSUMED"));
        click(c, "#consume-again-submit").await;
        assert!(flash(c, true).await.contains("consumeResult=CR_SUCCESS"));

        // With the consumer gone, a reset to before the backlog brings the lag back.
        let _ = consumer.child.kill();
        let _ = consumer.child.wait();
        wait_on_page(c, &group, "#clients-offline", "the consumer leaves", |t| {
            !t.is_empty()
        })
        .await;
        c.find(Locator::Css("#topic"))
            .await
            .unwrap()
            .select_by_value("ConsoleTopic")
            .await
            .unwrap();
        fill(c, "#time", &before_backlog.to_string()).await;
        click(c, "#reset-offset-submit").await;
        c.accept_alert().await.unwrap();
        assert!(
            flash(c, true).await.contains("rollback consumer offset"),
            "reset done"
        );
        let backlog = (BACKLOG_MESSAGES + 1).to_string();
        wait_on_page(c, &group, "#total-lag", "lag returns", |t| t == backlog).await;

        // Delete: refused until the name is typed, then gone from the cluster.
        c.goto(&u("/topic?name=ConsoleTopic")).await.unwrap();
        fill(c, "#confirm", "ConsoleTopi").await;
        click(c, "#delete-topic-submit").await;
        c.accept_alert().await.unwrap();
        assert!(flash(c, false).await.contains("nothing was deleted"));
        assert!(admin(&sa.ns, &["topicList"])
            .1
            .lines()
            .any(|l| l == "ConsoleTopic"));
        c.goto(&u("/topic?name=ConsoleTopic")).await.unwrap();
        fill(c, "#confirm", "ConsoleTopic").await;
        click(c, "#delete-topic-submit").await;
        c.accept_alert().await.unwrap();
        assert!(flash(c, true)
            .await
            .contains("delete topic [ConsoleTopic] from cluster [DefaultCluster] success."));
        assert!(!admin(&sa.ns, &["topicList"])
            .1
            .lines()
            .any(|l| l == "ConsoleTopic"));

        // The cluster page's chart has samples by now.
        c.goto(&u("/cluster")).await.unwrap();
        assert!(present(c, "svg.chart polyline").await, "TPS chart drawn");
        screenshot(c, "cluster").await;
        b.client.clone().close().await.unwrap();
    });
    let log = std::fs::read_to_string(console.log_dir.join("console.log")).unwrap();
    for action in [
        "topic created",
        "test message sent",
        "offsets reset",
        "topic deleted",
        "consumed again",
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains(action) && l.contains("user=anonymous")),
            "{action:?} logged with its user:\n{log}"
        );
    }
}

#[test]
fn read_only_console_behind_a_login() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let sa = standalone();
    let console = start_console(
        &sa.ns,
        &["--read-only", "--user", "ops", "--password", "s3cret"],
    );
    runtime().block_on(async {
        let b = open_browser(&chromium, &driver).await;
        let c = &b.client;
        let u = |p: &str| format!("{}{p}", console.url);

        // Every page asks for the login first; a wrong password is refused.
        c.goto(&u("/topics")).await.unwrap();
        assert_eq!(c.current_url().await.unwrap().path(), "/login");
        fill(c, "#username", "ops").await;
        fill(c, "#password", "wrong").await;
        click(c, "#login-submit").await;
        assert_eq!(flash(c, false).await, "wrong user name or password");
        assert!(present(c, "#login-form").await);
        screenshot(c, "login-refused").await;

        fill(c, "#username", "ops").await;
        fill(c, "#password", "s3cret").await;
        click(c, "#login-submit").await;
        c.wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Css("#brokers"))
            .await
            .unwrap();
        assert!(text(c, "nav.top").await.contains("ops"));
        assert!(present(c, "#read-only").await);

        // No action anywhere: not on a topic, a group or a message either.
        let o = Command::new(common::coremq_bin())
            .args(["produce", "-n", &sa.ns, "-t", "ReadOnlyT", "--count", "1"])
            .output()
            .unwrap();
        let sent = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(o.status.success(), "{o:?}");
        let offset_id = field(&sent, "offsetMsgId").to_owned();
        let home = tempfile::tempdir().unwrap();
        let o = Command::new(common::coremq_bin())
            .args([
                "consume",
                "-n",
                &sa.ns,
                "-t",
                "ReadOnlyT",
                "-g",
                "ReadOnlyG",
            ])
            .args(["--count", "1", "--timeout", "60"])
            .env("HOME", home.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
        let group_page = "/group?name=ReadOnlyG".to_owned();
        let message_page = format!("/message?id={offset_id}");
        for (path, forms) in [
            ("/cluster", &[][..]),
            ("/topics", &["#create-topic"][..]),
            (
                "/topic?name=ReadOnlyT",
                &["#update-topic", "#send-message", "#delete-topic"][..],
            ),
            ("/groups", &[][..]),
            (group_page.as_str(), &["#reset-offset"][..]),
            ("/messages", &[][..]),
            (message_page.as_str(), &["#consume-again", "#resend"][..]),
            ("/producers", &[][..]),
        ] {
            c.goto(&u(path)).await.unwrap();
            assert!(!present(c, "#flash-error").await, "{path} failed to draw");
            assert!(present(c, "main table, main form").await, "{path} is empty");
            for f in forms {
                assert!(!present(c, f).await, "{f} on a read-only {path}");
            }
            assert!(
                !present(c, "main form[method=post]").await,
                "a post form on {path}"
            );
        }
        screenshot(c, "read-only-topic").await;

        // Even a hand-made POST with a valid session is refused and changes nothing.
        let cookie = c.get_named_cookie("coremq_console_session").await.unwrap();
        let r = ureq::post(&u("/topics/create"))
            .set(
                "Cookie",
                &format!("coremq_console_session={}", cookie.value()),
            )
            .send_form(&[
                ("topic", "Sneaky"),
                ("read", "1"),
                ("write", "1"),
                ("perm", "6"),
                ("target", "cluster:DefaultCluster"),
            ]);
        match r {
            Err(ureq::Error::Status(403, _)) => {}
            other => panic!("expected 403, got {other:?}"),
        }
        assert!(!admin(&sa.ns, &["topicList"]).1.contains("Sneaky"));

        // Logging out ends the session.
        click(c, "#logout").await;
        c.wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Css("#login-form"))
            .await
            .unwrap();
        c.goto(&u("/cluster")).await.unwrap();
        assert_eq!(c.current_url().await.unwrap().path(), "/login");
        b.client.clone().close().await.unwrap();
    });
}

#[test]
fn bad_console_options_are_named() {
    let run = |args: &[&str]| {
        let o = Command::new(common::coremq_bin())
            .arg("console")
            .args(args)
            .env_remove("NAMESRV_ADDR")
            .env_remove("COREMQ_CONSOLE_PASSWORD")
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["-n", "127.0.0.1:9876", "--port", "eighty"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--port") && err.contains("eighty"), "{err}");
    let (code, err) = run(&["-n", "127.0.0.1:9876", "--colour"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--colour") && err.contains("Usage:"), "{err}");
    let (code, err) = run(&["-n", "127.0.0.1:9876", "--user", "ops"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("--user needs a non-empty --password"), "{err}");
    let (code, err) = run(&["-n", "nonsense"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("nonsense"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.properties");
    std::fs::write(&users, "ops=pw\njust-a-name\n").unwrap();
    let (code, err) = run(&[
        "-n",
        "127.0.0.1:9876",
        "--users-file",
        users.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("line 2: expected user=password"), "{err}");
}
