//! Codec micro-benchmark: encode + decode of a SEND_MESSAGE_V2 request (Java's header letters,
//! 128-byte body) and of a PULL_MESSAGE response (32 records of 128-byte bodies), and the
//! typed send header read from / written to its extFields (what the broker's send handler
//! and the producer do per message on top of the frame codec).
//!
//! Run: `cargo bench --bench codec` (add `-- --rounds N --iters M` to change the defaults).
//! Prints the median of the rounds per operation; record results in bench/results/.

use std::hint::black_box;
use std::time::Instant;

use bytes::BytesMut;
use coremq::protocol::header::broker::{SendMessageRequestHeader, SendMessageRequestHeaderV2};
use coremq::protocol::{frame, CommandHeader, ExtFields, RemotingCommand};

fn send_v2_request() -> RemotingCommand {
    let mut ext = ExtFields::new();
    let props = "UNIQ_KEY\u{1}7F0000010F2A18B4AAC23C8A1E2D0000\u{2}TAGS\u{1}TagA\u{2}KEYS\u{1}order-42\u{2}WAIT\u{1}true";
    for (k, v) in [
        ("a", "please_rename_unique_group_name"),
        ("b", "BenchmarkTest"),
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
        ("n", "broker-a"),
    ] {
        ext.insert(k, v);
    }
    let mut cmd = RemotingCommand::request(310, ext).with_body(vec![b'x'; 128]);
    cmd.opaque = 12345;
    cmd
}

fn pull_response() -> RemotingCommand {
    // 32 stored records of ~220 bytes each, as a PULL body carries them.
    let mut body = Vec::new();
    for i in 0..32u32 {
        let mut rec = vec![0u8; 220];
        rec[..4].copy_from_slice(&220u32.to_be_bytes());
        rec[4..8].copy_from_slice(&i.to_be_bytes());
        body.extend_from_slice(&rec);
    }
    let mut ext = ExtFields::new();
    for (k, v) in [
        ("suggestWhichBrokerId", "0"),
        ("nextBeginOffset", "1032"),
        ("minOffset", "0"),
        ("maxOffset", "200000"),
    ] {
        ext.insert(k, v);
    }
    let mut req = RemotingCommand::request(11, ExtFields::new());
    req.opaque = 77;
    req.success().with_ext(ext).with_body(body)
}

/// Median nanoseconds per call of `f` over `rounds` rounds of `iters` calls.
fn measure(rounds: usize, iters: usize, mut f: impl FnMut()) -> f64 {
    let mut per_op: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    per_op.sort_by(|a, b| a.total_cmp(b));
    per_op[rounds / 2]
}

fn report(name: &str, frame_bytes: usize, ns: f64) {
    let ops = 1e9 / ns;
    let mbs = ops * frame_bytes as f64 / 1e6;
    println!("{name:<28} {frame_bytes:>6} B  {ns:>9.1} ns/op  {ops:>12.0} ops/s  {mbs:>9.1} MB/s");
}

fn arg(args: &[String], flag: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds = arg(&args, "--rounds", 15).max(1);
    let iters = arg(&args, "--iters", 100_000).max(1);
    println!("codec micro-benchmark: median of {rounds} rounds x {iters} iterations");
    for (name, cmd) in [
        ("SEND_MESSAGE_V2 request", send_v2_request()),
        ("PULL response (32 msgs)", pull_response()),
    ] {
        let wire = frame::encode_to_vec(&cmd);
        let mut out = BytesMut::with_capacity(wire.len() * 2);
        let enc = measure(rounds, iters, || {
            out.clear();
            frame::encode(black_box(&cmd), &mut out).unwrap();
            black_box(&out);
        });
        report(&format!("{name} encode"), wire.len(), enc);
        let src = bytes::Bytes::from(wire.clone());
        let dec = measure(rounds, iters, || {
            let mut buf = BytesMut::from(&src[..]);
            let c = frame::decode(black_box(&mut buf)).unwrap().unwrap();
            black_box(c);
        });
        report(&format!("{name} decode"), wire.len(), dec);
    }
    // The JSON header alone, both decoders on the same bytes (the scanner declines nothing
    // here: this is the header every Java producer sends).
    let mut head = BytesMut::new();
    coremq::protocol::json_header::encode(&send_v2_request(), &mut head);
    let fast = measure(rounds, iters, || {
        black_box(coremq::protocol::json_header::decode(black_box(&head)).unwrap());
    });
    report("send JSON header (scanner)", head.len(), fast);
    let slow = measure(rounds, iters, || {
        black_box(coremq::protocol::json_header::decode_with_serde(black_box(&head)).unwrap());
    });
    report("send JSON header (serde)", head.len(), slow);
    let ext = send_v2_request().ext;
    let read = measure(rounds, iters, || {
        let h = SendMessageRequestHeader::from_request(310, black_box(&ext)).unwrap();
        black_box(h);
    });
    report("send header read (typed)", 0, read);
    let typed = SendMessageRequestHeaderV2::from_ext(&ext).unwrap();
    let write = measure(rounds, iters, || {
        black_box(black_box(&typed).to_ext());
    });
    report("send header write (typed)", 0, write);
}
