//! mqadmin's output: rows formatted with Java `printf` patterns copied from mqadmin (so
//! scripts that `awk` its columns keep working), or the same rows as JSON (`--json`).

use serde_json::{Map, Value};

/// Formats `values` with a printf pattern of `%s`, `%-Ns`, `%Ns`, `%d`, `%-Nd`, `%Nd`
/// directives (values are already text; `d` pads like `s`).
pub fn printf(pattern: &str, values: &[String]) -> String {
    let mut out = String::new();
    let mut args = values.iter();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let left = chars.next_if_eq(&'-').is_some();
        let mut width = 0usize;
        while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
            width = width * 10 + d as usize;
            chars.next();
        }
        let _conv = chars.next();
        let v = args.next().map(String::as_str).unwrap_or("");
        let pad = width.saturating_sub(v.chars().count());
        if left {
            out.push_str(v);
            out.extend(std::iter::repeat_n(' ', pad));
        } else {
            out.extend(std::iter::repeat_n(' ', pad));
            out.push_str(v);
        }
    }
    out
}

/// A table: a header and rows, printed with patterns or as JSON.
pub struct Table {
    header_pattern: &'static str,
    row_pattern: &'static str,
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    footer: Vec<(String, String)>,
}

impl Table {
    /// A table whose header and rows use these patterns; `columns` are the header texts.
    pub fn new(
        header_pattern: &'static str,
        row_pattern: &'static str,
        columns: &[&'static str],
    ) -> Self {
        Table {
            header_pattern,
            row_pattern,
            columns: columns.to_vec(),
            rows: Vec::new(),
            footer: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, values: Vec<String>) {
        self.rows.push(values);
    }

    /// Adds a trailing `label: value` line (printed after a blank line).
    pub fn footer(&mut self, label: &str, value: String) {
        self.footer.push((label.to_owned(), value));
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The text mqadmin prints.
    pub fn render(&self) -> String {
        let header: Vec<String> = self.columns.iter().map(|c| (*c).to_owned()).collect();
        let mut out = printf(self.header_pattern, &header);
        out.push('\n');
        for r in &self.rows {
            out.push_str(&printf(self.row_pattern, r));
            out.push('\n');
        }
        if !self.footer.is_empty() {
            out.push('\n');
            for (k, v) in &self.footer {
                out.push_str(&format!("{k}: {v}\n"));
            }
        }
        out
    }

    /// `{"rows":[{column: value}], ...footer}`, column names without `#`.
    pub fn to_json(&self) -> String {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                let m: Map<String, Value> = self
                    .columns
                    .iter()
                    .zip(r)
                    .map(|(c, v)| {
                        (
                            c.trim_start_matches('#').to_owned(),
                            Value::String(v.trim().to_owned()),
                        )
                    })
                    .collect();
                Value::Object(m)
            })
            .collect();
        let mut top = Map::new();
        top.insert("rows".into(), Value::Array(rows));
        for (k, v) in &self.footer {
            top.insert(k.clone(), Value::String(v.clone()));
        }
        serde_json::to_string_pretty(&Value::Object(top)).unwrap_or_default() + "\n"
    }
}

/// Local time as mqadmin prints it, `yyyy-MM-dd HH:mm:ss,SSS` (`with_ms` false drops `,SSS`).
pub fn local_time(ms: i64, with_ms: bool) -> String {
    let secs = (ms / 1000) as libc::time_t;
    // SAFETY: localtime_r fills the zeroed struct from a valid time_t.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&secs, &mut tm) }.is_null() {
        return ms.to_string();
    }
    let base = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    );
    if with_ms {
        format!("{base},{:03}", ms.rem_euclid(1000))
    } else {
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_patterns_like_java() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            printf("%-6s|%4s|%d", &v(&["ab", "c", "7"])),
            "ab    |   c|7"
        );
        assert_eq!(printf("%-2s  x", &v(&["long"])), "long  x");
        let mut t = Table::new("%-8s  %s", "%-8s  %s", &["#Topic", "#QID"]);
        t.row(v(&["T", "0"]));
        t.footer("Diff Total", "3".into());
        assert_eq!(t.render(), "#Topic    #QID\nT         0\n\nDiff Total: 3\n");
        let j: Value = serde_json::from_str(&t.to_json()).unwrap();
        assert_eq!(j["rows"][0]["QID"], "0");
        assert_eq!(j["Diff Total"], "3");
        assert_eq!(local_time(1_700_000_000_123, true).len(), 23);
    }
}
