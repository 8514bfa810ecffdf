//! Java `.properties` files: `key=value`, `key = value`, `key:value`, `#`/`!` comments,
//! surrounding white space ignored, `\` at the end of a line continues it.

/// One `key=value` entry with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// The value, trimmed.
    pub value: String,
    /// Line where the entry starts.
    pub line: usize,
}

/// Parses properties text into entries in file order.
pub fn parse(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, raw)) = lines.next() {
        let mut line = raw.trim().to_owned();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        while line.ends_with('\\') {
            line.pop();
            match lines.next() {
                Some((_, next)) => line.push_str(next.trim()),
                None => break,
            }
        }
        let (key, value) = match line.find(['=', ':']) {
            Some(pos) => (&line[..pos], &line[pos + 1..]),
            None => match line.find(char::is_whitespace) {
                Some(pos) => (&line[..pos], &line[pos..]),
                None => (line.as_str(), ""),
            },
        };
        out.push(Entry {
            key: key.trim().to_owned(),
            value: value.trim().to_owned(),
            line: i + 1,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rocketmq_style_files() {
        let text = "# comment\n! also\nbrokerName=broker-a\nlistenPort = 10911\n\n  deleteWhen=04  \nkey:v\nlong=a\\\n  b\nflag\n";
        let e = parse(text);
        let kv: Vec<(&str, &str)> = e
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            kv,
            vec![
                ("brokerName", "broker-a"),
                ("listenPort", "10911"),
                ("deleteWhen", "04"),
                ("key", "v"),
                ("long", "ab"),
                ("flag", ""),
            ]
        );
        assert_eq!(e[1].line, 4);
    }
}
