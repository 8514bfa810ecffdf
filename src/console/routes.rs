//! Routing: static assets, login, the login gate, then one page or action per path. An
//! action runs, then the page it belongs to is shown with what it did (or why it did
//! nothing) above it.

use std::collections::BTreeMap;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use hyper::{Method, Request, Response, StatusCode};

use super::auth::{token_in, SESSION_COOKIE};
use super::html::{page, Flash, Viewer};
use super::pages;
use super::Console;

/// Largest form body accepted (a test message's body included).
pub const MAX_FORM_BYTES: usize = 256 * 1024;

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// A request as pages see it: path, query and form fields, and the logged-in user.
pub struct Req {
    /// Path without the query.
    pub path: String,
    /// Query string fields.
    pub query: BTreeMap<String, String>,
    /// Form fields of a POST.
    pub form: BTreeMap<String, String>,
    /// The session's user.
    pub user: Option<String>,
}

impl Req {
    /// A form field, else a query field, trimmed ("" when absent).
    pub fn arg(&self, key: &str) -> &str {
        self.form
            .get(key)
            .or_else(|| self.query.get(key))
            .map_or("", |v| v.trim())
    }

    /// Who did it, for the action log.
    pub fn who(&self) -> &str {
        self.user.as_deref().unwrap_or("anonymous")
    }
}

/// What a page or an action answers.
pub enum Reply {
    /// A page: title, the tab it belongs to, body HTML, and a flash message.
    Page {
        status: StatusCode,
        title: &'static str,
        tab: &'static str,
        body: String,
        flash: Option<Flash>,
    },
    /// See another page.
    Redirect(String, Option<String>),
}

impl Reply {
    /// A 200 page.
    pub fn page(
        title: &'static str,
        tab: &'static str,
        body: String,
        flash: Option<Flash>,
    ) -> Self {
        Reply::Page {
            status: StatusCode::OK,
            title,
            tab,
            body,
            flash,
        }
    }
}

fn fields(text: &[u8]) -> BTreeMap<String, String> {
    form_urlencoded::parse(text).into_owned().collect()
}

fn response(
    status: StatusCode,
    mime: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(mime));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn redirect(to: &str, cookie: Option<String>) -> Response<Full<Bytes>> {
    let mut r = response(StatusCode::SEE_OTHER, "text/plain", Bytes::new());
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    if let Some(v) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().insert(SET_COOKIE, v);
    }
    r
}

/// Answers one request.
pub async fn handle(c: &Console, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    match (&parts.method, path.as_str()) {
        (&Method::GET, "/static/console.css") => {
            return response(StatusCode::OK, "text/css; charset=utf-8", CSS)
        }
        (&Method::GET, "/static/console.js") => {
            return response(StatusCode::OK, "text/javascript; charset=utf-8", JS)
        }
        _ => {}
    }
    let form = if parts.method == Method::POST {
        match Limited::new(body, MAX_FORM_BYTES).collect().await {
            Ok(b) => fields(&b.to_bytes()),
            Err(e) => {
                let text = format!("form not read: {e} (at most {MAX_FORM_BYTES} bytes)");
                return response(StatusCode::PAYLOAD_TOO_LARGE, "text/plain", text);
            }
        }
    } else {
        BTreeMap::new()
    };
    let token = parts
        .headers
        .get(COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(token_in)
        .map(str::to_owned);
    let now = crate::clock::now_ms();
    let user = token
        .as_deref()
        .and_then(|t| c.sessions.borrow().user(t, now).map(str::to_owned));
    let mut r = Req {
        path,
        query: fields(parts.uri.query().unwrap_or("").as_bytes()),
        form,
        user,
    };
    let post = parts.method == Method::POST;
    if c.users.required() {
        match (post, r.path.as_str()) {
            (false, "/login") => return render(c, &r, pages::login::show(None)),
            (true, "/login") => return login(c, &mut r),
            (true, "/logout") => {
                if let Some(t) = &token {
                    c.sessions.borrow_mut().close(t);
                }
                let expire = format!("{SESSION_COOKIE}=; Path=/; Max-Age=0");
                return redirect("/login", Some(expire));
            }
            _ if r.user.is_none() => return redirect("/login", None),
            _ => {}
        }
    }
    if post && c.read_only {
        let reply = Reply::Page {
            status: StatusCode::FORBIDDEN,
            title: "Read-only",
            tab: "",
            body: String::new(),
            flash: Some(Flash::error(
                "this console is read-only (--read-only): actions are disabled",
            )),
        };
        return render(c, &r, reply);
    }
    let reply = route(c, &r, post).await;
    render(c, &r, reply)
}

async fn route(c: &Console, r: &Req, post: bool) -> Reply {
    use pages::*;
    match (post, r.path.as_str()) {
        (false, "/") => Reply::Redirect("/cluster".into(), None),
        (false, "/cluster") => cluster::show(c).await,
        (false, "/topics") => topics::list(c, r, None).await,
        (false, "/topic") => topic::show(c, r, None).await,
        (true, "/topics/create") => topics::create(c, r).await,
        (true, "/topic/update") => topic::update(c, r).await,
        (true, "/topic/delete") => topic::delete(c, r).await,
        (true, "/topic/send") => topic::send(c, r).await,
        (false, "/groups") => groups::list(c).await,
        (false, "/group") => group::show(c, r, None).await,
        (true, "/group/reset") => group::reset(c, r).await,
        (false, "/messages") => messages::search(c, r).await,
        (false, "/message") => message::show(c, r, None).await,
        (true, "/message/consume") => message::consume_again(c, r).await,
        (true, "/message/resend") => message::resend(c, r).await,
        (false, "/producers") => producers::show(c, r).await,
        _ => Reply::Page {
            status: StatusCode::NOT_FOUND,
            title: "Not found",
            tab: "",
            body: String::new(),
            flash: Some(Flash::error(format!("no page at {}", r.path))),
        },
    }
}

fn login(c: &Console, r: &mut Req) -> Response<Full<Bytes>> {
    let (user, password) = (r.arg("username").to_owned(), r.arg("password").to_owned());
    if !c.users.check(&user, &password) {
        tracing::warn!(user = %user, "console: login refused");
        let reply = match pages::login::show(Some(Flash::error("wrong user name or password"))) {
            Reply::Page { body, flash, .. } => Reply::Page {
                status: StatusCode::UNAUTHORIZED,
                title: "Log in",
                tab: "",
                body,
                flash,
            },
            other => other,
        };
        return render(c, r, reply);
    }
    match c.sessions.borrow_mut().open(&user, crate::clock::now_ms()) {
        Ok(token) => {
            tracing::info!(user = %user, "console: logged in");
            let cookie = format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
            redirect("/cluster", Some(cookie))
        }
        Err(e) => response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            format!("no session: {e}"),
        ),
    }
}

fn render(c: &Console, r: &Req, reply: Reply) -> Response<Full<Bytes>> {
    match reply {
        Reply::Redirect(to, cookie) => redirect(&to, cookie),
        Reply::Page {
            status,
            title,
            tab,
            body,
            flash,
        } => {
            let viewer = Viewer {
                user: r.user.as_deref(),
                read_only: c.read_only,
            };
            let html = page(title, tab, &viewer, flash.as_ref(), &body);
            response(status, "text/html; charset=utf-8", html)
        }
    }
}
