//! RocketMQ 5 topic attributes as `updateTopic -a` and UPDATE_AND_CREATE_TOPIC's
//! `attributes` field carry them: `+key=value` sets, `-key` removes, comma separated
//! (`+message.type=FIFO`). Only keys RocketMQ defines are accepted, each with its values.

use std::collections::BTreeMap;

/// The attribute holding a topic's message type.
pub const MESSAGE_TYPE: &str = "message.type";
/// Values `message.type` takes.
pub const MESSAGE_TYPES: &[&str] = &["NORMAL", "FIFO", "DELAY", "TRANSACTION", "MIXED"];

/// Applies an attribute change to `current`; the error names the bad item.
pub fn apply(
    current: &BTreeMap<String, String>,
    change: &str,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = current.clone();
    for item in change.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if let Some(key) = item.strip_prefix('-') {
            check_key(key, item)?;
            out.remove(key);
        } else if let Some(kv) = item.strip_prefix('+') {
            let (key, value) = kv
                .split_once('=')
                .ok_or_else(|| format!("attribute {item:?}: expected +key=value"))?;
            check_key(key, item)?;
            let value = value.trim().to_ascii_uppercase();
            if !MESSAGE_TYPES.contains(&value.as_str()) {
                return Err(format!(
                    "attribute {item:?}: {MESSAGE_TYPE} must be one of {}",
                    MESSAGE_TYPES.join(", ")
                ));
            }
            out.insert(key.to_owned(), value);
        } else {
            return Err(format!(
                "attribute {item:?}: expected +key=value to set or -key to remove"
            ));
        }
    }
    Ok(out)
}

fn check_key(key: &str, item: &str) -> Result<(), String> {
    if key == MESSAGE_TYPE {
        Ok(())
    } else {
        Err(format!(
            "attribute {item:?}: unknown key {key:?} (topics take {MESSAGE_TYPE})"
        ))
    }
}

/// The wire form of a set of attributes (`+k=v,...`).
pub fn encode(attrs: &BTreeMap<String, String>) -> String {
    attrs
        .iter()
        .map(|(k, v)| format!("+{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replace_and_remove() {
        let a = apply(&BTreeMap::new(), "+message.type=fifo").unwrap();
        assert_eq!(a[MESSAGE_TYPE], "FIFO");
        assert_eq!(encode(&a), "+message.type=FIFO");
        let b = apply(&a, "+message.type=DELAY").unwrap();
        assert_eq!(b[MESSAGE_TYPE], "DELAY");
        assert!(apply(&b, "-message.type").unwrap().is_empty());
    }

    #[test]
    fn bad_items_are_named() {
        for bad in [
            "message.type=FIFO",
            "+message.type",
            "+queue.type=X",
            "+message.type=LIFO",
        ] {
            let e = apply(&BTreeMap::new(), bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }
}
