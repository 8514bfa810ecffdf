//! ACL keys for the client commands: `--access-key` / `--secret-key`, else the
//! environment's `COREMQ_ACCESS_KEY` / `COREMQ_SECRET_KEY` (the safer place for a secret:
//! a command line shows in `ps`). `bench` takes RocketMQ benchmark's `-a true -ak AK -sk SK`.

use clap::Args;

use crate::protocol::acl_signature::Credentials;

/// Environment variable holding the access key.
pub const ACCESS_KEY_ENV: &str = "COREMQ_ACCESS_KEY";
/// Environment variable holding the secret key.
pub const SECRET_KEY_ENV: &str = "COREMQ_SECRET_KEY";

/// RocketMQ benchmark's keys when `-a true` names none (its AclClient's defaults).
pub const BENCH_DEFAULT_KEYS: (&str, &str) = ("rocketmq2", "12345678");

/// `--access-key` / `--secret-key`. `Debug` hides the secret.
#[derive(Clone, Args)]
pub struct CredentialArgs {
    /// ACL access key: sign every request (else COREMQ_ACCESS_KEY).
    // Own ids: a global arg shares values with a subcommand arg of the same id, and
    // updateAclConfig has its own access_key/secret_key (the account it writes).
    #[arg(
        id = "signing_access_key",
        long = "access-key",
        value_name = "AK",
        global = true
    )]
    access_key: Option<String>,
    /// ACL secret key (else COREMQ_SECRET_KEY, which keeps it out of `ps`).
    #[arg(
        id = "signing_secret_key",
        long = "secret-key",
        value_name = "SK",
        global = true
    )]
    secret_key: Option<String>,
}

impl std::fmt::Debug for CredentialArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialArgs")
            .field("access_key", &self.access_key)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Pairs the two keys: both or neither.
fn pair(ak: Option<String>, sk: Option<String>) -> Result<Option<Credentials>, String> {
    match (ak, sk) {
        (Some(a), Some(s)) => Ok(Some(Credentials::new(a, s))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(format!(
            "an access key needs a secret key (--secret-key or {SECRET_KEY_ENV})"
        )),
        (None, Some(_)) => Err(format!(
            "a secret key needs an access key (--access-key or {ACCESS_KEY_ENV})"
        )),
    }
}

impl CredentialArgs {
    /// The keys from the flags, else from the environment; `None` signs nothing.
    pub fn resolve(&self) -> Result<Option<Credentials>, String> {
        pair(
            self.access_key.clone().or_else(|| env(ACCESS_KEY_ENV)),
            self.secret_key.clone().or_else(|| env(SECRET_KEY_ENV)),
        )
    }
}

/// bench's keys: none unless `-a true`; then `-ak`/`-sk`, else the environment, else
/// RocketMQ benchmark's defaults.
pub fn bench(acl: bool, ak: Option<String>, sk: Option<String>) -> Option<Credentials> {
    acl.then(|| {
        Credentials::new(
            ak.or_else(|| env(ACCESS_KEY_ENV))
                .unwrap_or_else(|| BENCH_DEFAULT_KEYS.0.into()),
            sk.or_else(|| env(SECRET_KEY_ENV))
                .unwrap_or_else(|| BENCH_DEFAULT_KEYS.1.into()),
        )
    })
}

/// commons-cli lets RocketMQ's benchmark take two-letter options (`-ak`, `-sk`); clap
/// does not, so `coremq bench` reads them as `--accessKey` / `--secretKey`.
pub fn rocketmq_bench_args(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    if args.get(1).and_then(|a| a.to_str()) != Some("bench") {
        return args;
    }
    args.into_iter()
        .map(|a| match a.to_str() {
            Some("-ak") => "--accessKey".into(),
            Some("-sk") => "--secretKey".into(),
            _ => a,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_in_pairs_and_debug_hides_the_secret() {
        assert!(pair(Some("a".into()), None)
            .unwrap_err()
            .contains("secret key"));
        assert!(pair(None, None).unwrap().is_none());
        let a = CredentialArgs {
            access_key: Some("visible-ak".into()),
            secret_key: Some("hidden-sk".into()),
        };
        let d = format!("{a:?}");
        assert!(d.contains("visible-ak") && !d.contains("hidden-sk"), "{d}");
        let argv = |v: &[&str]| {
            v.iter()
                .map(Into::into)
                .collect::<Vec<std::ffi::OsString>>()
        };
        assert_eq!(
            rocketmq_bench_args(argv(&[
                "coremq", "bench", "producer", "-ak", "x", "-sk", "y"
            ])),
            argv(&[
                "coremq",
                "bench",
                "producer",
                "--accessKey",
                "x",
                "--secretKey",
                "y"
            ])
        );
        assert_eq!(
            rocketmq_bench_args(argv(&["coremq", "admin", "-ak"])),
            argv(&["coremq", "admin", "-ak"])
        );
    }
}
