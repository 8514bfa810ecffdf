//! Headers of the plain-ACL admin requests (codes 50 to 53, RocketMQ 4.9's
//! `CreateAccessConfigRequestHeader`, `DeleteAccessConfigRequestHeader`,
//! `UpdateGlobalWhiteAddrsConfigRequestHeader`, `GetBrokerAclConfigResponseHeader`).

use crate::command_header;

command_header! {
    /// UPDATE_AND_CREATE_ACL_CONFIG (50): one account; perms lists are `,`-joined
    /// `resource=PERM` items.
    pub struct CreateAccessConfigRequestHeader {
        pub access_key: String = "accessKey",
        pub secret_key: Option<String> = "secretKey",
        pub white_remote_address: Option<String> = "whiteRemoteAddress",
        pub admin: Option<bool> = "admin",
        pub default_topic_perm: Option<String> = "defaultTopicPerm",
        pub default_group_perm: Option<String> = "defaultGroupPerm",
        pub topic_perms: Option<String> = "topicPerms",
        pub group_perms: Option<String> = "groupPerms",
    }
}

command_header! {
    /// DELETE_ACL_CONFIG (51).
    pub struct DeleteAccessConfigRequestHeader {
        pub access_key: String = "accessKey",
    }
}

command_header! {
    /// UPDATE_GLOBAL_WHITE_ADDRS_CONFIG (53): `,`-joined patterns; the file defaults to the
    /// broker's plain_acl.yml.
    pub struct UpdateGlobalWhiteAddrsConfigRequestHeader {
        pub global_white_addrs: String = "globalWhiteAddrs",
        pub acl_file_full_path: Option<String> = "aclFileFullPath",
    }
}

command_header! {
    /// GET_BROKER_CLUSTER_ACL_INFO (52) response: `version` is the plain_acl.yml
    /// DataVersion as JSON, `allAclFileVersion` a JSON map of file path to DataVersion.
    pub struct GetBrokerAclConfigResponseHeader {
        pub version: String = "version",
        pub all_acl_file_version: Option<String> = "allAclFileVersion",
        pub broker_name: String = "brokerName",
        pub broker_addr: String = "brokerAddr",
        pub cluster_name: String = "clusterName",
    }
}
