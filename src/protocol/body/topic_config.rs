//! TopicConfig, its serialize wrapper, and RegisterBrokerBody (REGISTER_BROKER body, §5.10).

use std::collections::BTreeMap;
use std::io::Read as _;

use serde::{Deserialize, Serialize};

use super::small::DataVersion;

/// Largest inflated size accepted for a compressed register body (guards against zip bombs).
pub const MAX_INFLATED_REGISTER_BYTES: u64 = 64 * 1024 * 1024;

/// One topic's configuration on a broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfig {
    /// Topic name.
    pub topic_name: String,
    /// Readable queues.
    pub read_queue_nums: i32,
    /// Writable queues.
    pub write_queue_nums: i32,
    /// Permission bits.
    pub perm: i32,
    /// `SINGLE_TAG` or `MULTI_TAG`.
    pub topic_filter_type: String,
    /// Topic system flag.
    pub topic_sys_flag: i32,
    /// Ordered topic.
    pub order: bool,
    /// 5.x attributes.
    pub attributes: BTreeMap<String, String>,
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            topic_name: String::new(),
            read_queue_nums: 16,
            write_queue_nums: 16,
            perm: 6,
            topic_filter_type: "SINGLE_TAG".into(),
            topic_sys_flag: 0,
            order: false,
            attributes: BTreeMap::new(),
        }
    }
}

impl TopicConfig {
    /// A read-write topic with `queues` read and write queues and default settings.
    pub fn new(name: &str, queues: i32) -> Self {
        TopicConfig {
            topic_name: name.to_owned(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            ..TopicConfig::default()
        }
    }
}

/// A broker's topic table with its version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfigSerializeWrapper {
    /// Topic name → config.
    pub topic_config_table: BTreeMap<String, TopicConfig>,
    /// Version of this table.
    pub data_version: DataVersion,
}

/// REGISTER_BROKER body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct RegisterBrokerBody {
    /// The broker's topics.
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
    /// Filter server addresses (unused by coremq, accepted from Java brokers).
    pub filter_server_list: Vec<String>,
}

impl RegisterBrokerBody {
    /// The body a broker sends for `topics` at `data_version`.
    pub fn new(topics: impl IntoIterator<Item = TopicConfig>, data_version: DataVersion) -> Self {
        RegisterBrokerBody {
            topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
                topic_config_table: topics
                    .into_iter()
                    .map(|t| (t.topic_name.clone(), t))
                    .collect(),
                data_version,
            },
            filter_server_list: Vec::new(),
        }
    }
}

/// Why a register body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RegisterBodyError {
    /// The JSON does not parse.
    #[error("register body is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The zlib stream or its framing is broken.
    #[error("compressed register body: {0}")]
    Compressed(String),
}

/// `MQVersion` ordinal below which brokers sent the bare wrapper (V3_0_11).
const V3_0_11: i32 = 37;

impl RegisterBrokerBody {
    /// Decodes a body as a broker of `version` sent it, `compressed` per the header.
    pub fn decode(body: &[u8], compressed: bool, version: i32) -> Result<Self, RegisterBodyError> {
        if body.is_empty() {
            return Ok(Self::default());
        }
        if compressed {
            return Self::decode_compressed(body);
        }
        // Brokers older than V3_0_11 sent the bare wrapper. Decide by shape, not only by the
        // header's version (a missing version reads as 0 and must not drop every topic).
        let v: serde_json::Value = serde_json::from_slice(body)?;
        let full = v.get("topicConfigSerializeWrapper").is_some();
        let bare = !full && (v.get("topicConfigTable").is_some() || version < V3_0_11);
        if bare {
            return Ok(RegisterBrokerBody {
                topic_config_serialize_wrapper: serde_json::from_value(v)?,
                filter_server_list: Vec::new(),
            });
        }
        Ok(serde_json::from_value(v)?)
    }

    /// The zlib form: DataVersion JSON, topic count, topics as `name read write perm filter`
    /// text, filter-server JSON, each prefixed by an int32 length.
    fn decode_compressed(body: &[u8]) -> Result<Self, RegisterBodyError> {
        let mut inflated = Vec::new();
        flate2::read::ZlibDecoder::new(body)
            .take(MAX_INFLATED_REGISTER_BYTES)
            .read_to_end(&mut inflated)
            .map_err(|e| RegisterBodyError::Compressed(e.to_string()))?;
        let mut r = LenReader(&inflated);
        let data_version: DataVersion = serde_json::from_slice(r.chunk()?)?;
        let count = r.int()?;
        let mut table = BTreeMap::new();
        for _ in 0..count {
            let text = std::str::from_utf8(r.chunk()?)
                .map_err(|_| RegisterBodyError::Compressed("topic config is not UTF-8".into()))?;
            let tc = parse_topic_config_text(text)?;
            table.insert(tc.topic_name.clone(), tc);
        }
        let filter_server_list = serde_json::from_slice(r.chunk()?)?;
        Ok(RegisterBrokerBody {
            topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
                topic_config_table: table,
                data_version,
            },
            filter_server_list,
        })
    }
}

/// Java `TopicConfig.decode`: `name read write perm filterType [attributes-json]`.
fn parse_topic_config_text(text: &str) -> Result<TopicConfig, RegisterBodyError> {
    let bad = || RegisterBodyError::Compressed(format!("bad topic config text {text:?}"));
    let f: Vec<&str> = text.split(' ').collect();
    if f.len() < 5 {
        return Err(bad());
    }
    Ok(TopicConfig {
        topic_name: f[0].to_owned(),
        read_queue_nums: f[1].parse().map_err(|_| bad())?,
        write_queue_nums: f[2].parse().map_err(|_| bad())?,
        perm: f[3].parse().map_err(|_| bad())?,
        topic_filter_type: f[4].to_owned(),
        ..TopicConfig::default()
    })
}

struct LenReader<'a>(&'a [u8]);

impl<'a> LenReader<'a> {
    fn int(&mut self) -> Result<usize, RegisterBodyError> {
        if self.0.len() < 4 {
            return Err(RegisterBodyError::Compressed("truncated".into()));
        }
        let n = i32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]]);
        self.0 = &self.0[4..];
        usize::try_from(n)
            .map_err(|_| RegisterBodyError::Compressed(format!("negative length {n}")))
    }
    fn chunk(&mut self) -> Result<&'a [u8], RegisterBodyError> {
        let n = self.int()?;
        if self.0.len() < n {
            return Err(RegisterBodyError::Compressed("truncated".into()));
        }
        let (c, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn decodes_java_shaped_body() {
        let body = br#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":7,"stateVersion":0,"timestamp":1700000000000},"topicConfigTable":{"TopicTest":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"TopicTest","topicSysFlag":0,"writeQueueNums":4,"attributes":{}}}}}"#;
        let b = RegisterBrokerBody::decode(body, false, 409).unwrap();
        let w = &b.topic_config_serialize_wrapper;
        assert_eq!(w.data_version.counter, 7);
        assert_eq!(w.topic_config_table["TopicTest"].write_queue_nums, 4);
        // A header without a version (0) still gets its topics.
        let b = RegisterBrokerBody::decode(body, false, 0).unwrap();
        assert_eq!(b.topic_config_serialize_wrapper.topic_config_table.len(), 1);
        // The old bare-wrapper form.
        let bare = br#"{"dataVersion":{"counter":1},"topicConfigTable":{"T":{"topicName":"T","readQueueNums":2,"writeQueueNums":2,"perm":6}}}"#;
        let b = RegisterBrokerBody::decode(bare, false, 30).unwrap();
        assert_eq!(
            b.topic_config_serialize_wrapper.topic_config_table["T"].read_queue_nums,
            2
        );
    }

    #[test]
    fn decodes_compressed_body() {
        let mut raw = Vec::new();
        let dv = br#"{"counter":2,"timestamp":5}"#;
        raw.extend_from_slice(&(dv.len() as i32).to_be_bytes());
        raw.extend_from_slice(dv);
        raw.extend_from_slice(&1i32.to_be_bytes());
        let tc = b"T1 4 4 6 SINGLE_TAG";
        raw.extend_from_slice(&(tc.len() as i32).to_be_bytes());
        raw.extend_from_slice(tc);
        raw.extend_from_slice(&2i32.to_be_bytes());
        raw.extend_from_slice(b"[]");
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&raw).unwrap();
        let b = RegisterBrokerBody::decode(&z.finish().unwrap(), true, 409).unwrap();
        assert_eq!(b.topic_config_serialize_wrapper.data_version.counter, 2);
        assert_eq!(
            b.topic_config_serialize_wrapper.topic_config_table["T1"].perm,
            6
        );
        assert!(RegisterBrokerBody::decode(b"\x78garbage", true, 409).is_err());
    }
}
