//! A hand-written SVG line chart with logarithmic axes: latency against concurrent sessions.

use std::fmt::Write;

/// One line of the chart.
pub struct Series {
    /// The legend text.
    pub label: String,
    /// A CSS colour.
    pub color: &'static str,
    /// Dashed rather than solid.
    pub dashed: bool,
    /// (x, y) points, both positive.
    pub points: Vec<(f64, f64)>,
}

/// What to draw.
pub struct Chart<'a> {
    /// The heading.
    pub title: &'a str,
    /// The x axis caption.
    pub x_label: &'a str,
    /// The y axis caption.
    pub y_label: &'a str,
    /// Where the x axis has ticks (the loads measured).
    pub x_ticks: &'a [f64],
    /// The lines.
    pub series: Vec<Series>,
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 230.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;

/// Ticks at 1, 2 and 5 times each power of ten across [lo, hi], or powers of ten alone when the
/// range spans more than three decades.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let steps: &[f64] = if hi / lo > 1_000.0 {
        &[1.0]
    } else {
        &[1.0, 2.0, 5.0]
    };
    let mut ticks = Vec::new();
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi {
        for s in steps {
            let t = decade * s;
            if t >= lo * 0.999 && t <= hi * 1.001 {
                ticks.push(t);
            }
        }
        decade *= 10.0;
    }
    ticks
}

fn number(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The chart as an SVG document.
pub fn render(chart: &Chart<'_>) -> String {
    let points = chart.series.iter().flat_map(|s| s.points.iter());
    let ys: Vec<f64> = points
        .clone()
        .map(|p| p.1)
        .filter(|y| y.is_finite() && *y > 0.0)
        .collect();
    let xs: Vec<f64> = chart
        .x_ticks
        .iter()
        .copied()
        .chain(points.map(|p| p.0))
        .collect();
    let (x_lo, x_hi) = (
        xs.iter().copied().fold(f64::INFINITY, f64::min),
        xs.iter().copied().fold(0.0, f64::max),
    );
    let y_min = ys.iter().copied().fold(f64::INFINITY, f64::min);
    let y_max = ys.iter().copied().fold(0.0, f64::max);
    let (y_lo, y_hi) = if ys.is_empty() {
        (1.0, 10.0)
    } else {
        (
            10f64.powf(y_min.log10().floor()),
            10f64
                .powf(y_max.log10().ceil())
                .max(10f64.powf(y_min.log10().floor() + 1.0)),
        )
    };
    let (x_lo, x_hi) = if x_lo < x_hi {
        (x_lo, x_hi)
    } else {
        (1.0, 10.0)
    };
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    // A little room on either side so the first and last points are not on the frame.
    let pad = (x_hi / x_lo).log10() * 0.04;
    let x_of =
        |x: f64| LEFT + plot_w * ((x / x_lo).log10() + pad) / ((x_hi / x_lo).log10() + 2.0 * pad);
    let y_of = |y: f64| TOP + plot_h * (1.0 - (y / y_lo).log10() / (y_hi / y_lo).log10());

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="28" text-anchor="middle" font-size="16" font-weight="bold">{}</text>"#,
        LEFT + plot_w / 2.0,
        escape(chart.title)
    );
    for t in log_ticks(y_lo, y_hi) {
        let y = y_of(t);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e4e4e4"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 8.0,
            y + 4.0,
            number(t)
        );
    }
    for &t in chart.x_ticks {
        let x = x_of(t);
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#e4e4e4"/><line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="black"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + plot_h,
            TOP + plot_h,
            TOP + plot_h + 5.0,
            TOP + plot_h + 20.0,
            number(t)
        );
    }
    let _ = writeln!(
        svg,
        r#"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 15.0,
        escape(chart.x_label)
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(22 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        TOP + plot_h / 2.0,
        escape(chart.y_label)
    );
    for (i, s) in chart.series.iter().enumerate() {
        let dash = if s.dashed {
            r#" stroke-dasharray="7 4""#
        } else {
            ""
        };
        let path: Vec<String> = s
            .points
            .iter()
            .filter(|p| p.1.is_finite() && p.1 > 0.0)
            .map(|&(x, y)| format!("{:.1},{:.1}", x_of(x), y_of(y)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
            path.join(" "),
            s.color
        );
        for p in &path {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(
                svg,
                r#"<circle cx="{x}" cy="{y}" r="3.5" fill="{}"/>"#,
                s.color
            );
        }
        let ly = TOP + 14.0 + 22.0 * i as f64;
        let lx = LEFT + plot_w + 16.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{lx}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="{}" stroke-width="2"{dash}/><circle cx="{:.1}" cy="{ly}" r="3.5" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 30.0,
            s.color,
            lx + 15.0,
            s.color,
            lx + 38.0,
            ly + 4.0,
            escape(&s.label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_cover_the_range_at_one_two_five() {
        assert_eq!(
            log_ticks(1.0, 100.0),
            vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
        );
        assert_eq!(log_ticks(1.0, 1e5), vec![1.0, 10.0, 100.0, 1e3, 1e4, 1e5]);
    }

    #[test]
    fn the_chart_names_every_series_and_draws_each_point() {
        let svg = render(&Chart {
            title: "p99 <latency>",
            x_label: "sessions",
            y_label: "ms",
            x_ticks: &[50.0, 200.0],
            series: vec![
                Series {
                    label: "insert".into(),
                    color: "red",
                    dashed: false,
                    points: vec![(50.0, 3.0), (200.0, 40.0)],
                },
                Series {
                    label: "query".into(),
                    color: "blue",
                    dashed: true,
                    points: vec![(50.0, 1.0), (200.0, f64::NAN)],
                },
            ],
        });
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("p99 &lt;latency&gt;"));
        assert!(svg.contains(">insert<") && svg.contains(">query<"));
        assert_eq!(svg.matches("<circle").count(), 3 + 2);
    }
}
