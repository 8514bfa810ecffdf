//! Request signing of RocketMQ 4.x's plain ACL (`AclClientRPCHook` / `PlainAccessValidator`).
//!
//! The signed content is the *values* of every ext field except `Signature`, in the order
//! of their keys (Java's `TreeMap<String, String>`), concatenated as UTF-8, followed by the
//! body bytes. The signature is HMAC-SHA1 of that content keyed with the secret key's UTF-8
//! bytes, base64-encoded (standard alphabet, padded) into the `Signature` field. The client
//! adds `AccessKey` (and `SecurityToken` when it has one) before signing, so they are part
//! of the content. The broker leaves `_UNIQUE_KEY_QUERY` out of the content as well.
//!
//! Java orders keys by UTF-16 code units; coremq by bytes. The two agree on every key below
//! U+E000 (all real header keys are ASCII).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::RemotingCommand;

/// Ext field carrying the account's access key.
pub const ACCESS_KEY: &str = "AccessKey";
/// Ext field carrying the base64 HMAC-SHA1 signature.
pub const SIGNATURE: &str = "Signature";
/// Ext field carrying an optional security token (signed like any other field).
pub const SECURITY_TOKEN: &str = "SecurityToken";
/// Ext field the broker leaves out of the signed content (RocketMQ's
/// `MixAll.UNIQUE_MSG_QUERY_FLAG`).
pub const UNIQUE_KEY_QUERY: &str = "_UNIQUE_KEY_QUERY";

type HmacSha1 = Hmac<Sha1>;

/// An account's keys. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key, sent in every request.
    pub access_key: String,
    /// The secret key, never sent: it keys the signature.
    pub secret_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// Keys from their two parts.
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Credentials {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
        }
    }
}

fn mac_over<'a>(secret_key: &str, values: impl Iterator<Item = &'a str>, body: &[u8]) -> HmacSha1 {
    // HMAC takes keys of any length: new_from_slice cannot fail for it.
    let mut mac = HmacSha1::new_from_slice(secret_key.as_bytes()).expect("HMAC accepts any key");
    for v in values {
        mac.update(v.as_bytes());
    }
    mac.update(body);
    mac
}

/// The ext field values in key order, leaving out the keys `skip` names.
fn sorted_values<'a>(req: &'a RemotingCommand, skip: &[&str]) -> Vec<&'a str> {
    let mut fields: Vec<(&str, &str)> = req.ext.iter().filter(|(k, _)| !skip.contains(k)).collect();
    fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
    fields.into_iter().map(|(_, v)| v).collect()
}

/// The signature RocketMQ computes over `values` (already in key order) and `body`.
pub fn signature<'a>(
    secret_key: &str,
    values: impl Iterator<Item = &'a str>,
    body: &[u8],
) -> String {
    let tag = mac_over(secret_key, values, body).finalize().into_bytes();
    base64::engine::general_purpose::STANDARD.encode(tag)
}

/// Signs a request as `AclClientRPCHook` does: adds `AccessKey`, then `Signature` over
/// every other field and the body. Call it last, once the request is complete.
pub fn sign(req: &mut RemotingCommand, creds: &Credentials) {
    req.ext.insert(ACCESS_KEY, creds.access_key.as_str());
    let sig = signature(
        &creds.secret_key,
        sorted_values(req, &[SIGNATURE]).into_iter(),
        &req.body,
    );
    req.ext.insert(SIGNATURE, sig);
}

/// True when the request's `Signature` is the one `secret_key` gives its content (the
/// broker's view: `_UNIQUE_KEY_QUERY` is not signed). Compares in constant time.
pub fn verify(req: &RemotingCommand, secret_key: &str) -> bool {
    let Some(given) = req.ext.get(SIGNATURE) else {
        return false;
    };
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(given) else {
        return false;
    };
    let values = sorted_values(req, &[SIGNATURE, UNIQUE_KEY_QUERY]);
    mac_over(secret_key, values.into_iter(), &req.body)
        .verify_slice(&given)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ExtFields;

    fn request(fields: &[(&str, &str)], body: &'static [u8]) -> RemotingCommand {
        let mut ext = ExtFields::new();
        for (k, v) in fields {
            ext.insert(*k, *v);
        }
        RemotingCommand::request(310, ext).with_body(body)
    }

    /// Vectors computed independently with Python's hmac/hashlib/base64 following
    /// RocketMQ's layout: values sorted by key, Signature left out, body appended.
    #[test]
    fn known_vectors() {
        // python3: data = b"rocketmq2please_renameTopicTest4Hello RocketMQ"
        let r = request(
            &[
                ("b", "TopicTest"),
                ("a", "please_rename"),
                ("AccessKey", "rocketmq2"),
                ("d", "4"),
            ],
            b"Hello RocketMQ",
        );
        let values = sorted_values(&r, &[SIGNATURE]);
        assert_eq!(values, ["rocketmq2", "please_rename", "TopicTest", "4"]);
        assert_eq!(
            signature("12345678", values.into_iter(), &r.body),
            "MoR03jVx7uRzhio1yI8OeO9NMc8="
        );
        assert_eq!(
            signature("12345678", ["rocketmq2"].into_iter(), b""),
            "Ou1T58RIcyZWaTIwzkhJZWn/Zvs="
        );
    }

    #[test]
    fn signed_requests_verify_and_any_change_breaks_them() {
        let creds = Credentials::new("rocketmq2", "12345678");
        let mut r = request(
            &[("b", "TopicTest"), ("a", "please_rename"), ("d", "4")],
            b"Hello RocketMQ",
        );
        sign(&mut r, &creds);
        assert_eq!(r.ext.get(SIGNATURE), Some("MoR03jVx7uRzhio1yI8OeO9NMc8="));
        assert!(verify(&r, "12345678"));
        assert!(!verify(&r, "12345679"), "another secret");
        // Re-signing replaces the old signature rather than signing it.
        sign(&mut r, &creds);
        assert!(verify(&r, "12345678"));
        let mut tampered = r.clone();
        tampered.ext.insert("b", "OtherTopic");
        assert!(!verify(&tampered, "12345678"));
        let tampered = r.clone().with_body(&b"Hello RocketMQ!"[..]);
        assert!(!verify(&tampered, "12345678"));
        // The broker does not sign the unique-key query flag.
        let mut flagged = r.clone();
        flagged.ext.insert(UNIQUE_KEY_QUERY, "true");
        assert!(verify(&flagged, "12345678"));
        let mut unsigned = r.clone();
        unsigned.ext = ExtFields::new();
        assert!(!verify(&unsigned, "12345678"));
    }

    /// Frames Apache RocketMQ 4.9.8's benchmark Producer and Consumer sent (captured on
    /// loopback, signed as appUser / appUser123): their binary headers carry every field
    /// twice, and the signature covers each key once, as the Java broker reads them.
    #[test]
    fn java_4_9_8_frames_with_every_field_twice_verify() {
        for (name, code, keys) in [("send_message_v2", 310, 15), ("pull_message", 11, 13)] {
            let path = format!(
                "{}/tests/fixtures/java-4.9.8/{name}.bin",
                env!("CARGO_MANIFEST_DIR")
            );
            let mut buf = bytes::BytesMut::from(&std::fs::read(&path).unwrap()[..]);
            let r = crate::protocol::frame::decode(&mut buf).unwrap().unwrap();
            assert_eq!((r.code, r.ext.len()), (code, keys), "{name}: {:?}", r.ext);
            assert!(verify(&r, "appUser123"), "{name}");
            assert!(!verify(&r, "appUser124"), "{name}");
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let s = format!("{:?}", Credentials::new("ak-visible", "sk-hidden"));
        assert!(s.contains("ak-visible") && !s.contains("sk-hidden"), "{s}");
    }
}
