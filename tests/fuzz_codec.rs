//! Hostile bytes for every decoder that reads the network or the disk: a seeded mutation
//! fuzzer over frames as clients and brokers send them (send, batch send, pull, heartbeat,
//! registration, transactions, queries; JSON and binary headers) and over the bodies and
//! records inside them. Each case decodes the frames, their typed headers, properties,
//! batch, heartbeat, registration and pull bodies, message ids and store records; a panic
//! anywhere fails the test and prints the seed, the case and the input in hex.
//!
//! `COREMQ_FUZZ_CASES` (100,000 by default, the CI run) and `COREMQ_FUZZ_SEED` (else one
//! from the clock, printed) set the run; the long run is
//! `COREMQ_FUZZ_CASES=10000000 cargo test --release --test fuzz_codec -- --nocapture`.

mod common;

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::{Bytes, BytesMut};
use common::Rng;
use coremq::client::message::decode_pull_body;
use coremq::protocol::body::batch;
use coremq::protocol::body::client::HeartbeatData;
use coremq::protocol::body::fastjson::parse_lenient;
use coremq::protocol::body::topic_config::RegisterBrokerBody;
use coremq::protocol::header::broker::{
    CheckTransactionStateRequestHeader, ConsumerSendMsgBackRequestHeader,
    EndTransactionRequestHeader, PullMessageRequestHeader, QueryMessageRequestHeader,
    SendMessageRequestHeader,
};
use coremq::protocol::header::namesrv::RegisterBrokerRequestHeader;
use coremq::protocol::properties::Properties;
use coremq::protocol::CommandHeader;
use coremq::protocol::{
    frame, message_id, ExtFields, LanguageCode, RemotingCommand, SerializeType,
};
use coremq::store::record::{self, NewMessage};

/// Cases of the CI run.
const DEFAULT_CASES: u64 = 100_000;
/// Most mutations applied to one input.
const MAX_MUTATIONS: u64 = 8;

fn command(code: i32, ext: &[(&str, &str)], body: Vec<u8>, binary: bool) -> RemotingCommand {
    let mut fields = ExtFields::new();
    for (k, v) in ext {
        fields.insert(*k, *v);
    }
    RemotingCommand {
        code,
        language: LanguageCode::JAVA,
        version: 395,
        opaque: 42,
        flag: 0,
        remark: None,
        ext: fields,
        serialize_type: if binary {
            SerializeType::RocketMq
        } else {
            SerializeType::Json
        },
        body: Bytes::from(body),
    }
}

/// Records as a pull response carries them (no CRC trailer), and as the log stores them.
fn records(host: SocketAddr) -> (Vec<u8>, Vec<u8>) {
    let (mut pull, mut disk) = (Vec::new(), Vec::new());
    for (i, body) in [&b"Hello RocketMQ 0"[..], b"", &[0xffu8; 300][..]]
        .iter()
        .enumerate()
    {
        let mut m = NewMessage::new("TopicTest", i as i32, body.to_vec(), host);
        m.properties =
            format!("KEYS\u{1}key-{i}\u{2}TAGS\u{1}TagA\u{2}UNIQ_KEY\u{1}C0A80001{i:024X}\u{2}");
        m.sys_flag = if i == 2 { 1 } else { 0 };
        let mut one = Vec::new();
        record::encode(&m, i as i64, disk.len() as i64, 1_700_000_000_000, &mut one);
        pull.extend_from_slice(&one[..record::encoded_len(&m)]);
        disk.extend_from_slice(&one);
    }
    (pull, disk)
}

/// Commands as real clients and brokers send them, in both header encodings.
fn commands() -> Vec<RemotingCommand> {
    let host: SocketAddr = "192.168.0.1:10911".parse().unwrap();
    let props = "KEYS\u{1}order-1 order-2\u{2}TAGS\u{1}TagA\u{2}WAIT\u{1}true\u{2}UNIQ_KEY\u{1}7F0000010A2B18B4AAC2612D4A8B0000\u{2}";
    let send = [
        ("a", "please_rename_unique_group_name"),
        ("b", "TopicTest"),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", "3"),
        ("f", "0"),
        ("g", "1700000000000"),
        ("h", "0"),
        ("i", props),
        ("j", "0"),
        ("k", "false"),
        ("m", "false"),
    ];
    let mut batch_body = Vec::new();
    batch::encode_entry(0, b"one", "TAGS\u{1}a\u{2}", &mut batch_body);
    batch::encode_entry(3, b"", "", &mut batch_body);
    batch::encode_entry(0, &[0u8; 40], props, &mut batch_body);
    let heartbeat = br#"{"clientID":"10.0.0.9@1#2","consumerDataSet":[{"groupName":"g1","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","unitMode":false,"subscriptionDataSet":[{"classFilterMode":false,"topic":"T","subString":"TagA || TagB","tagsSet":["TagA","TagB"],"codeSet":[1,2],"subVersion":17,"expressionType":"TAG"}]}],"producerDataSet":[{"groupName":"p1"}]}"#;
    let register = br#"{"topicConfigSerializeWrapper":{"topicConfigTable":{"TopicTest":{"topicName":"TopicTest","readQueueNums":4,"writeQueueNums":4,"perm":6,"topicFilterType":"SINGLE_TAG","topicSysFlag":0,"order":false}},"dataVersion":{"timestamp":1700000000000,"counter":3}},"filterServerList":[]}"#;
    let (pull_body, _) = records(host);
    let pull = [
        ("consumerGroup", "g1"),
        ("topic", "TopicTest"),
        ("queueId", "1"),
        ("queueOffset", "0"),
        ("maxMsgNums", "32"),
        ("sysFlag", "3"),
        ("commitOffset", "0"),
        ("suspendTimeoutMillis", "15000"),
        ("subscription", "TagA || TagB"),
        ("subVersion", "17"),
        ("expressionType", "TAG"),
    ];
    let mut out = Vec::new();
    for binary in [false, true] {
        let frames = [
            command(310, &send, b"Hello RocketMQ".to_vec(), binary),
            command(320, &send, batch_body.clone(), binary),
            command(11, &pull, Vec::new(), binary),
            command(
                0,
                &[
                    ("nextBeginOffset", "3"),
                    ("minOffset", "0"),
                    ("maxOffset", "3"),
                    ("suggestWhichBrokerId", "0"),
                ],
                pull_body.clone(),
                binary,
            ),
            command(34, &[], heartbeat.to_vec(), binary),
            command(
                103,
                &[
                    ("brokerName", "broker-a"),
                    ("brokerAddr", "192.168.0.1:10911"),
                    ("clusterName", "DefaultCluster"),
                    ("haServerAddr", "192.168.0.1:10912"),
                    ("brokerId", "0"),
                    ("compressed", "false"),
                    ("bodyCrc32", "0"),
                ],
                register.to_vec(),
                binary,
            ),
            command(
                37,
                &[
                    ("producerGroup", "tx"),
                    ("tranStateTableOffset", "5"),
                    ("commitLogOffset", "1024"),
                    ("commitOrRollback", "8"),
                    ("fromTransactionCheck", "false"),
                    ("msgId", "C0A8000100002A9F0000000000000400"),
                    ("transactionId", "7F0000010A2B18B4AAC2612D4A8B0000"),
                ],
                Vec::new(),
                binary,
            ),
            command(
                39,
                &[
                    ("tranStateTableOffset", "5"),
                    ("commitLogOffset", "1024"),
                    ("msgId", "C0A8000100002A9F0000000000000400"),
                    ("transactionId", "t1"),
                ],
                Vec::new(),
                binary,
            ),
            command(
                12,
                &[
                    ("topic", "TopicTest"),
                    ("key", "order-1"),
                    ("maxNum", "32"),
                    ("beginTimestamp", "0"),
                    ("endTimestamp", "9223372036854775807"),
                ],
                Vec::new(),
                binary,
            ),
            command(
                36,
                &[
                    ("offset", "1024"),
                    ("group", "g1"),
                    ("delayLevel", "0"),
                    ("originMsgId", "C0A8000100002A9F0000000000000400"),
                    ("originTopic", "TopicTest"),
                    ("maxReconsumeTimes", "16"),
                ],
                Vec::new(),
                binary,
            ),
        ];
        out.extend(frames);
    }
    out
}

/// The commands' frames, and two back to back as one read delivers them.
fn frames(commands: &[RemotingCommand]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = commands.iter().map(frame::encode_to_vec).collect();
    out.push([out[0].clone(), out[2].clone()].concat());
    out
}

/// What the decoders got through, so the run can show it went past the first checks.
#[derive(Default, Debug)]
struct Reached {
    frames: u64,
    headers: u64,
    bodies: u64,
}

fn exercise(cmd: &RemotingCommand, reached: &mut Reached) {
    reached.frames += 1;
    let ext = &cmd.ext;
    let headers = [
        SendMessageRequestHeader::from_request(cmd.code, ext).is_ok(),
        PullMessageRequestHeader::from_ext(ext).is_ok(),
        EndTransactionRequestHeader::from_ext(ext).is_ok(),
        CheckTransactionStateRequestHeader::from_ext(ext).is_ok(),
        QueryMessageRequestHeader::from_ext(ext).is_ok(),
        ConsumerSendMsgBackRequestHeader::from_ext(ext).is_ok(),
        RegisterBrokerRequestHeader::from_ext(ext).is_ok(),
    ];
    reached.headers += headers.iter().filter(|ok| **ok).count() as u64;
    for key in ["i", "properties"] {
        if let Some(p) = ext.get(key) {
            let _ = Properties::parse(p).encode();
        }
    }
    for key in ["msgId", "originMsgId"] {
        if let Some(id) = ext.get(key) {
            let _ = message_id::decode(id);
        }
    }
    let bodies = [
        HeartbeatData::parse(&cmd.body).is_ok(),
        batch::split(&cmd.body).is_ok_and(|e| !e.is_empty()),
        decode_pull_body(&cmd.body).1 && !cmd.body.is_empty(),
        RegisterBrokerBody::decode(&cmd.body, false, cmd.version).is_ok(),
    ];
    reached.bodies += bodies.iter().filter(|ok| **ok).count() as u64;
    // What was decoded encodes again.
    let _ = frame::encode_to_vec(cmd);
}

fn decode_everything(bytes: &[u8], reached: &mut Reached) {
    let mut buf = BytesMut::from(bytes);
    while let Ok(Some(cmd)) = frame::decode(&mut buf) {
        exercise(&cmd, reached);
    }
    // The same bytes straight into the body and record decoders.
    let text = String::from_utf8_lossy(bytes);
    let _ = parse_lenient(&text);
    let _ = Properties::parse(&text);
    let _ = message_id::decode(&text);
    let _ = HeartbeatData::parse(bytes);
    let _ = batch::split(bytes);
    let _ = decode_pull_body(bytes);
    let _ = RegisterBrokerBody::decode(bytes, true, 0);
    let _ = record::read_entry(bytes);
}

const INTERESTING_I32: [i32; 9] = [0, 1, -1, 4, 7, 0x7f, i32::MAX, i32::MIN, 0x0100_0000];

/// Values that trip number and text parsing.
const HOSTILE_VALUES: [&str; 10] = [
    "",
    "-1",
    "2147483648",
    "9223372036854775808",
    "1e3",
    " 7",
    "true",
    "\u{1}\u{2}\u{1}",
    "\u{0}",
    "é\u{2028}",
];

/// A command with some header values and its body changed, encoded: lengths stay right,
/// so the bytes reach the typed headers and body decoders.
fn mutate_fields(rng: &mut Rng, commands: &[RemotingCommand], frames: &[Vec<u8>]) -> Vec<u8> {
    let mut cmd = commands[rng.below(commands.len() as u64) as usize].clone();
    let keys: Vec<String> = cmd.ext.iter().map(|(k, _)| k.to_owned()).collect();
    for _ in 0..=rng.below(3) {
        if keys.is_empty() {
            break;
        }
        let key = &keys[rng.below(keys.len() as u64) as usize];
        let value = match rng.below(3) {
            0 => HOSTILE_VALUES[rng.below(HOSTILE_VALUES.len() as u64) as usize].to_owned(),
            1 => (rng.next() as i64 >> rng.below(64)).to_string(),
            _ => {
                let old = cmd.ext.get(key).unwrap_or_default().as_bytes().to_vec();
                String::from_utf8_lossy(&mutate_bytes(rng, old, frames)).into_owned()
            }
        };
        cmd.ext.insert(key.clone(), value);
    }
    if rng.below(2) == 0 {
        cmd.body = Bytes::from(mutate_bytes(rng, cmd.body.to_vec(), frames));
    }
    frame::encode_to_vec(&cmd)
}

/// A frame with raw byte edits.
fn mutate_frame(rng: &mut Rng, frames: &[Vec<u8>]) -> Vec<u8> {
    let v = frames[rng.below(frames.len() as u64) as usize].clone();
    mutate_bytes(rng, v, frames)
}

fn mutate_bytes(rng: &mut Rng, mut v: Vec<u8>, corpus: &[Vec<u8>]) -> Vec<u8> {
    for _ in 0..=rng.below(MAX_MUTATIONS) {
        let len = v.len() as u64;
        // A quarter of the edits land on the lengths at the front.
        let at = if rng.below(4) == 0 {
            rng.below(len.min(12))
        } else {
            rng.below(len)
        } as usize;
        match rng.below(8) {
            0 if !v.is_empty() => v[at] ^= 1 << rng.below(8),
            1 if !v.is_empty() => v[at] = rng.next() as u8,
            2 if v.len() >= at + 4 => {
                let n = INTERESTING_I32[rng.below(INTERESTING_I32.len() as u64) as usize];
                let n = if rng.below(2) == 0 {
                    n
                } else {
                    n.wrapping_add(v.len() as i32)
                };
                v[at..at + 4].copy_from_slice(&n.to_be_bytes());
            }
            3 => {
                let n = rng.below(16) as usize;
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(at.min(v.len())..at.min(v.len()), bytes);
            }
            4 if !v.is_empty() => {
                let end = (at + 1 + rng.below(32) as usize).min(v.len());
                v.drain(at..end);
            }
            5 => v.truncate(at),
            6 => {
                let other = &corpus[rng.below(corpus.len() as u64) as usize];
                let from = rng.below(other.len() as u64) as usize;
                v.truncate(at);
                v.extend_from_slice(&other[from..]);
            }
            _ if v.len() > at + 1 => {
                // Repeat a slice: lengths that count it twice.
                let end = (at + 1 + rng.below(64) as usize).min(v.len());
                let piece = v[at..end].to_vec();
                v.splice(end..end, piece);
            }
            _ => {}
        }
    }
    v
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number"))
    })
}

#[test]
fn hostile_bytes_never_panic_a_decoder() {
    let cases = env_u64("COREMQ_FUZZ_CASES").unwrap_or(DEFAULT_CASES);
    let seed = env_u64("COREMQ_FUZZ_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    }) | 1;
    let commands = commands();
    let corpus = frames(&commands);
    let mut reached = Reached::default();
    // The corpus itself decodes, every frame and body of it.
    for c in &corpus {
        decode_everything(c, &mut reached);
    }
    assert_eq!(
        reached.frames,
        corpus.len() as u64 + 1,
        "the corpus decodes"
    );
    let baseline = Reached {
        frames: reached.frames,
        ..Default::default()
    };
    let mut rng = Rng(seed);
    let started = std::time::Instant::now();
    for case in 0..cases {
        let input = if rng.below(2) == 0 {
            mutate_frame(&mut rng, &corpus)
        } else {
            mutate_fields(&mut rng, &commands, &corpus)
        };
        let run = catch_unwind(AssertUnwindSafe(|| decode_everything(&input, &mut reached)));
        if run.is_err() {
            let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
            panic!("a decoder panicked: COREMQ_FUZZ_SEED={seed}, case {case}, input {hex}");
        }
    }
    eprintln!(
        "fuzz_codec: {cases} cases, seed {seed}, {:.1} s; decoded past the frame {} times, typed headers {}, bodies {}",
        started.elapsed().as_secs_f64(),
        reached.frames - baseline.frames,
        reached.headers,
        reached.bodies
    );
    // Mutations must keep reaching the inner decoders, or the run tests only the framing.
    assert!(
        reached.frames - baseline.frames > cases / 20,
        "too few mutated inputs decoded as frames: {reached:?}"
    );
    assert!(
        reached.headers > cases / 20 && reached.bodies > cases / 100,
        "{reached:?}"
    );
}
