//! Per-shard message counters and their recent rates (what clusterList shows as putTps and
//! getTransferedTps over 10 s, 1 min and 10 min), sampled once a second into a ring.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// Samples kept: ten minutes at one a second.
pub const SAMPLES_KEPT: usize = 601;
/// Sampling period.
pub const SAMPLE_INTERVAL_MS: u64 = 1000;

/// Totals since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Messages stored.
    pub put_msgs: u64,
    /// Bytes stored (bodies).
    pub put_bytes: u64,
    /// Messages handed to consumers.
    pub get_msgs: u64,
}

/// Rates over 10 s, 60 s and 600 s.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rates {
    /// Put TPS.
    pub put: [f64; 3],
    /// Get TPS.
    pub get: [f64; 3],
}

/// A shard's counters.
#[derive(Default)]
pub struct Throughput {
    totals: Cell<Totals>,
    ring: RefCell<VecDeque<Totals>>,
    /// Topic → (messages, bytes) stored.
    by_topic: RefCell<HashMap<String, (u64, u64)>>,
    /// Group → topic → messages delivered.
    by_group: RefCell<HashMap<String, HashMap<String, u64>>>,
}

/// Per-topic and per-group counters since start, for the metrics scrape.
#[derive(Debug, Clone, Default)]
pub struct Breakdown {
    /// (topic, messages, bytes) stored.
    pub put: Vec<(String, u64, u64)>,
    /// (group, topic, messages) delivered.
    pub got: Vec<(String, String, u64)>,
}

impl Throughput {
    /// Counts stored messages.
    pub fn put(&self, msgs: u64, bytes: u64) {
        let mut t = self.totals.get();
        t.put_msgs += msgs;
        t.put_bytes += bytes;
        self.totals.set(t);
    }

    /// Counts delivered messages.
    pub fn got(&self, msgs: u64) {
        let mut t = self.totals.get();
        t.get_msgs += msgs;
        self.totals.set(t);
    }

    /// Counts messages stored on `topic` (after [`Self::put`]).
    pub fn put_topic(&self, topic: &str, msgs: u64, bytes: u64) {
        let mut t = self.by_topic.borrow_mut();
        match t.get_mut(topic) {
            Some(c) => *c = (c.0 + msgs, c.1 + bytes),
            None => {
                t.insert(topic.to_owned(), (msgs, bytes));
            }
        }
    }

    /// Counts messages of `topic` delivered to `group`.
    pub fn got_group(&self, group: &str, topic: &str, msgs: u64) {
        let mut g = self.by_group.borrow_mut();
        let topics = match g.get_mut(group) {
            Some(t) => t,
            None => g.entry(group.to_owned()).or_default(),
        };
        match topics.get_mut(topic) {
            Some(c) => *c += msgs,
            None => {
                topics.insert(topic.to_owned(), msgs);
            }
        }
    }

    /// The per-topic and per-group counters.
    pub fn breakdown(&self) -> Breakdown {
        Breakdown {
            put: self
                .by_topic
                .borrow()
                .iter()
                .map(|(t, (m, b))| (t.clone(), *m, *b))
                .collect(),
            got: self
                .by_group
                .borrow()
                .iter()
                .flat_map(|(g, ts)| ts.iter().map(move |(t, m)| (g.clone(), t.clone(), *m)))
                .collect(),
        }
    }

    /// Totals now.
    pub fn totals(&self) -> Totals {
        self.totals.get()
    }

    /// Takes one sample (the sampler task calls this every second).
    pub fn sample(&self) {
        let mut r = self.ring.borrow_mut();
        if r.len() == SAMPLES_KEPT {
            r.pop_front();
        }
        r.push_back(self.totals.get());
    }

    /// Rates from the samples.
    pub fn rates(&self) -> Rates {
        let r = self.ring.borrow();
        let now = self.totals.get();
        let mut out = Rates::default();
        for (i, secs) in [10usize, 60, 600].into_iter().enumerate() {
            let back = secs.min(r.len());
            if back == 0 {
                continue;
            }
            let then = r[r.len() - back];
            out.put[i] = (now.put_msgs - then.put_msgs) as f64 / back as f64;
            out.get[i] = (now.get_msgs - then.get_msgs) as f64 / back as f64;
        }
        out
    }

    /// Samples forever.
    pub async fn run_sampler(self: std::rc::Rc<Self>) {
        loop {
            glommio::timer::sleep(Duration::from_millis(SAMPLE_INTERVAL_MS)).await;
            self.sample();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_over_windows() {
        let t = Throughput::default();
        for _ in 0..20 {
            t.sample();
            t.put(100, 1000);
            t.got(50);
        }
        let r = t.rates();
        assert_eq!(r.put[0], 100.0);
        assert_eq!(r.get[0], 50.0);
        assert_eq!(r.put[1], 100.0, "fewer samples than the window: per sample");
        assert_eq!(t.totals().put_bytes, 20_000);
    }
}
