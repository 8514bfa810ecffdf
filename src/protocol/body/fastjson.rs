//! fastjson's non-standard JSON: maps keyed by objects and unquoted numeric keys (spec §5.1).
//!
//! Java's mqadmin can only read MessageQueue-keyed maps (TopicStatsTable, ConsumeStats, ...)
//! when the key is written as an object, `{{"brokerName":"b","queueId":0,"topic":"t"}:{...}}`,
//! which standard JSON cannot express. [`write_object_keyed_map`] writes that form;
//! [`parse_lenient`] reads it (and unquoted numeric keys) into a standard `serde_json::Value`
//! whose keys are the key's compact JSON text, so typed bodies then deserialize with serde.

use serde::Serialize;
use serde_json::{Map, Value};

/// Deepest nesting accepted by [`parse_lenient`]; deeper input is refused, not recursed.
pub const MAX_JSON_DEPTH: usize = 64;

/// Writes `{key:value,...}` with each key serialized as JSON (objects stay objects).
pub fn write_object_keyed_map<'a, K, V, I>(entries: I) -> String
where
    K: Serialize + 'a,
    V: Serialize + 'a,
    I: IntoIterator<Item = (&'a K, &'a V)>,
{
    let mut out = String::from("{");
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Serializing plain data structs into a String cannot fail.
        out.push_str(&serde_json::to_string(k).unwrap_or_default());
        out.push(':');
        out.push_str(&serde_json::to_string(v).unwrap_or_default());
    }
    out.push('}');
    out
}

/// The entries of a map written with object keys (as [`write_object_keyed_map`] writes
/// them), from a value [`parse_lenient`] read: each key and value decoded, or why not.
/// Anything but an object has no entries.
pub fn object_keyed_entries<'a, K, V>(
    map: &'a Value,
) -> impl Iterator<Item = Result<(K, V), String>> + 'a
where
    K: serde::de::DeserializeOwned,
    V: serde::de::DeserializeOwned,
{
    map.as_object().into_iter().flatten().map(|(k, v)| {
        let key = serde_json::from_str(k).map_err(|e| format!("key {k}: {e}"))?;
        let value = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        Ok((key, value))
    })
}

/// Parses JSON that may use object or unquoted-number keys.
pub fn parse_lenient(text: &str) -> Result<Value, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("trailing characters at {}", p.i));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_JSON_DEPTH {
            return Err("nesting too deep".into());
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(_) => self.scalar(),
            None => Err("unexpected end".into()),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, String> {
        self.i += 1;
        let mut map = Map::new();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Value::Object(map));
        }
        loop {
            let key = match self.peek() {
                Some(b'"') => match self.scalar()? {
                    Value::String(s) => s,
                    _ => return Err("bad key".into()),
                },
                Some(b'{') | Some(b'[') => self.value(depth + 1)?.to_string(),
                Some(_) => self.bare_token()?.to_owned(),
                None => return Err("unexpected end in object".into()),
            };
            if self.peek() != Some(b':') {
                return Err(format!("expected ':' at {}", self.i));
            }
            self.i += 1;
            let v = self.value(depth + 1)?;
            map.insert(key, v);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Object(map));
                }
                _ => return Err(format!("expected ',' or '}}' at {}", self.i)),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, String> {
        self.i += 1;
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(format!("expected ',' or ']' at {}", self.i)),
            }
        }
    }

    /// A bare token: number, true, false, null (or an unquoted key).
    fn bare_token(&mut self) -> Result<&str, String> {
        let start = self.i;
        while self.i < self.s.len()
            && !matches!(
                self.s[self.i],
                b',' | b':' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'
            )
        {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| format!("bad token at {start}"))
    }

    /// A string or bare scalar, delegated to serde_json for exact number/escape rules.
    fn scalar(&mut self) -> Result<Value, String> {
        let start = self.i;
        if self.s[self.i] == b'"' {
            self.i += 1;
            while self.i < self.s.len() && self.s[self.i] != b'"' {
                self.i += if self.s[self.i] == b'\\' { 2 } else { 1 };
            }
            if self.i >= self.s.len() {
                return Err("unterminated string".into());
            }
            self.i += 1;
            return serde_json::from_slice(&self.s[start..self.i]).map_err(|e| e.to_string());
        }
        let tok = self.bare_token()?;
        serde_json::from_str(tok).map_err(|e| format!("bad scalar {tok:?}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
    #[serde(rename_all = "camelCase")]
    struct Mq {
        broker_name: String,
        queue_id: i32,
        topic: String,
    }

    #[test]
    fn object_keys_round_trip() {
        let mut m = BTreeMap::new();
        m.insert(
            Mq {
                broker_name: "b".into(),
                queue_id: 0,
                topic: "t".into(),
            },
            3i64,
        );
        let text = write_object_keyed_map(&m);
        assert_eq!(text, r#"{{"brokerName":"b","queueId":0,"topic":"t"}:3}"#);
        let v = parse_lenient(&text).unwrap();
        let key = v.as_object().unwrap().keys().next().unwrap().clone();
        let back: serde_json::Value = serde_json::from_str(&key).unwrap();
        assert_eq!(back["queueId"], 0);
    }

    #[test]
    fn unquoted_numeric_keys_and_standard_json() {
        let v =
            parse_lenient(r#"{"brokerAddrs":{0:"a:1", "1" : "b:2"},"x":[1.5,true,null,"s\"q"]}"#)
                .unwrap();
        assert_eq!(v["brokerAddrs"]["0"], "a:1");
        assert_eq!(v["brokerAddrs"]["1"], "b:2");
        assert_eq!(v["x"][3], "s\"q");
    }

    #[test]
    fn hostile_input_is_refused_without_panicking() {
        let deep = "[".repeat(10_000);
        assert!(parse_lenient(&deep).is_err());
        for bad in ["", "{", "{\"a\"", "{\"a\":}", "[1,", "\"abc", "{1:2,}", "}"] {
            assert!(parse_lenient(bad).is_err(), "{bad}");
        }
    }
}
