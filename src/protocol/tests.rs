//! Codec tests: the byte-exact fixtures of spec §1.4a, client quirks, and property tests
//! (round trips in both encodings; random and mutated input never panics).

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;

fn decode_all(bytes: &[u8]) -> Result<Vec<RemotingCommand>, FrameError> {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(cmd) = frame::decode(&mut buf)? {
        out.push(cmd);
    }
    Ok(out)
}

fn fixture_json_response() -> RemotingCommand {
    RemotingCommand {
        code: 0,
        language: LanguageCode::JAVA,
        version: 409,
        opaque: 7,
        flag: 1,
        remark: None,
        ext: ExtFields::new(),
        serialize_type: SerializeType::Json,
        body: Bytes::new(),
    }
}

#[test]
fn spec_1_4a_json_response_bytes() {
    let header = br#"{"code":0,"flag":1,"language":"JAVA","opaque":7,"serializeTypeCurrentRPC":"JSON","version":409}"#;
    assert_eq!(header.len(), 95);
    let mut expected = vec![0, 0, 0, 0x63, 0, 0, 0, 0x5f];
    expected.extend_from_slice(header);
    assert_eq!(expected.len(), 103);

    let cmd = fixture_json_response();
    assert_eq!(frame::encode_to_vec(&cmd), expected);
    assert_eq!(decode_all(&expected).unwrap(), vec![cmd]);
}

#[test]
fn spec_1_4a_binary_response_bytes() {
    let expected: Vec<u8> = vec![
        0x00, 0x00, 0x00, 0x27, 0x01, 0x00, 0x00, 0x23, // total 39, type 1, H 35
        0x00, 0x00, // code 0
        0x00, // JAVA
        0x01, 0x99, // version 409
        0x00, 0x00, 0x00, 0x07, // opaque
        0x00, 0x00, 0x00, 0x01, // flag
        0x00, 0x00, 0x00, 0x00, // no remark
        0x00, 0x00, 0x00, 0x0e, // ext area 14
        0x00, 0x06, b'o', b'f', b'f', b's', b'e', b't', 0x00, 0x00, 0x00, 0x02, b'1', b'2',
    ];
    let mut cmd = fixture_json_response();
    cmd.serialize_type = SerializeType::RocketMq;
    cmd.ext.insert("offset", "12");
    assert_eq!(frame::encode_to_vec(&cmd), expected);
    assert_eq!(decode_all(&expected).unwrap(), vec![cmd]);
}

#[test]
fn response_keeps_request_encoding_and_strict_profile() {
    let mut req = RemotingCommand::request(105, ExtFields::new());
    req.serialize_type = SerializeType::RocketMq;
    req.opaque = 99;
    let resp = req.success();
    assert_eq!(resp.serialize_type, SerializeType::RocketMq);
    assert_eq!(resp.opaque, 99);
    assert!(resp.is_response());

    let mut resp = RemotingCommand::request(105, ExtFields::new()).success();
    resp.ext.insert("queueId", "1");
    resp.remark = Some("a \"quoted\"\nline\u{1}".into());
    let bytes = frame::encode_to_vec(&resp);
    let h: serde_json::Value = serde_json::from_slice(&bytes[8..]).unwrap();
    for key in [
        "code",
        "flag",
        "language",
        "opaque",
        "serializeTypeCurrentRPC",
        "version",
    ] {
        assert!(h.get(key).is_some(), "{key} missing");
    }
    assert!(h["extFields"]["queueId"].is_string());
    assert_eq!(h["remark"], "a \"quoted\"\nline\u{1}");
}

#[test]
fn lenient_decoding_of_client_quirks() {
    // ali-ons: numbers and booleans in extFields, no serializeTypeCurrentRPC, null remark.
    let ali = br#"{"code":310,"language":"JAVA","opaque":3,"flag":0,"version":121,"remark":null,"extFields":{"e":0,"g":1700000000000,"k":false,"x":null,"o":{"a":1}}}"#;
    let cmd = json_header::decode(ali).unwrap();
    assert_eq!(cmd.ext.get("e"), Some("0"));
    assert_eq!(cmd.ext.get("g"), Some("1700000000000"));
    assert_eq!(cmd.ext.get("k"), Some("false"));
    assert_eq!(cmd.ext.get("x"), None);
    assert_eq!(cmd.ext.get("o"), Some(r#"{"a":1}"#));
    // C++ client: unknown language, empty remark, trailing newline, extra properties.
    let cpp = b"{\"code\":34,\"language\":\"COBOL\",\"opaque\":1,\"flag\":0,\"version\":1,\"remark\":\"\",\"extra\":[1]}\n";
    let cmd = json_header::decode(cpp).unwrap();
    assert_eq!(cmd.language, LanguageCode::OTHER);
    assert!(cmd.ext.is_empty());
    // Missing code is undecodable.
    assert!(json_header::decode(br#"{"opaque":1}"#).is_err());
}

#[test]
fn malformed_frames_are_errors_not_panics() {
    // Over the limit.
    let big = ((MAX_FRAME_BYTES + 1) as u32).to_be_bytes();
    assert!(matches!(decode_all(&big), Err(FrameError::BadLength(_))));
    // Negative and too small.
    assert!(decode_all(&[0xff, 0xff, 0xff, 0xff]).is_err());
    assert!(decode_all(&[0, 0, 0, 3, 0, 0, 0]).is_err());
    // Header length past the frame.
    assert_eq!(
        decode_all(&[0, 0, 0, 5, 0, 0, 0, 9, b'{']),
        Err(FrameError::HeaderPastFrame {
            header: 9,
            total: 5
        })
    );
    // Unknown serialize type.
    assert_eq!(
        decode_all(&[0, 0, 0, 4, 7, 0, 0, 0]),
        Err(FrameError::UnknownSerializeType(7))
    );
    // Partial frames wait for more bytes.
    let whole = frame::encode_to_vec(&fixture_json_response());
    let mut buf = BytesMut::from(&whole[..50]);
    assert_eq!(frame::decode(&mut buf), Ok(None));
    assert_eq!(buf.len(), 50);
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_%|-]{0,24}",
        any::<String>().prop_map(|s| s.chars().take(40).collect()),
    ]
}

prop_compose! {
    fn arb_command()(
        code in -1000i32..32767,
        lang in 0i32..14,
        version in 0i32..32767,
        opaque in any::<i32>(),
        flag in 0i32..4,
        remark in proptest::option::of(arb_text()),
        ext in proptest::collection::vec(("[a-zA-Z]{1,12}", arb_text()), 0..12),
        binary in any::<bool>(),
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) -> RemotingCommand {
                let mut fields = ExtFields::new();
        for (k, v) in ext {
            // In the binary encoding an empty value is how null is written: absent.
            if !(binary && v.is_empty()) {
                fields.insert(k, v);
            }
        }
        // The binary encoding writes an empty remark as "no remark".
        let remark = if binary { remark.filter(|r| !r.is_empty()) } else { remark };
        RemotingCommand {
            code,
            language: LanguageCode::from_code(lang).unwrap_or(LanguageCode::OTHER),
            version,
            opaque,
            flag,
            remark,
            ext: fields,
            serialize_type: if binary { SerializeType::RocketMq } else { SerializeType::Json },
            body: Bytes::from(body),
        }
    }
}

proptest! {
    #[test]
    fn frames_round_trip(cmds in proptest::collection::vec(arb_command(), 1..5)) {
        let mut wire = BytesMut::new();
        for c in &cmds {
            frame::encode(c, &mut wire).unwrap();
        }
        prop_assert_eq!(decode_all(&wire).unwrap(), cmds);
    }

    #[test]
    fn a_head_followed_by_the_body_is_the_whole_frame(cmds in proptest::collection::vec(arb_command(), 1..5)) {
        let mut wire = BytesMut::new();
        for c in &cmds {
            frame::encode_head(c, &mut wire).unwrap();
            wire.extend_from_slice(&c.body);
        }
        let whole: Vec<u8> = cmds.iter().flat_map(frame::encode_to_vec).collect();
        prop_assert_eq!(&wire[..], &whole[..]);
        prop_assert_eq!(decode_all(&wire).unwrap(), cmds);
    }

    #[test]
    fn frames_decode_byte_by_byte(cmd in arb_command()) {
        let wire = frame::encode_to_vec(&cmd);
        let mut buf = BytesMut::new();
        let mut got = None;
        for b in &wire {
            buf.extend_from_slice(&[*b]);
            if let Some(c) = frame::decode(&mut buf).unwrap() {
                got = Some(c);
            }
        }
        prop_assert_eq!(got, Some(cmd));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_all(&bytes);
        let _ = json_header::decode(&bytes);
        let _ = binary_header::decode(&bytes);
        let _ = body::fastjson::parse_lenient(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_frames_never_panic(
        cmd in arb_command(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let mut wire = frame::encode_to_vec(&cmd);
        for (pos, val) in flips {
            let i = pos % wire.len();
            wire[i] = val;
        }
        let cut = cut % (wire.len() + 1);
        let _ = decode_all(&wire[..cut]);
        let _ = decode_all(&wire);
    }
}

/// The JSON header scanner (`json_scan`) against the serde decoder: a header the scanner
/// accepts decodes to exactly what serde gives, and one serde rejects is never accepted.
fn scan_agrees_with_serde(header: &[u8]) -> Result<bool, TestCaseError> {
    let fast = json_scan::scan(header);
    let slow = json_header::decode_with_serde(header);
    match (&fast, &slow) {
        (Some(f), Ok(s)) => prop_assert_eq!(f, s, "{}", String::from_utf8_lossy(header)),
        (Some(f), Err(e)) => prop_assert!(
            false,
            "scanner took what serde rejects ({e}): {f:?} from {}",
            String::from_utf8_lossy(header)
        ),
        (None, _) => {}
    }
    Ok(fast.is_some())
}

fn json_header_of(cmd: &RemotingCommand) -> Vec<u8> {
    let mut out = BytesMut::new();
    json_header::encode(cmd, &mut out);
    out.to_vec()
}

/// One JSON value as clients might write it: mostly shapes the scanner takes, some it
/// leaves to serde, some no decoder takes.
fn arb_json_value() -> impl Strategy<Value = String> {
    let taken = proptest::sample::select(vec![
        "0",
        "7",
        "-12",
        "310",
        "2147483647",
        "123456789012345678",
        "true",
        "false",
        "null",
        r#""""#,
        r#""JAVA""#,
        r#""GO""#,
        r#"" 42 ""#,
        r#""x\"y\\z\/""#,
        r#""\u0001\u0002\t\n""#,
    ]);
    let other = proptest::sample::select(vec![
        "2147483648",
        "-2147483649",
        "00",
        "-0",
        "1.5",
        "1e3",
        "1234567890123456789",
        r#""\ud83d\ude00""#,
        r#""\u+123""#,
        r#""bad \q""#,
        "\"raw\u{1}ctl\"",
        r#"{"a":1}"#,
        "[1,2]",
        "{}",
        "tru",
        "\"unterminated",
    ]);
    prop_oneof![
        6 => taken.prop_map(str::to_owned),
        2 => "[a-zA-Z0-9 ]{0,12}".prop_map(|s| format!("\"{s}\"")),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => other.prop_map(str::to_owned),
    ]
}

fn arb_ext_object() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("null".to_owned()),
        1 => Just("\"text\"".to_owned()),
        8 => proptest::collection::vec(
            (
                proptest::sample::select(vec!["a", "b", "queueId", "k\\u0041", "a"]),
                arb_json_value(),
            ),
            0..6,
        )
        .prop_map(|entries| {
            let body: Vec<String> =
                entries.iter().map(|(k, v)| format!("\"{k}\" : {v}")).collect();
            format!("{{{}}}", body.join(","))
        }),
    ]
}

/// A value for top-level field `key`: mostly of the field's type, sometimes anything.
fn value_for(key: &str, pick: usize, any_value: String, ext: String) -> String {
    const INTS: [&str; 6] = ["0", "-12", "310", "2147483647", r#""34""#, r#"" 5 ""#];
    const LANGUAGES: [&str; 5] = [r#""JAVA""#, r#""GO""#, r#""COBOL""#, "7", "null"];
    const TEXTS: [&str; 4] = [r#""""#, r#""a\"b\\c\/""#, r#""\u0001\u00e9\n""#, "null"];
    if pick % 8 == 0 {
        return any_value;
    }
    let one = |set: &[&str]| set[pick % set.len()].to_owned();
    match key {
        "extFields" => ext,
        "language" => one(&LANGUAGES),
        "remark" | "serializeTypeCurrentRPC" | "other" => one(&TEXTS),
        _ => one(&INTS),
    }
}

/// Top-level members: mostly distinct known fields with `code` among them, sometimes a
/// repeat or an escaped name, in any order.
fn arb_members() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    let names = vec![
        "language",
        "version",
        "opaque",
        "flag",
        "remark",
        "extFields",
        "serializeTypeCurrentRPC",
        "other",
    ];
    (
        proptest::sample::subsequence(names, 0..=8),
        proptest::sample::select(vec!["code", "code", "code", "co\\u0064e", ""]),
        proptest::sample::select(vec!["", "", "", "", "", "", "code", "flag"]),
        proptest::collection::vec((any::<usize>(), arb_json_value(), arb_ext_object()), 10),
        any::<proptest::sample::Index>(),
    )
        .prop_map(|(mut keys, code, repeat, values, at)| {
            if !code.is_empty() {
                keys.insert(at.index(keys.len() + 1), code);
            }
            if !repeat.is_empty() {
                keys.push(repeat);
            }
            keys.iter()
                .zip(values)
                .map(|(k, (pick, v, ext))| (*k, value_for(k, pick, v, ext)))
                .collect()
        })
}

proptest! {
    #[test]
    fn the_scanner_takes_every_header_coremq_writes(cmd in arb_command()) {
        let mut cmd = cmd;
        cmd.serialize_type = SerializeType::Json;
        cmd.body = Bytes::new();
        let header = json_header_of(&cmd);
        prop_assert!(scan_agrees_with_serde(&header)?, "declined {}", String::from_utf8_lossy(&header));
        prop_assert_eq!(json_scan::scan(&header), Some(cmd));
    }

    #[test]
    fn the_scanner_agrees_with_serde_or_declines(
        members in arb_members(),
        pad in proptest::sample::select(vec!["", " ", "\n\t ", "\r\n"]),
        tail in proptest::sample::select(vec!["", "", "", "", "", "\n", " x", "}"]),
    ) {
        let members: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("{pad}\"{k}\"{pad}:{pad}{v}{pad}"))
            .collect();
        let header = format!("{pad}{{{}}}{tail}", members.join(","));
        scan_agrees_with_serde(header.as_bytes())?;
    }
}

proptest! {
    /// Near-misses of valid headers: a JSON-significant byte inserted, replaced or dropped
    /// somewhere in a header coremq writes.
    #[test]
    fn the_scanner_agrees_with_serde_on_edited_headers(
        cmd in arb_command(),
        edits in proptest::collection::vec(
            (
                any::<proptest::sample::Index>(),
                0u8..3,
                proptest::sample::select(b"\x01\"\\{}[],:-.eE0 u/nt".to_vec()),
            ),
            1..4,
        ),
    ) {
        let mut header = json_header_of(&cmd);
        for (at, kind, byte) in edits {
            let i = at.index(header.len());
            match kind {
                0 => header.insert(i, byte),
                1 => header[i] = byte,
                _ => {
                    header.remove(i);
                }
            }
        }
        scan_agrees_with_serde(&header)?;
    }
}

#[test]
fn the_scanner_takes_real_clients_headers_and_declines_the_rest() {
    let taken: [&[u8]; 4] = [
        // Java (fastjson): alphabetical, every value of extFields a string.
        br#"{"code":310,"extFields":{"a":"pg","b":"T","c":"TBW102","d":"4","e":"3","f":"0","g":"1700000000000","h":"0","i":"UNIQ_KEY\u00017F00\u0002WAIT\u0001true\u0002","j":"0","k":"false","m":"false","n":"broker-a"},"flag":0,"language":"JAVA","opaque":12,"serializeTypeCurrentRPC":"JSON","version":401}"#,
        // Go: numbers for the enums, no serializeTypeCurrentRPC.
        br#"{"code":105,"language":"GO","version":317,"opaque":9,"flag":0,"remark":"","extFields":{"topic":"T"}}"#,
        // ali-ons without the nested value: numbers and booleans in extFields, null remark.
        br#"{"code":310,"language":"JAVA","opaque":3,"flag":0,"version":121,"remark":null,"extFields":{"e":0,"g":1700000000000,"k":false,"x":null}}"#,
        // Numeric strings, a language ordinal, blanks everywhere.
        b" { \"code\" : \"34\" ,\n\"language\":7,\"opaque\":\" 5 \",\"extFields\":null}\n",
    ];
    for h in taken {
        assert!(
            json_scan::scan(h).is_some(),
            "{}",
            String::from_utf8_lossy(h)
        );
        assert_eq!(json_scan::scan(h), json_header::decode_with_serde(h).ok());
    }
    let declined: [&[u8]; 10] = [
        br#"{"opaque":1}"#,
        br#"{}"#,
        br#"{"code":310.0}"#,
        br#"{"code":1,"code":2}"#,
        br#"{"code":1,"extFields":{"o":{"a":1}}}"#,
        br#"{"code":1,"remark":5}"#,
        br#"{"code":1,"remark":"\ud83d\ude00"}"#,
        br#"{"code":1} x"#,
        b"{\"code\":1,\"remark\":\"a\x01b\"}",
        br#"{"code":1,"extra":[1]}"#,
    ];
    for h in declined {
        assert_eq!(json_scan::scan(h), None, "{}", String::from_utf8_lossy(h));
    }
    // Declined is not rejected: the serde path still reads the lenient ones.
    assert_eq!(json_header::decode(br#"{"code":310.0}"#).unwrap().code, 310);
    assert!(json_header::decode(br#"{"code":1,"extra":[1]}"#).is_ok());
}
