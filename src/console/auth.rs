//! Login, as rocketmq-console's `loginRequired`: users and passwords given on the command
//! line or in a `user=password` file, a login form, and a random session cookie held in
//! memory (a restarted console asks again).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "coremq_console_session";
/// Sessions end this long after login.
pub const SESSION_TTL_MS: i64 = 12 * 60 * 60 * 1000;
/// Sessions kept at most; the oldest goes when another user logs in.
pub const MAX_SESSIONS: usize = 1024;
const TOKEN_BYTES: usize = 16;

/// Who may log in; empty: no login asked.
#[derive(Debug, Default)]
pub struct Users(BTreeMap<String, String>);

impl Users {
    /// One user.
    pub fn single(user: &str, password: &str) -> Self {
        Users(BTreeMap::from([(user.to_owned(), password.to_owned())]))
    }

    /// Reads `user=password` lines (`#` comments and blank lines skipped), as
    /// rocketmq-console's users.properties; a bad line is named.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("users file {}: {e}", path.display()))?;
        let mut users = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, password) = line
                .split_once('=')
                .map(|(u, p)| (u.trim(), p.trim()))
                .filter(|(u, p)| !u.is_empty() && !p.is_empty())
                .ok_or_else(|| {
                    format!(
                        "users file {} line {}: expected user=password",
                        path.display(),
                        i + 1
                    )
                })?;
            users.insert(user.to_owned(), password.to_owned());
        }
        if users.is_empty() {
            return Err(format!("users file {}: no user in it", path.display()));
        }
        Ok(Users(users))
    }

    /// Login is asked.
    pub fn required(&self) -> bool {
        !self.0.is_empty()
    }

    /// The password is this user's (compared in time independent of where they differ).
    pub fn check(&self, user: &str, password: &str) -> bool {
        let Some(expected) = self.0.get(user) else {
            return false;
        };
        let (a, b) = (expected.as_bytes(), password.as_bytes());
        let diff = a
            .iter()
            .zip(b)
            .fold(a.len() ^ b.len(), |acc, (x, y)| acc | usize::from(x ^ y));
        diff == 0
    }
}

/// Live sessions: token → (user, expiry ms).
#[derive(Debug, Default)]
pub struct Sessions(HashMap<String, (String, i64)>);

impl Sessions {
    /// A new session for `user`; its token.
    pub fn open(&mut self, user: &str, now_ms: i64) -> std::io::Result<String> {
        self.0.retain(|_, (_, until)| *until > now_ms);
        if self.0.len() >= MAX_SESSIONS {
            if let Some(oldest) = self
                .0
                .iter()
                .min_by_key(|(_, (_, until))| *until)
                .map(|(t, _)| t.clone())
            {
                self.0.remove(&oldest);
            }
        }
        let token = random_token()?;
        self.0
            .insert(token.clone(), (user.to_owned(), now_ms + SESSION_TTL_MS));
        Ok(token)
    }

    /// The user of a live session.
    pub fn user(&self, token: &str, now_ms: i64) -> Option<&str> {
        self.0
            .get(token)
            .filter(|(_, until)| *until > now_ms)
            .map(|(u, _)| u.as_str())
    }

    /// Ends a session.
    pub fn close(&mut self, token: &str) {
        self.0.remove(token);
    }
}

/// Hex of random bytes from the kernel.
fn random_token() -> std::io::Result<String> {
    let mut bytes = [0u8; TOKEN_BYTES];
    // SAFETY: getrandom writes at most `bytes.len()` bytes into the buffer it is given.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n != TOKEN_BYTES as isize {
        return Err(std::io::Error::last_os_error());
    }
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The session token in a `Cookie` header.
pub fn token_in(cookie_header: &str) -> Option<&str> {
    cookie_header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_sessions() {
        let users = Users::single("admin", "s3cret");
        assert!(users.required());
        assert!(users.check("admin", "s3cret"));
        assert!(!users.check("admin", "s3cre"));
        assert!(!users.check("admin", "s3cret!"));
        assert!(!users.check("root", "s3cret"));
        let mut s = Sessions::default();
        let t = s.open("admin", 1_000).unwrap();
        assert_eq!(t.len(), 2 * TOKEN_BYTES);
        assert_eq!(s.user(&t, 2_000), Some("admin"));
        assert_eq!(s.user(&t, 1_000 + SESSION_TTL_MS), None, "expired");
        assert_eq!(s.user("nope", 2_000), None);
        s.close(&t);
        assert_eq!(s.user(&t, 2_000), None);
        let header = format!("a=b; {SESSION_COOKIE}={t}; c=d");
        assert_eq!(token_in(&header), Some(t.as_str()));
    }

    #[test]
    fn users_file_names_a_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("users.properties");
        std::fs::write(&p, "# ops\nadmin = pw1\n\nviewer=pw2\n").unwrap();
        let u = Users::from_file(&p).unwrap();
        assert!(u.check("admin", "pw1") && u.check("viewer", "pw2"));
        std::fs::write(&p, "admin=pw1\noops\n").unwrap();
        let e = Users::from_file(&p).unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }
}
