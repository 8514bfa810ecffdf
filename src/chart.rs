//! Line charts as SVG, drawn here: the console's time series and the benchmarks'
//! latency-vs-throughput curves are a few polylines and two axes, which is less code than
//! a charting crate's configuration.

use std::fmt::Write as _;

use crate::console::html::esc;

const WIDTH_PX: f64 = 640.0;
const HEIGHT_PX: f64 = 180.0;
const LEFT_PX: f64 = 56.0;
const RIGHT_PX: f64 = 12.0;
const TOP_PX: f64 = 12.0;
const BOTTOM_PX: f64 = 24.0;
const COLORS: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];

/// One line: a name and (time ms, value) points in time order.
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points, oldest first.
    pub points: Vec<(i64, f64)>,
}

/// The smallest of 1, 2, 5 × 10^k at or above `v` (axis top).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let base = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * base)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * base)
}

/// Clock time `HH:MM:SS` of a timestamp, local.
fn clock(ms: i64) -> String {
    let full = crate::admin::table::local_time(ms, false);
    full.split(' ').nth(1).unwrap_or(&full).to_owned()
}

/// How an [`xy_chart`] lays out its axes.
pub struct Axes<'a> {
    /// Label of an x value (a clock time, a rate).
    pub x_label: &'a dyn Fn(i64) -> String,
    /// Start the x axis at 0 rather than at the smallest x.
    pub x_from_zero: bool,
    /// Logarithmic y axis (decades), for latencies that span orders of magnitude.
    pub log_y: bool,
    /// Mark each point with a dot (few points per series).
    pub dots: bool,
    /// Unit written at the top of the y axis.
    pub y_unit: &'a str,
}

impl<'a> Axes<'a> {
    /// Latency (ms, log scale) against a rate from 0, points marked: a benchmark's curve.
    pub fn latency_vs_rate(x_label: &'a dyn Fn(i64) -> String) -> Self {
        Axes {
            x_label,
            x_from_zero: true,
            log_y: true,
            dots: true,
            y_unit: "ms",
        }
    }
}

/// An SVG chart of `series` over a shared time axis, `unit` labelling the values.
pub fn line_chart(id: &str, unit: &str, series: &[Series]) -> String {
    let axes = Axes {
        x_label: &clock,
        x_from_zero: false,
        log_y: false,
        dots: false,
        y_unit: unit,
    };
    xy_chart(id, &axes, series)
}

/// Where a value sits on the y axis, from 0 (bottom) to 1 (top).
struct YScale {
    log: bool,
    bottom: f64,
    top: f64,
}

impl YScale {
    fn of(axes: &Axes, values: impl Iterator<Item = f64>) -> YScale {
        let (mut lo, mut hi) = (f64::MAX, 0f64);
        for v in values {
            hi = hi.max(v);
            if v > 0.0 {
                lo = lo.min(v);
            }
        }
        if axes.log_y && lo <= hi {
            let bottom = 10f64.powf(lo.log10().floor());
            let top = 10f64.powf(hi.log10().ceil()).max(bottom * 10.0);
            YScale {
                log: true,
                bottom,
                top,
            }
        } else {
            YScale {
                log: false,
                bottom: 0.0,
                top: nice_ceiling(hi),
            }
        }
    }

    fn fraction(&self, v: f64) -> f64 {
        if self.log {
            let v = v.max(self.bottom);
            (v / self.bottom).log10() / (self.top / self.bottom).log10()
        } else {
            v / self.top
        }
    }

    /// Values worth a grid line and a label.
    fn ticks(&self) -> Vec<f64> {
        if !self.log {
            return vec![0.0, self.top];
        }
        let mut ticks = vec![self.bottom];
        while let Some(&t) = ticks.last().filter(|t| **t < self.top * 0.999) {
            ticks.push(t * 10.0);
        }
        ticks
    }
}

/// An SVG chart of `series` (points in x order) laid out by `axes`.
pub fn xy_chart(id: &str, axes: &Axes, series: &[Series]) -> String {
    let mut out = format!(
        "<svg class=\"chart\" id=\"{}\" viewBox=\"0 0 {WIDTH_PX} {HEIGHT_PX}\" \
         width=\"{WIDTH_PX}\" height=\"{HEIGHT_PX}\" role=\"img\" \
         xmlns=\"http://www.w3.org/2000/svg\">",
        esc(id)
    );
    // Opaque, so a chart opened on its own (a results file's SVG) reads on dark themes too.
    out.push_str("<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>");
    let all = || series.iter().flat_map(|s| s.points.iter());
    let (mut t0, mut t1) = (i64::MAX, i64::MIN);
    for (t, _) in all() {
        t0 = t0.min(*t);
        t1 = t1.max(*t);
    }
    let (x0, x1) = (LEFT_PX, WIDTH_PX - RIGHT_PX);
    let (y0, y1) = (HEIGHT_PX - BOTTOM_PX, TOP_PX);
    let _ = write!(
        out,
        "<line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" stroke=\"#888\"/>\
         <line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x0}\" y2=\"{y1}\" stroke=\"#888\"/>"
    );
    if t0 > t1 {
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">no samples yet</text></svg>",
            WIDTH_PX / 2.0,
            HEIGHT_PX / 2.0
        );
        return out;
    }
    if axes.x_from_zero {
        t0 = t0.min(0);
    }
    let scale = YScale::of(axes, all().map(|(_, v)| *v));
    let span = (t1 - t0).max(1) as f64;
    let x = |t: i64| x0 + (t - t0) as f64 / span * (x1 - x0);
    let y = |v: f64| y0 - scale.fraction(v) * (y0 - y1);
    for tick in scale.ticks() {
        let ty = y(tick);
        if tick > scale.bottom && tick < scale.top {
            let _ = write!(
                out,
                "<line x1=\"{x0}\" y1=\"{ty:.1}\" x2=\"{x1}\" y2=\"{ty:.1}\" stroke=\"#ddd\"/>"
            );
        }
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"11\">{tick}</text>",
            x0 - 4.0,
            (ty + 4.0).min(y0)
        );
    }
    let _ = write!(
        out,
        "<text x=\"{x1}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\">{}</text>\
         <text x=\"{x0}\" y=\"{}\" font-size=\"11\">{}</text>\
         <text x=\"{x1}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\">{}</text>",
        y1 + 10.0,
        esc(axes.y_unit),
        HEIGHT_PX - 6.0,
        esc(&(axes.x_label)(t0)),
        HEIGHT_PX - 6.0,
        esc(&(axes.x_label)(t1)),
    );
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<(f64, f64)> = s.points.iter().map(|(t, v)| (x(*t), y(*v))).collect();
        let text: Vec<String> = points
            .iter()
            .map(|(a, b)| format!("{a:.1},{b:.1}"))
            .collect();
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>\
             <text x=\"{}\" y=\"{}\" fill=\"{color}\" font-size=\"11\">{}</text>",
            text.join(" "),
            x0 + 8.0 + 150.0 * i as f64,
            y1 + 10.0,
            esc(&s.name)
        );
        if axes.dots {
            for (a, b) in &points {
                let _ = write!(
                    out,
                    "<circle cx=\"{a:.1}\" cy=\"{b:.1}\" r=\"2.5\" fill=\"{color}\"/>"
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(17.0), 20.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
        assert_eq!(nice_ceiling(101.0), 200.0);
    }

    #[test]
    fn points_span_the_plot_area() {
        let s = Series {
            name: "in <tps>".into(),
            points: vec![(1_000, 0.0), (2_000, 50.0), (3_000, 100.0)],
        };
        let svg = line_chart("c", "msg/s", &[s]);
        // First point at the left axis and bottom, last at the right edge and top.
        assert!(svg.contains("points=\"56.0,156.0 "), "{svg}");
        assert!(svg.contains(" 628.0,12.0\""), "{svg}");
        assert!(svg.contains("in &lt;tps&gt;"));
        assert!(line_chart("e", "x", &[]).contains("no samples yet"));
    }

    #[test]
    fn log_axis_spans_whole_decades_and_x_can_start_at_zero() {
        let s = Series {
            name: "p99".into(),
            points: vec![(1_000, 0.5), (9_000, 40.0)],
        };
        let label = |v: i64| format!("{v}/s");
        let svg = xy_chart("l", &Axes::latency_vs_rate(&label), &[s]);
        // y runs 0.1 .. 100 ms (three decades); 0.5 ms sits log10(5)/3 of the way up.
        for tick in [">0.1<", ">1<", ">10<", ">100<"] {
            assert!(svg.contains(tick), "{tick} in {svg}");
        }
        let frac = 5f64.log10() / 3.0;
        let want_y = 156.0 - frac * 144.0;
        let want_x = 56.0 + 1_000.0 / 9_000.0 * 572.0;
        assert!(
            svg.contains(&format!("points=\"{want_x:.1},{want_y:.1} ")),
            "{svg}"
        );
        assert!(svg.contains(">0/s<") && svg.contains(">9000/s<"));
        assert_eq!(svg.matches("<circle").count(), 2);
    }
}
