//! SQL92 property filters (`MessageSelector.bySql`) against a real `coremq standalone`:
//! 10,000 messages with mixed properties, exactly the matching subset pulled for each of
//! five expressions, a malformed one refused with its column, the expression changed
//! between pulls of one group, `enablePropertyFilter` switched off at run time, and
//! `coremq consume --sql`.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::*;
use coremq::client::message::decode_pull_body;
use coremq::protocol::header::broker::PULL_FLAG_SUBSCRIPTION;

const TOPIC: &str = "SqlT";
const QUEUES: i32 = 4;
const MESSAGES: usize = 10_000;

/// Message `i`'s properties: a = i % 10, color red / blue / absent by i % 3, TagA / TagB.
fn props(i: usize) -> (usize, Option<&'static str>, &'static str) {
    let color = [Some("red"), Some("blue"), None][i % 3];
    (i % 10, color, if i % 2 == 0 { "TagA" } else { "TagB" })
}

/// Pulls `qid` from `from` until the end with `sql`, returning the message numbers and
/// where it stopped.
fn pull_all(
    c: &mut RawClient,
    group: &str,
    qid: i32,
    from: i64,
    sql: &str,
    stop_at: Option<i64>,
) -> (Vec<usize>, i64) {
    let mut got = Vec::new();
    let mut offset = from;
    loop {
        if stop_at.is_some_and(|s| offset >= s) {
            return (got, offset);
        }
        let r = sql_pull(c, group, qid, offset, sql);
        match r.code {
            0 => {
                for m in decode_pull_body(&r.body).0 {
                    let body = String::from_utf8(m.body.to_vec()).unwrap();
                    got.push(body.trim_start_matches('m').parse().unwrap());
                }
            }
            20 => {} // no match among the entries scanned: go on from nextBeginOffset
            19 => return (got, offset), // the end of the queue
            code => panic!("pull {sql}: code {code}: {:?}", r.remark),
        }
        offset = r.ext.get("nextBeginOffset").unwrap().parse().unwrap();
    }
}

fn check_client_config(c: &mut RawClient, sql: &str) -> (i32, String) {
    let body = serde_json::json!({
        "clientID": "t",
        "group": "g",
        "subscriptionData": {"topic": TOPIC, "subString": sql, "expressionType": "SQL92"},
    });
    let r = c.call_with(46, &[], serde_json::to_vec(&body).unwrap());
    (r.code, r.remark.unwrap_or_default())
}

#[test]
fn sql92_filters_deliver_exactly_the_matching_messages() {
    let s = standalone_with("enablePropertyFilter=true");
    update_topic(&s.ns, &s.broker, TOPIC, QUEUES as u32);
    let mut c = RawClient::connect(s.broker.parse().unwrap());
    for i in 0..MESSAGES {
        let (a, color, tag) = props(i);
        let mut p = format!("TAGS\u{1}{tag}\u{2}a\u{1}{a}\u{2}WAIT\u{1}false");
        if let Some(color) = color {
            p.push_str(&format!("\u{2}color\u{1}{color}"));
        }
        let r = c.call(send_command(
            "pg",
            TOPIC,
            (i % QUEUES as usize) as i32,
            format!("m{i}").as_bytes(),
            &p,
        ));
        assert_eq!(r.code, 0, "{:?}", r.remark);
    }

    type Want = fn(usize, Option<&str>, &str) -> bool;
    let cases: [(&str, Want); 5] = [
        (
            "a BETWEEN 3 AND 6 AND (color = 'red' OR color IS NULL)",
            |a, c, _| (3..=6).contains(&a) && c != Some("blue"),
        ),
        ("a IN ('1', '2')", |a, _, _| a == 1 || a == 2),
        ("a > 7 OR color = 'blue'", |a, c, _| {
            a > 7 || c == Some("blue")
        }),
        ("NOT (a = 0) AND color IS NOT NULL", |a, c, _| {
            a != 0 && c.is_some()
        }),
        (
            "a <> 5 AND TAGS = 'TagB' AND a NOT BETWEEN 7 AND 8",
            |a, _, t| a != 5 && t == "TagB" && !(7..=8).contains(&a),
        ),
    ];
    for (sql, want) in cases {
        assert_eq!(
            check_client_config(&mut c, sql),
            (0, String::new()),
            "{sql}"
        );
        let mut got = BTreeSet::new();
        for q in 0..QUEUES {
            got.extend(pull_all(&mut c, "sqlg", q, 0, sql, None).0);
        }
        let expected: BTreeSet<usize> = (0..MESSAGES)
            .filter(|i| {
                let (a, color, tag) = props(*i);
                want(a, color, tag)
            })
            .collect();
        assert!(!expected.is_empty() && expected.len() < MESSAGES, "{sql}");
        assert_eq!(got, expected, "{sql}");
    }

    // One group changes its expression between pulls: each part follows its own.
    let (first, at) = pull_all(&mut c, "changing", 0, 0, "a = 4", Some(1000));
    let (second, _) = pull_all(&mut c, "changing", 0, at, "a = 8", None);
    assert!(
        first.iter().all(|i| i % 10 == 4 && *i < 4 * at as usize),
        "{first:?}"
    );
    assert!(second.iter().all(|i| i % 10 == 8 && *i >= 4 * at as usize));
    assert!(!first.is_empty() && !second.is_empty());

    // Malformed: refused at the check and at a pull, with the column.
    let (code, remark) = check_client_config(&mut c, "a BETWEEN 3 AND");
    assert_eq!(code, 23, "{remark}");
    assert!(remark.contains("at line 1, column 16"), "{remark}");
    let r = sql_pull(&mut c, "bad", 0, 0, "a = 'unterminated");
    let remark = r.remark.unwrap_or_default();
    assert_eq!(r.code, 23, "{remark}");
    assert!(remark.contains("column 5"), "{remark}");

    // coremq consume --sql: every printed message matches.
    let out = Command::new(coremq_bin())
        .args([
            "consume", "-n", &s.ns, "-t", TOPIC, "-g", "cli-sql", "--from", "first",
        ])
        .args([
            "--sql",
            "a = 9 AND color = 'red'",
            "--count",
            "334",
            "--timeout",
            "60",
        ])
        .env("HOME", s.dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let bodies: Vec<usize> = text
        .lines()
        .filter_map(|l| l.split("body=m").nth(1))
        .map(|b| b.trim_end_matches(']').parse().unwrap())
        .collect();
    let expected = (0..MESSAGES).filter(|i| i % 10 == 9 && i % 3 == 0).count();
    assert_eq!(bodies.len(), expected, "{text}");
    assert!(
        bodies.iter().all(|i| i % 10 == 9 && i % 3 == 0),
        "{bodies:?}"
    );

    // Switched off at run time: refused as RocketMQ refuses it, by the check and the CLI.
    let (code, _, err) = admin(
        &s.ns,
        &[
            "updateBrokerConfig",
            "-b",
            &s.broker,
            "-k",
            "enablePropertyFilter",
            "-v",
            "false",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (code, remark) = check_client_config(&mut c, "a = 1");
    assert_eq!(
        (code, remark.as_str()),
        (
            1,
            "The broker does not support consumer to filter message by SQL92"
        )
    );
    let out = Command::new(coremq_bin())
        .args([
            "consume",
            "-n",
            &s.ns,
            "-t",
            TOPIC,
            "-g",
            "cli-sql2",
            "--sql",
            "a = 1",
            "--timeout",
            "20",
        ])
        .env("HOME", s.dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("filter message by SQL92"));
}

/// PULL_MESSAGE (11) of `qid` from `offset` with `sql` carried in the request.
fn sql_pull(
    c: &mut RawClient,
    group: &str,
    qid: i32,
    offset: i64,
    sql: &str,
) -> coremq::protocol::RemotingCommand {
    c.call_with(
        11,
        &[
            ("consumerGroup", group),
            ("topic", TOPIC),
            ("queueId", &qid.to_string()),
            ("queueOffset", &offset.to_string()),
            ("maxMsgNums", "32"),
            ("sysFlag", &PULL_FLAG_SUBSCRIPTION.to_string()),
            ("commitOffset", "0"),
            ("suspendTimeoutMillis", "0"),
            ("subscription", sql),
            ("subVersion", "1"),
            ("expressionType", "SQL92"),
        ],
        Vec::new(),
    )
}
