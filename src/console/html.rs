//! Page frame and HTML helpers: every page is rendered on the server as one string, with
//! every value escaped here.

use std::fmt::Write as _;

/// Escapes text for an HTML body or a quoted attribute.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a value for a query string.
pub fn url(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The pages of the top bar: (path, label).
pub const TABS: &[(&str, &str)] = &[
    ("/cluster", "Cluster"),
    ("/topics", "Topics"),
    ("/groups", "Consumer groups"),
    ("/messages", "Messages"),
    ("/producers", "Producers"),
];

/// What an action did, shown above the page.
pub struct Flash {
    /// The action succeeded.
    pub ok: bool,
    /// What to say (plain text; multi-line output is kept as is).
    pub text: String,
}

impl Flash {
    /// A success.
    pub fn ok(text: impl Into<String>) -> Self {
        Flash {
            ok: true,
            text: text.into(),
        }
    }

    /// A failure.
    pub fn error(text: impl Into<String>) -> Self {
        Flash {
            ok: false,
            text: text.into(),
        }
    }
}

/// Who looks at the page, and what they may do.
pub struct Viewer<'a> {
    /// Logged-in user (None when the console has no login).
    pub user: Option<&'a str>,
    /// Actions hidden.
    pub read_only: bool,
}

/// A whole page: top bar, the flash message if any, then `body`.
pub fn page(
    title: &str,
    active: &str,
    viewer: &Viewer,
    flash: Option<&Flash>,
    body: &str,
) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{} · coremq console</title>\
         <link rel=\"stylesheet\" href=\"/static/console.css\">\
         <script src=\"/static/console.js\" defer></script></head><body>\
         <nav class=\"top\"><span class=\"brand\">coremq</span>",
        esc(title)
    );
    for (path, label) in TABS {
        let class = if *path == active {
            " class=\"active\""
        } else {
            ""
        };
        let _ = write!(out, "<a href=\"{path}\"{class}>{label}</a>");
    }
    out.push_str("<span class=\"who\">");
    if viewer.read_only {
        out.push_str("<span class=\"badge\" id=\"read-only\">read-only</span> ");
    }
    if let Some(user) = viewer.user {
        let _ = write!(
            out,
            "{} <form method=\"post\" action=\"/logout\" class=\"inline\">\
             <button type=\"submit\" id=\"logout\">log out</button></form>",
            esc(user)
        );
    }
    out.push_str("</span></nav><main>");
    let _ = write!(out, "<h1>{}</h1>", esc(title));
    if let Some(f) = flash {
        let (class, id) = if f.ok {
            ("flash ok", "flash-ok")
        } else {
            ("flash error", "flash-error")
        };
        let _ = write!(
            out,
            "<pre class=\"{class}\" id=\"{id}\">{}</pre>",
            esc(f.text.trim_end())
        );
    }
    out.push_str(body);
    out.push_str("</main></body></html>");
    out
}

/// A table: a header row, then rows of already-escaped cells.
pub struct Table {
    html: String,
}

impl Table {
    /// A table with an id and column labels.
    pub fn new(id: &str, columns: &[&str]) -> Self {
        let mut html = format!("<table id=\"{}\"><thead><tr>", esc(id));
        for c in columns {
            let _ = write!(html, "<th>{}</th>", esc(c));
        }
        html.push_str("</tr></thead><tbody>");
        Table { html }
    }

    /// A row of cells that are HTML already (escape text with [`esc`]).
    pub fn row(&mut self, cells: &[String]) {
        self.html.push_str("<tr>");
        for c in cells {
            let _ = write!(self.html, "<td>{c}</td>");
        }
        self.html.push_str("</tr>");
    }

    /// The table's HTML.
    pub fn finish(mut self) -> String {
        self.html.push_str("</tbody></table>");
        self.html
    }
}

/// A link to `path?key=value`.
pub fn link(path: &str, key: &str, value: &str, text: &str) -> String {
    format!(
        "<a href=\"{path}?{key}={}\">{}</a>",
        esc(&url(value)),
        esc(text)
    )
}

/// A labelled text input.
pub fn input(name: &str, label: &str, value: &str, extra: &str) -> String {
    format!(
        "<label>{} <input name=\"{name}\" id=\"{name}\" value=\"{}\" {extra}></label>",
        esc(label),
        esc(value)
    )
}

/// A labelled select; `options` are (value, text).
pub fn select(name: &str, label: &str, options: &[(String, String)], selected: &str) -> String {
    let mut out = format!(
        "<label>{} <select name=\"{name}\" id=\"{name}\">",
        esc(label)
    );
    for (value, text) in options {
        let sel = if value == selected { " selected" } else { "" };
        let _ = write!(
            out,
            "<option value=\"{}\"{sel}>{}</option>",
            esc(value),
            esc(text)
        );
    }
    out.push_str("</select></label>");
    out
}

/// Local time of a millisecond timestamp, as the tables show it.
pub fn time(ms: i64) -> String {
    if ms <= 0 {
        "N/A".into()
    } else {
        crate::admin::table::local_time(ms, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(url("%RETRY%g 1&x"), "%25RETRY%25g+1%26x");
    }

    #[test]
    fn page_marks_the_active_tab_and_the_flash() {
        let v = Viewer {
            user: Some("ops<1>"),
            read_only: true,
        };
        let p = page(
            "Topics",
            "/topics",
            &v,
            Some(&Flash::error("bad <name>")),
            "x",
        );
        assert!(p.contains("<a href=\"/topics\" class=\"active\">Topics</a>"));
        assert!(p.contains("ops&lt;1&gt;"));
        assert!(p.contains("id=\"flash-error\">bad &lt;name&gt;</pre>"));
        assert!(p.contains("id=\"read-only\""));
    }
}
