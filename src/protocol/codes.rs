//! Request, response and language codes of the remoting protocol, with their RocketMQ names.
//!
//! Codes travel as plain integers; these enums give them names for logs and `match`es.
//! An unknown request code is not an error at this layer: the dispatcher answers it with
//! `REQUEST_CODE_NOT_SUPPORTED`.

/// Defines a `#[repr(i32)]` enum with `from_code`, `code` and `name`.
macro_rules! code_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $value:expr),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i32)]
        #[allow(non_camel_case_types)]
        pub enum $name { $(
            #[doc = concat!("`", stringify!($variant), "` (", stringify!($value), ")")]
            $variant = $value
        ),* }

        impl $name {
            /// The enum value for a wire code, `None` when the code is not known.
            pub fn from_code(code: i32) -> Option<Self> {
                match code { $($value => Some(Self::$variant),)* _ => None }
            }
            /// The wire code.
            pub fn code(self) -> i32 { self as i32 }
            /// RocketMQ's name for the code.
            pub fn name(self) -> &'static str {
                match self { $(Self::$variant => stringify!($variant),)* }
            }
        }
    };
}

code_enum! {
    /// Request codes (RocketMQ `RequestCode`), the subset coremq knows by name.
    RequestCode {
        SEND_MESSAGE = 10,
        PULL_MESSAGE = 11,
        QUERY_MESSAGE = 12,
        UPDATE_AND_CREATE_TOPIC = 17,
        GET_ALL_TOPIC_CONFIG = 21,
        UPDATE_BROKER_CONFIG = 25,
        GET_BROKER_CONFIG = 26,
        GET_BROKER_RUNTIME_INFO = 28,
        SEARCH_OFFSET_BY_TIMESTAMP = 29,
        GET_MAX_OFFSET = 30,
        GET_MIN_OFFSET = 31,
        GET_EARLIEST_MSG_STORETIME = 32,
        VIEW_MESSAGE_BY_ID = 33,
        HEART_BEAT = 34,
        UNREGISTER_CLIENT = 35,
        CONSUMER_SEND_MSG_BACK = 36,
        END_TRANSACTION = 37,
        GET_CONSUMER_LIST_BY_GROUP = 38,
        CHECK_TRANSACTION_STATE = 39,
        NOTIFY_CONSUMER_IDS_CHANGED = 40,
        LOCK_BATCH_MQ = 41,
        UNLOCK_BATCH_MQ = 42,
        GET_ALL_CONSUMER_OFFSET = 43,
        GET_ALL_DELAY_OFFSET = 45,
        QUERY_CONSUMER_OFFSET = 14,
        UPDATE_CONSUMER_OFFSET = 15,
        CHECK_CLIENT_CONFIG = 46,
        UPDATE_AND_CREATE_ACL_CONFIG = 50,
        DELETE_ACL_CONFIG = 51,
        GET_BROKER_CLUSTER_ACL_INFO = 52,
        UPDATE_GLOBAL_WHITE_ADDRS_CONFIG = 53,
        PUT_KV_CONFIG = 100,
        GET_KV_CONFIG = 101,
        DELETE_KV_CONFIG = 102,
        REGISTER_BROKER = 103,
        UNREGISTER_BROKER = 104,
        GET_ROUTEINFO_BY_TOPIC = 105,
        GET_BROKER_CLUSTER_INFO = 106,
        UPDATE_AND_CREATE_SUBSCRIPTIONGROUP = 200,
        GET_ALL_SUBSCRIPTIONGROUP_CONFIG = 201,
        GET_TOPIC_STATS_INFO = 202,
        GET_CONSUMER_CONNECTION_LIST = 203,
        GET_PRODUCER_CONNECTION_LIST = 204,
        WIPE_WRITE_PERM_OF_BROKER = 205,
        GET_ALL_TOPIC_LIST_FROM_NAMESERVER = 206,
        DELETE_SUBSCRIPTIONGROUP = 207,
        GET_CONSUME_STATS = 208,
        DELETE_TOPIC_IN_BROKER = 215,
        DELETE_TOPIC_IN_NAMESRV = 216,
        GET_KVLIST_BY_NAMESPACE = 219,
        RESET_CONSUMER_CLIENT_OFFSET = 220,
        GET_CONSUMER_STATUS_FROM_CLIENT = 221,
        INVOKE_BROKER_TO_RESET_OFFSET = 222,
        GET_TOPICS_BY_CLUSTER = 224,
        QUERY_TOPIC_CONSUME_BY_WHO = 300,
        GET_SYSTEM_TOPIC_LIST_FROM_NS = 304,
        GET_CONSUMER_RUNNING_INFO = 307,
        CONSUME_MESSAGE_DIRECTLY = 309,
        SEND_MESSAGE_V2 = 310,
        GET_UNIT_TOPIC_LIST = 311,
        GET_HAS_UNIT_SUB_TOPIC_LIST = 312,
        GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST = 313,
        GET_BROKER_CONSUME_STATS = 317,
        UPDATE_NAMESRV_CONFIG = 318,
        GET_NAMESRV_CONFIG = 319,
        SEND_BATCH_MESSAGE = 320,
        SEND_REPLY_MESSAGE = 324,
        SEND_REPLY_MESSAGE_V2 = 325,
        PUSH_REPLY_MESSAGE_TO_CLIENT = 326,
        QUERY_DATA_VERSION = 322,
        ADD_WRITE_PERM_OF_BROKER = 327,
        BROKER_HEARTBEAT = 904,
        GET_BROKER_HA_STATUS = 907,
    }
}

code_enum! {
    /// Response codes (RocketMQ `ResponseCode` and `RemotingSysResponseCode`).
    ResponseCode {
        SUCCESS = 0,
        SYSTEM_ERROR = 1,
        SYSTEM_BUSY = 2,
        REQUEST_CODE_NOT_SUPPORTED = 3,
        TRANSACTION_FAILED = 4,
        FLUSH_DISK_TIMEOUT = 10,
        SLAVE_NOT_AVAILABLE = 11,
        FLUSH_SLAVE_TIMEOUT = 12,
        MESSAGE_ILLEGAL = 13,
        SERVICE_NOT_AVAILABLE = 14,
        VERSION_NOT_SUPPORTED = 15,
        NO_PERMISSION = 16,
        TOPIC_NOT_EXIST = 17,
        TOPIC_EXIST_ALREADY = 18,
        PULL_NOT_FOUND = 19,
        PULL_RETRY_IMMEDIATELY = 20,
        PULL_OFFSET_MOVED = 21,
        QUERY_NOT_FOUND = 22,
        SUBSCRIPTION_PARSE_FAILED = 23,
        SUBSCRIPTION_NOT_EXIST = 24,
        SUBSCRIPTION_NOT_LATEST = 25,
        SUBSCRIPTION_GROUP_NOT_EXIST = 26,
        CONSUMER_NOT_ONLINE = 206,
        CONSUME_MSG_TIMEOUT = 207,
        UPDATE_AND_CREATE_ACL_CONFIG_FAILED = 209,
        DELETE_ACL_CONFIG_FAILED = 210,
        UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED = 211,
        FLOW_CONTROL = 215,
    }
}

code_enum! {
    /// The sender's language (RocketMQ `LanguageCode`); informational only.
    LanguageCode {
        JAVA = 0,
        CPP = 1,
        DOTNET = 2,
        PYTHON = 3,
        DELPHI = 4,
        ERLANG = 5,
        RUBY = 6,
        OTHER = 7,
        HTTP = 8,
        GO = 9,
        PHP = 10,
        OMS = 11,
        RUST = 12,
        NODE_JS = 13,
    }
}

impl LanguageCode {
    /// Parses a JSON header's language name; anything unknown is `OTHER` (never an error).
    pub fn from_name(name: &str) -> Self {
        const ALL: [LanguageCode; 14] = [
            LanguageCode::JAVA,
            LanguageCode::CPP,
            LanguageCode::DOTNET,
            LanguageCode::PYTHON,
            LanguageCode::DELPHI,
            LanguageCode::ERLANG,
            LanguageCode::RUBY,
            LanguageCode::OTHER,
            LanguageCode::HTTP,
            LanguageCode::GO,
            LanguageCode::PHP,
            LanguageCode::OMS,
            LanguageCode::RUST,
            LanguageCode::NODE_JS,
        ];
        ALL.into_iter()
            .find(|l| l.name() == name)
            .unwrap_or(LanguageCode::OTHER)
    }

    /// Parses a binary header's language byte; unknown values are `OTHER`.
    pub fn from_byte(b: u8) -> Self {
        Self::from_code(i32::from(b)).unwrap_or(LanguageCode::OTHER)
    }
}

/// `MQVersion.Version` ordinal coremq puts in every response and server request (V4_9_8).
pub const SERVER_VERSION: i32 = 409;

/// `MQVersion.Version`'s name of a client version ordinal. From V4_0_0_SNAPSHOT (212) on,
/// every release has a snapshot entry before it: ordinal `212 + 2 * (100 * (major - 4) +
/// 10 * minor + patch)` is the snapshot, the next one the release (V4_9_8 is 409).
pub fn version_name(ordinal: i32) -> String {
    const V4_0_0_SNAPSHOT: i32 = 212;
    if ordinal < V4_0_0_SNAPSHOT {
        return ordinal.to_string();
    }
    let k = ordinal - V4_0_0_SNAPSHOT;
    let n = k / 2;
    let snapshot = if k % 2 == 0 { "_SNAPSHOT" } else { "" };
    format!("V{}_{}_{}{snapshot}", 4 + n / 100, (n / 10) % 10, n % 10)
}

/// The `MQVersion.Version` ordinal of release `major.minor.patch` (4.0.0 on; the
/// inverse of [`version_name`]): 5.0.0 is V5_0_0, 413.
pub fn version_ordinal(major: i32, minor: i32, patch: i32) -> i32 {
    const V4_0_0: i32 = 213;
    V4_0_0 + 2 * (100 * (major - 4) + 10 * minor + patch)
}

/// The ordinal of a `5.1.2`-style version text, [`SERVER_VERSION`] when it is not one (as
/// RocketMQ 5's proxy falls back to its own version).
pub fn version_ordinal_of(text: &str) -> i32 {
    let mut parts = text.trim().split('.').map(|p| p.parse::<i32>().ok());
    match (
        parts.next().flatten(),
        parts.next().flatten(),
        parts.next().flatten(),
    ) {
        (Some(a), Some(b), Some(c)) if a >= 4 && (0..10).contains(&b) && (0..10).contains(&c) => {
            version_ordinal(a, b, c)
        }
        _ => SERVER_VERSION,
    }
}

/// Topic/broker permission bits (RocketMQ `PermName`).
pub mod perm {
    /// Queue data may be inherited by auto-created topics.
    pub const INHERIT: i32 = 0x1;
    /// Producers may write.
    pub const WRITE: i32 = 0x2;
    /// Consumers may read.
    pub const READ: i32 = 0x4;
    /// Priority flag (unused by clients today).
    pub const PRIORITY: i32 = 0x8;

    /// The `RW-` style text mqadmin prints for a permission value.
    pub fn to_text(perm: i32) -> String {
        let mut s = String::with_capacity(3);
        s.push(if perm & READ != 0 { 'R' } else { '-' });
        s.push(if perm & WRITE != 0 { 'W' } else { '-' });
        s.push(if perm & INHERIT != 0 { 'X' } else { '-' });
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_like_mqversion() {
        assert_eq!(version_name(409), "V4_9_8");
        assert_eq!(version_ordinal(4, 9, 8), 409);
        assert_eq!(version_name(version_ordinal_of("5.1.2")), "V5_1_2");
        assert_eq!(version_name(version_ordinal_of("5.0.0")), "V5_0_0");
        assert_eq!(version_ordinal_of("5.x"), SERVER_VERSION);
        assert_eq!(version_ordinal_of(""), SERVER_VERSION);
        assert_eq!(version_name(401), "V4_9_4");
        assert_eq!(version_name(213), "V4_0_0");
        assert_eq!(version_name(212), "V4_0_0_SNAPSHOT");
        assert_eq!(version_name(100), "100");
    }

    #[test]
    fn codes_round_trip_by_number_and_name() {
        assert_eq!(
            RequestCode::from_code(105),
            Some(RequestCode::GET_ROUTEINFO_BY_TOPIC)
        );
        assert_eq!(RequestCode::SEND_MESSAGE_V2.code(), 310);
        assert_eq!(RequestCode::from_code(99_999), None);
        assert_eq!(ResponseCode::QUERY_NOT_FOUND.name(), "QUERY_NOT_FOUND");
        assert_eq!(LanguageCode::from_name("RUST"), LanguageCode::RUST);
        assert_eq!(LanguageCode::from_name("KLINGON"), LanguageCode::OTHER);
        assert_eq!(LanguageCode::from_byte(200), LanguageCode::OTHER);
        assert_eq!(perm::to_text(6), "RW-");
        assert_eq!(perm::to_text(7), "RWX");
    }
}
