//! `coremq bench chart`: a latency-vs-throughput SVG drawn from the benchmarks' JSON
//! reports, one point per run: x is the run's msgs/s, y its p50, p99 and p99.9 on a log
//! scale. Producer reports give send latency; consumer reports of `--e2e` runs give
//! end-to-end latency, at the rate the stamped messages were sent. Results files embed the SVG, since a curve shows where latency
//! turns up faster than a table does.

use std::path::PathBuf;

use serde_json::Value;

use crate::chart::{xy_chart, Axes, Series};

/// Which latency a chart plots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    /// Producer reports' send latency (`latency_ms`).
    Send,
    /// Consumer reports' end-to-end latency (`e2e_latency_ms`).
    EndToEnd,
}

/// The percentiles drawn, as the reports name them.
const PERCENTILES: [&str; 3] = ["p50", "p99", "p99.9"];

/// One run's point: throughput and the percentiles of the chosen latency.
#[derive(Debug, Clone, PartialEq)]
struct Point {
    tps: f64,
    ms: [f64; 3],
}

/// The point a report gives for `latency`, or None when it is a report of another kind.
fn point(report: &Value, latency: Latency) -> Option<Point> {
    let (kind, field, rate) = match latency {
        Latency::Send => ("producer", "latency_ms", "tps"),
        Latency::EndToEnd => ("consumer", "e2e_latency_ms", "e2e_sent_per_s"),
    };
    if report.get("kind")?.as_str()? != kind {
        return None;
    }
    let p = report.get(field)?;
    let mut ms = [0.0; 3];
    for (slot, name) in ms.iter_mut().zip(PERCENTILES) {
        *slot = p.get(name)?.as_f64()?;
    }
    Some(Point {
        tps: report.get(rate)?.as_f64()?,
        ms,
    })
}

/// Draws the chart of `files` (JSON reports) as an SVG document.
pub fn draw(files: &[PathBuf], latency: Latency) -> Result<String, String> {
    let mut points = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).map_err(|e| format!("reading {}: {e}", f.display()))?;
        let report: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a bench JSON report: {e}", f.display()))?;
        points.extend(point(&report, latency));
    }
    if points.is_empty() {
        let want = match latency {
            Latency::Send => "producer reports",
            Latency::EndToEnd => "consumer reports with end-to-end latency (bench producer --e2e)",
        };
        return Err(format!("no {want} among the {} files", files.len()));
    }
    points.sort_by(|a, b| a.tps.total_cmp(&b.tps));
    let prefix = match latency {
        Latency::Send => "send",
        Latency::EndToEnd => "e2e",
    };
    let series: Vec<Series> = PERCENTILES
        .iter()
        .enumerate()
        .map(|(i, name)| Series {
            name: format!("{prefix} {name}"),
            points: points.iter().map(|p| (p.tps as i64, p.ms[i])).collect(),
        })
        .collect();
    let label = |v: i64| format!("{v} msgs/s");
    let axes = Axes::latency_vs_rate(&label);
    Ok(xy_chart("latency-vs-throughput", &axes, &series) + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(dir: &std::path::Path, name: &str, json: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, json).unwrap();
        p
    }

    #[test]
    fn consumer_reports_make_e2e_points_in_throughput_order() {
        let dir = tempfile::tempdir().unwrap();
        let pct = |a: f64| format!("{{\"p50\":{a},\"p99\":{},\"p99.9\":{}}}", a * 4.0, a * 9.0);
        let files = vec![
            report(
                dir.path(),
                "c2.json",
                &format!(
                    "{{\"kind\":\"consumer\",\"e2e_sent_per_s\":9000,\"e2e_latency_ms\":{}}}",
                    pct(2.0)
                ),
            ),
            report(
                dir.path(),
                "c1.json",
                &format!(
                    "{{\"kind\":\"consumer\",\"e2e_sent_per_s\":1000,\"e2e_latency_ms\":{}}}",
                    pct(0.5)
                ),
            ),
            report(
                dir.path(),
                "p.json",
                &format!(
                    "{{\"kind\":\"producer\",\"tps\":9000,\"latency_ms\":{}}}",
                    pct(1.0)
                ),
            ),
        ];
        let svg = draw(&files, Latency::EndToEnd).unwrap();
        assert!(
            svg.contains("e2e p99.9") && !svg.contains("send p50"),
            "{svg}"
        );
        // Three series of two points each, the 1000 msgs/s point first.
        assert_eq!(svg.matches("<circle").count(), 6);
        let first = svg.split("points=\"").nth(1).unwrap();
        assert!(first.starts_with("119.6,"), "{first}");
        let send = draw(&files, Latency::Send).unwrap();
        assert_eq!(send.matches("<circle").count(), 3);
    }

    #[test]
    fn files_without_the_latency_asked_for_are_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = report(dir.path(), "p.json", "{\"kind\":\"producer\",\"tps\":1}");
        let e = draw(&[p], Latency::EndToEnd).unwrap_err();
        assert!(e.contains("bench producer --e2e"), "{e}");
        let bad = report(dir.path(), "bad.json", "not json");
        let e = draw(&[bad], Latency::Send).unwrap_err();
        assert!(e.contains("bad.json"), "{e}");
    }
}
