//! Line charts as inline SVG, drawn here: a console chart is a few polylines and two axes,
//! which is less code than a charting crate's configuration.

use std::fmt::Write as _;

use super::html::esc;

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

/// An SVG chart of `series` over a shared time axis, `unit` labelling the values.
pub fn line_chart(id: &str, unit: &str, series: &[Series]) -> String {
    let mut out = format!(
        "<svg class=\"chart\" id=\"{}\" viewBox=\"0 0 {WIDTH_PX} {HEIGHT_PX}\" \
         width=\"{WIDTH_PX}\" height=\"{HEIGHT_PX}\" role=\"img\">",
        esc(id)
    );
    let all = series.iter().flat_map(|s| s.points.iter());
    let (mut t0, mut t1, mut top) = (i64::MAX, i64::MIN, 0f64);
    for (t, v) in all {
        t0 = t0.min(*t);
        t1 = t1.max(*t);
        top = top.max(*v);
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
    let top = nice_ceiling(top);
    let span_ms = (t1 - t0).max(1) as f64;
    let x = |t: i64| x0 + (t - t0) as f64 / span_ms * (x1 - x0);
    let y = |v: f64| y0 - v / top * (y0 - y1);
    let _ = write!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\">{top}</text>\
         <text x=\"{x1}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\">{}</text>\
         <text x=\"{}\" y=\"{y0}\" text-anchor=\"end\" font-size=\"11\">0</text>\
         <text x=\"{x0}\" y=\"{}\" font-size=\"11\">{}</text>\
         <text x=\"{x1}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\">{}</text>",
        x0 - 4.0,
        y1 + 10.0,
        y1 + 10.0,
        esc(unit),
        x0 - 4.0,
        HEIGHT_PX - 6.0,
        clock(t0),
        HEIGHT_PX - 6.0,
        clock(t1),
    );
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<String> = s
            .points
            .iter()
            .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
            .collect();
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>\
             <text x=\"{}\" y=\"{}\" fill=\"{color}\" font-size=\"11\">{}</text>",
            points.join(" "),
            x0 + 8.0 + 150.0 * i as f64,
            y1 + 10.0,
            esc(&s.name)
        );
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
}
