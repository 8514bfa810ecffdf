//! Java `.properties` files, parsed by `java.util.Properties.load`'s rules: `#`/`!` comment
//! lines; a key ends at the first unescaped `=`, `:` or white space; the separator may be
//! surrounded by white space; a line ending in an odd number of backslashes continues on the
//! next (whose leading white space is skipped); `\t \n \r \f \uXXXX` escapes, and `\x` is
//! `x`. One difference on purpose: trailing white space of a value is dropped (a stray
//! space after `brokerRole=SLAVE` is a classic mistake; RocketMQ trims too).

/// One `key=value` entry with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// Line where the entry starts.
    pub line: usize,
}

/// The `key=value` pairs of a run-time config update's body (UPDATE_BROKER_CONFIG,
/// UPDATE_NAMESRV_CONFIG), or RocketMQ's remark when it is not text.
pub fn changes_of(body: &[u8]) -> Result<Vec<(String, String)>, &'static str> {
    let text =
        std::str::from_utf8(body).map_err(|_| "string2Properties error: the body is not UTF-8")?;
    Ok(parse(text).into_iter().map(|e| (e.key, e.value)).collect())
}

/// Parses properties text into entries in file order.
pub fn parse(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut i = 0;
    while i < lines.len() {
        let start_line = i + 1;
        let first = lines[i].trim_start();
        i += 1;
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        // Join continuation lines.
        let mut logical = String::from(first);
        while ends_with_odd_backslashes(&logical) && i < lines.len() {
            logical.pop();
            logical.push_str(lines[i].trim_start());
            i += 1;
        }
        if ends_with_odd_backslashes(&logical) {
            logical.pop(); // a final dangling backslash continues into nothing
        }
        let (key, value) = split_key_value(&logical);
        out.push(Entry {
            key: unescape(key),
            value: unescape(value).trim_end().to_owned(),
            line: start_line,
        });
    }
    out
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.bytes().rev().take_while(|b| *b == b'\\').count() % 2 == 1
}

/// Splits a logical line at the first unescaped separator.
fn split_key_value(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut key_end = bytes.len();
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | b'\x0c' => {
                key_end = i;
                break;
            }
            _ => i += 1,
        }
    }
    let key_end = key_end.min(bytes.len());
    let mut j = key_end;
    while j < bytes.len() && matches!(bytes[j], b' ' | b'\t' | b'\x0c') {
        j += 1;
    }
    if j < bytes.len() && matches!(bytes[j], b'=' | b':') {
        j += 1;
        while j < bytes.len() && matches!(bytes[j], b' ' | b'\t' | b'\x0c') {
            j += 1;
        }
    }
    (&line[..key_end], &line[j..])
}

/// Applies Java's escapes.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) if hex.len() == 4 => out.push(ch),
                    _ => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(text: &str) -> Vec<(String, String)> {
        parse(text).into_iter().map(|e| (e.key, e.value)).collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_rocketmq_style_files() {
        let text = "# comment\n! also\nbrokerName=broker-a\nlistenPort = 10911\n\n  deleteWhen=04  \nkey:v\nlong=a\\\n  b\nflag\n";
        assert_eq!(
            kv(text),
            pairs(&[
                ("brokerName", "broker-a"),
                ("listenPort", "10911"),
                ("deleteWhen", "04"),
                ("key", "v"),
                ("long", "ab"),
                ("flag", ""),
            ])
        );
        assert_eq!(parse(text)[1].line, 4);
    }

    #[test]
    fn follows_java_rules_for_separators_and_escapes() {
        // White space ends the key.
        assert_eq!(
            kv("namesrvAddr 127.0.0.1:9876"),
            pairs(&[("namesrvAddr", "127.0.0.1:9876")])
        );
        assert_eq!(kv("a : b"), pairs(&[("a", "b")]));
        // An escaped separator is part of the key; escapes in values.
        assert_eq!(kv("a\\=b=c\\td"), pairs(&[("a=b", "c\td")]));
        assert_eq!(kv("u=\\u0041\\u00e9"), pairs(&[("u", "Aé")]));
        // An even number of trailing backslashes is a literal backslash, not a continuation.
        assert_eq!(
            kv("path=C:\\\\\nnext=1"),
            pairs(&[("path", "C:\\"), ("next", "1")])
        );
        // CRLF files.
        assert_eq!(kv("a=1\r\nb=2\r\n"), pairs(&[("a", "1"), ("b", "2")]));
    }
}
