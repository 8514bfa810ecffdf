//! The nameserver's whole state about brokers and topics, as plain data.
//!
//! cluster → broker groups, group → brokerId → address, topic → group → queue data, and the
//! liveness of every registered address. No I/O and no clock of its own (callers pass
//! `now`), so every rule here is unit-tested without sockets. Only a master's (brokerId 0)
//! registration changes queue data, and only when its data version changed or on its first
//! registration; the topic table it sends is merged (upsert), never a replacement, because
//! Java brokers send partial tables after a topic change (spec §2.8).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::protocol::body::{
    BrokerData, ClusterInfo, DataVersion, QueueData, RegisterBrokerBody, TopicList, TopicRouteData,
    MASTER_ID,
};
use crate::protocol::codes::perm;

/// topicSysFlag bit: unit topic.
const FLAG_UNIT: i32 = 0x1;
/// topicSysFlag bit: has unit subscriptions.
const FLAG_UNIT_SUB: i32 = 0x2;

/// One REGISTER_BROKER call.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Cluster name.
    pub cluster: String,
    /// Broker group name.
    pub broker_name: String,
    /// `ip:port` clients use.
    pub broker_addr: String,
    /// 0 master, ≥ 1 slave.
    pub broker_id: i64,
    /// Replication address.
    pub ha_server_addr: String,
    /// Topics and their version.
    pub body: RegisterBrokerBody,
    /// Connection the registration came on (dropping it removes the broker).
    pub conn_id: u64,
    /// Silence after which the broker is dropped.
    pub timeout: Duration,
}

/// What REGISTER_BROKER answers: for slaves, their master's addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterResult {
    /// Master's HA address.
    pub ha_server_addr: Option<String>,
    /// Master's address.
    pub master_addr: Option<String>,
}

#[derive(Debug, Clone)]
struct LiveBroker {
    last_update: Instant,
    timeout: Duration,
    data_version: DataVersion,
    conn_id: u64,
    ha_server_addr: String,
}

/// Brokers, clusters and topic routes.
#[derive(Debug, Default)]
pub struct RouteTable {
    clusters: BTreeMap<String, BTreeSet<String>>,
    brokers: BTreeMap<String, BrokerData>,
    topics: BTreeMap<String, BTreeMap<String, QueueData>>,
    live: HashMap<String, LiveBroker>,
    filter_servers: HashMap<String, Vec<String>>,
}

impl RouteTable {
    /// Registers (or refreshes) a broker. Returns whether it was new, and the answer.
    pub fn register(&mut self, r: Registration, now: Instant) -> (bool, RegisterResult) {
        self.clusters
            .entry(r.cluster.clone())
            .or_default()
            .insert(r.broker_name.clone());
        let group = self
            .brokers
            .entry(r.broker_name.clone())
            .or_insert_with(|| BrokerData {
                cluster: r.cluster.clone(),
                broker_name: r.broker_name.clone(),
                broker_addrs: BTreeMap::new(),
                enable_acting_master: false,
                zone_name: None,
            });
        // An address re-registering under another id (slave promoted) moves.
        group
            .broker_addrs
            .retain(|id, addr| *id == r.broker_id || *addr != r.broker_addr);
        let previous = group
            .broker_addrs
            .insert(r.broker_id, r.broker_addr.clone());
        let wrapper = &r.body.topic_config_serialize_wrapper;
        let version_changed = self
            .live
            .get(&r.broker_addr)
            .is_none_or(|l| l.data_version != wrapper.data_version);
        if r.broker_id == MASTER_ID && (previous.is_none() || version_changed) {
            for tc in wrapper.topic_config_table.values() {
                self.topics
                    .entry(tc.topic_name.clone())
                    .or_default()
                    .insert(
                        r.broker_name.clone(),
                        QueueData {
                            broker_name: r.broker_name.clone(),
                            read_queue_nums: tc.read_queue_nums,
                            write_queue_nums: tc.write_queue_nums,
                            perm: tc.perm,
                            topic_sys_flag: tc.topic_sys_flag,
                        },
                    );
            }
        }
        let is_new = self
            .live
            .insert(
                r.broker_addr.clone(),
                LiveBroker {
                    last_update: now,
                    timeout: r.timeout,
                    data_version: wrapper.data_version,
                    conn_id: r.conn_id,
                    ha_server_addr: r.ha_server_addr.clone(),
                },
            )
            .is_none();
        if r.body.filter_server_list.is_empty() {
            self.filter_servers.remove(&r.broker_addr);
        } else {
            self.filter_servers
                .insert(r.broker_addr.clone(), r.body.filter_server_list.clone());
        }
        let mut result = RegisterResult::default();
        if r.broker_id != MASTER_ID {
            if let Some(master) = self.brokers[&r.broker_name].master_addr() {
                result.ha_server_addr = self.live.get(master).map(|l| l.ha_server_addr.clone());
                result.master_addr = Some(master.to_owned());
            }
        }
        (is_new, result)
    }

    /// UNREGISTER_BROKER: removes that address of that group. A request naming an address
    /// that is not registered under that group and id changes nothing (the address keeps
    /// its liveness entry, so it still expires or goes with its connection).
    pub fn unregister(&mut self, broker_name: &str, broker_addr: &str, broker_id: i64) -> bool {
        let Some(group) = self.brokers.get_mut(broker_name) else {
            return false;
        };
        if group.broker_addrs.get(&broker_id).map(String::as_str) != Some(broker_addr) {
            return false;
        }
        group.broker_addrs.remove(&broker_id);
        let emptied = group.broker_addrs.is_empty();
        self.live.remove(broker_addr);
        self.filter_servers.remove(broker_addr);
        if emptied {
            self.remove_group(broker_name);
        }
        true
    }

    /// BROKER_HEARTBEAT: refreshes a registered broker's liveness; false when unknown.
    pub fn heartbeat(&mut self, broker_addr: &str, now: Instant) -> bool {
        match self.live.get_mut(broker_addr) {
            Some(l) => {
                l.last_update = now;
                true
            }
            None => false,
        }
    }

    /// QUERY_DATA_VERSION: whether the broker's version differs from the one registered,
    /// and the registered one. An unchanged broker counts as alive.
    pub fn query_data_version(
        &mut self,
        broker_addr: &str,
        version: &DataVersion,
        now: Instant,
    ) -> (bool, Option<DataVersion>) {
        match self.live.get_mut(broker_addr) {
            Some(l) => {
                let changed = l.data_version != *version;
                if !changed {
                    l.last_update = now;
                }
                (changed, Some(l.data_version))
            }
            None => (true, None),
        }
    }

    /// Drops brokers silent past their timeout; returns their addresses.
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        let dead: Vec<String> = self
            .live
            .iter()
            .filter(|(_, l)| now.saturating_duration_since(l.last_update) > l.timeout)
            .map(|(a, _)| a.clone())
            .collect();
        for addr in &dead {
            self.remove_addr(addr);
        }
        dead
    }

    /// Drops brokers registered through a connection that closed; returns their addresses.
    pub fn connection_closed(&mut self, conn_id: u64) -> Vec<String> {
        let gone: Vec<String> = self
            .live
            .iter()
            .filter(|(_, l)| l.conn_id == conn_id)
            .map(|(a, _)| a.clone())
            .collect();
        for addr in &gone {
            self.remove_addr(addr);
        }
        gone
    }

    fn remove_addr(&mut self, addr: &str) {
        self.live.remove(addr);
        self.filter_servers.remove(addr);
        let mut emptied = Vec::new();
        for (name, group) in &mut self.brokers {
            group.broker_addrs.retain(|_, a| a != addr);
            if group.broker_addrs.is_empty() {
                emptied.push(name.clone());
            }
        }
        for name in emptied {
            self.remove_group(&name);
        }
    }

    fn remove_group(&mut self, broker_name: &str) {
        self.brokers.remove(broker_name);
        self.clusters.retain(|_, names| {
            names.remove(broker_name);
            !names.is_empty()
        });
        self.topics.retain(|_, queues| {
            queues.remove(broker_name);
            !queues.is_empty()
        });
    }

    /// The route of `topic`, when it has queue data on a known broker group.
    pub fn route(&self, topic: &str) -> Option<TopicRouteData> {
        let queues = self.topics.get(topic)?;
        let broker_datas: Vec<BrokerData> = queues
            .keys()
            .filter_map(|name| self.brokers.get(name).cloned())
            .collect();
        if broker_datas.is_empty() {
            return None;
        }
        let filter_server_table = broker_datas
            .iter()
            .flat_map(|b| b.broker_addrs.values())
            .filter_map(|a| Some((a.clone(), self.filter_servers.get(a)?.clone())))
            .collect();
        Some(TopicRouteData {
            order_topic_conf: None,
            queue_datas: queues.values().cloned().collect(),
            broker_datas,
            filter_server_table,
        })
    }

    /// Every group and cluster.
    pub fn cluster_info(&self) -> ClusterInfo {
        ClusterInfo {
            broker_addr_table: self.brokers.clone(),
            cluster_addr_table: self.clusters.clone(),
        }
    }

    /// Every topic with queue data.
    pub fn all_topics(&self) -> TopicList {
        topic_list(self.topics.keys().cloned().collect())
    }

    /// Topics with queue data on a group of `cluster`.
    pub fn topics_of_cluster(&self, cluster: &str) -> TopicList {
        let Some(groups) = self.clusters.get(cluster) else {
            return TopicList::default();
        };
        let topics = self
            .topics
            .iter()
            .filter(|(_, q)| q.keys().any(|g| groups.contains(g)))
            .map(|(t, _)| t.clone())
            .collect();
        topic_list(topics)
    }

    /// GET_SYSTEM_TOPIC_LIST_FROM_NS: cluster and group names, plus one broker address.
    pub fn system_topics(&self) -> TopicList {
        let mut names: Vec<String> = self.clusters.keys().cloned().collect();
        names.extend(self.brokers.keys().cloned());
        TopicList {
            topic_list: names,
            broker_addr: self
                .brokers
                .values()
                .find_map(|b| b.broker_addrs.values().next().cloned()),
        }
    }

    /// Unit topic lists (311..313): topics whose queue data has all of `set` and none of
    /// `unset` in topicSysFlag.
    pub fn topics_by_unit_flags(&self, unit: bool, unit_sub: Option<bool>) -> TopicList {
        let topics = self
            .topics
            .iter()
            .filter(|(_, q)| {
                q.values().next().is_some_and(|qd| {
                    let f = qd.topic_sys_flag;
                    (f & FLAG_UNIT != 0) == unit
                        && unit_sub.is_none_or(|s| (f & FLAG_UNIT_SUB != 0) == s)
                })
            })
            .map(|(t, _)| t.clone())
            .collect();
        topic_list(topics)
    }

    /// DELETE_TOPIC_IN_NAMESRV: the whole topic, or only its queues on `cluster`'s groups.
    pub fn delete_topic(&mut self, topic: &str, cluster: Option<&str>) {
        let Some(cluster) = cluster.filter(|c| !c.is_empty()) else {
            self.topics.remove(topic);
            return;
        };
        let groups = self.clusters.get(cluster).cloned().unwrap_or_default();
        if let Some(queues) = self.topics.get_mut(topic) {
            queues.retain(|g, _| !groups.contains(g));
            if queues.is_empty() {
                self.topics.remove(topic);
            }
        }
    }

    /// WIPE/ADD_WRITE_PERM_OF_BROKER: clears or sets WRITE on every topic of a group;
    /// returns how many topics it touched.
    pub fn set_write_perm(&mut self, broker_name: &str, writable: bool) -> usize {
        let mut n = 0;
        for queues in self.topics.values_mut() {
            if let Some(q) = queues.get_mut(broker_name) {
                q.perm = if writable {
                    q.perm | perm::WRITE
                } else {
                    q.perm & !perm::WRITE
                };
                n += 1;
            }
        }
        n
    }
}

fn topic_list(topics: Vec<String>) -> TopicList {
    TopicList {
        topic_list: topics,
        broker_addr: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::body::TopicConfig;

    fn reg(
        cluster: &str,
        name: &str,
        addr: &str,
        id: i64,
        topics: &[(&str, i32)],
        counter: i64,
    ) -> Registration {
        let version = DataVersion {
            counter,
            ..DataVersion::default()
        };
        let topics = topics.iter().map(|(t, q)| TopicConfig::new(t, *q));
        Registration {
            cluster: cluster.into(),
            broker_name: name.into(),
            broker_addr: addr.into(),
            broker_id: id,
            ha_server_addr: format!("{addr}-ha"),
            body: RegisterBrokerBody::new(topics, version),
            conn_id: 1,
            timeout: Duration::from_secs(120),
        }
    }

    #[test]
    fn master_and_slave_register_and_route() {
        let mut t = RouteTable::default();
        let now = Instant::now();
        let (new, res) = t.register(reg("c1", "a", "m:1", 0, &[("T", 4)], 1), now);
        assert!(new);
        assert_eq!(res, RegisterResult::default());
        let (_, res) = t.register(reg("c1", "a", "s:1", 1, &[("T", 99)], 1), now);
        assert_eq!(res.master_addr.as_deref(), Some("m:1"));
        assert_eq!(res.ha_server_addr.as_deref(), Some("m:1-ha"));
        let route = t.route("T").unwrap();
        // The slave's table never changes queue data.
        assert_eq!(route.queue_datas[0].write_queue_nums, 4);
        assert_eq!(route.broker_datas[0].broker_addrs.len(), 2);
        assert!(t.route("nope").is_none());
    }

    #[test]
    fn queue_data_reloads_only_on_version_change_and_merges() {
        let mut t = RouteTable::default();
        let now = Instant::now();
        t.register(reg("c", "a", "m:1", 0, &[("T", 4)], 1), now);
        // Same version, different table: ignored.
        t.register(reg("c", "a", "m:1", 0, &[("T", 8)], 1), now);
        assert_eq!(t.route("T").unwrap().queue_datas[0].write_queue_nums, 4);
        // New version with a partial table: T updated, U added, nothing dropped.
        t.register(reg("c", "a", "m:1", 0, &[("U", 2)], 2), now);
        assert!(t.route("T").is_some());
        assert_eq!(t.route("U").unwrap().queue_datas[0].write_queue_nums, 2);
    }

    #[test]
    fn expiry_close_and_unregister_remove_brokers() {
        let mut t = RouteTable::default();
        let t0 = Instant::now();
        let mut r = reg("c1", "a", "m:1", 0, &[("T", 4)], 1);
        r.timeout = Duration::from_secs(10);
        t.register(r, t0);
        let mut r = reg("c2", "b", "m:2", 0, &[("T", 4), ("V", 1)], 1);
        r.conn_id = 7;
        t.register(r, t0);
        assert_eq!(t.route("T").unwrap().broker_datas.len(), 2);
        assert_eq!(t.topics_of_cluster("c2").topic_list, vec!["T", "V"]);

        assert!(t.expire(t0 + Duration::from_secs(5)).is_empty());
        assert_eq!(t.expire(t0 + Duration::from_secs(11)), vec!["m:1"]);
        assert_eq!(t.route("T").unwrap().broker_datas.len(), 1);
        assert!(!t.cluster_info().cluster_addr_table.contains_key("c1"));

        assert_eq!(t.connection_closed(7), vec!["m:2"]);
        assert!(t.route("T").is_none() && t.all_topics().topic_list.is_empty());

        t.register(reg("c1", "a", "m:1", 0, &[("T", 4)], 1), t0);
        // A mismatched unregister changes nothing; the address still expires later.
        assert!(!t.unregister("a", "m:1", 3));
        assert!(t.heartbeat("m:1", t0 + Duration::from_secs(100)));
        assert!(t.expire(t0 + Duration::from_secs(150)).is_empty());
        assert!(t.unregister("a", "m:1", 0));
        assert!(t.cluster_info().broker_addr_table.is_empty());
        assert!(!t.heartbeat("m:1", t0));
    }

    #[test]
    fn delete_topic_and_write_perm() {
        let mut t = RouteTable::default();
        let now = Instant::now();
        t.register(reg("c1", "a", "m:1", 0, &[("T", 4)], 1), now);
        t.register(reg("c2", "b", "m:2", 0, &[("T", 4)], 1), now);
        assert_eq!(t.set_write_perm("a", false), 1);
        let q = &t.route("T").unwrap().queue_datas;
        assert_eq!(q.iter().find(|q| q.broker_name == "a").unwrap().perm, 4);
        assert_eq!(t.set_write_perm("a", true), 1);
        t.delete_topic("T", Some("c1"));
        assert_eq!(t.route("T").unwrap().queue_datas.len(), 1);
        t.delete_topic("T", None);
        assert!(t.route("T").is_none());
    }
}
