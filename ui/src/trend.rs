//! A trend plot of one measured value as inline SVG: the points over time, joined by a line,
//! over a shaded reference range; values outside the range are drawn in red.

use carelog_desktop_api::Trend;
use leptos::prelude::*;

const WIDTH: f64 = 360.0;
const HEIGHT: f64 = 140.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 14.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 22.0;

/// Readable number: no trailing ".0".
pub fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A unit as people write it.
pub fn unit_text(unit: &str) -> &str {
    match unit {
        "mm[Hg]" => "mmHg",
        "Cel" => "°C",
        other => other,
    }
}

/// The plot's scales: value and time to SVG coordinates.
struct Scale {
    lo: f64,
    hi: f64,
    t0: i64,
    t1: i64,
}

impl Scale {
    fn of(trend: &Trend) -> Scale {
        let values = trend
            .points
            .iter()
            .map(|p| p.value)
            .chain(trend.low)
            .chain(trend.high);
        let (mut lo, mut hi) =
            values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if lo > hi {
            (lo, hi) = (0.0, 1.0);
        }
        let pad = ((hi - lo) * 0.1).max(1.0);
        let t0 = trend.points.first().map_or(0, |p| p.time_ms);
        let t1 = trend.points.last().map_or(0, |p| p.time_ms);
        Scale {
            lo: lo - pad,
            hi: hi + pad,
            t0,
            t1,
        }
    }

    fn y(&self, v: f64) -> f64 {
        TOP + (self.hi - v) / (self.hi - self.lo) * (HEIGHT - TOP - BOTTOM)
    }

    fn x(&self, t: i64) -> f64 {
        let span = WIDTH - LEFT - RIGHT;
        if self.t1 <= self.t0 {
            return LEFT + span / 2.0;
        }
        LEFT + (t - self.t0) as f64 / (self.t1 - self.t0) as f64 * span
    }
}

/// One trend plot.
#[component]
pub fn TrendPlot(trend: Trend) -> impl IntoView {
    let scale = Scale::of(&trend);
    let unit = unit_text(&trend.unit).to_string();
    let outside = |v: f64| trend.low.is_some_and(|l| v < l) || trend.high.is_some_and(|h| v > h);
    let range_text = match (trend.low, trend.high) {
        (Some(l), Some(h)) => format!("reference {}–{} {unit}", number(l), number(h)),
        (Some(l), None) => format!("reference above {} {unit}", number(l)),
        (None, Some(h)) => format!("reference below {} {unit}", number(h)),
        (None, None) => "no reference range".into(),
    };
    let latest = trend.points.last().map(|p| p.value);
    let label = format!(
        "{} trend: {} value{}, latest {} {unit}, {range_text}",
        trend.name,
        trend.points.len(),
        if trend.points.len() == 1 { "" } else { "s" },
        latest.map(number).unwrap_or_default(),
    );
    let band = match (trend.low, trend.high) {
        (Some(l), Some(h)) => {
            let (y1, y2) = (scale.y(h), scale.y(l));
            Some(view! {
                <rect class="band" x=LEFT y=y1 width=WIDTH - LEFT - RIGHT height=(y2 - y1).max(1.0)/>
            }
            .into_any())
        }
        (Some(v), None) | (None, Some(v)) => {
            let y = scale.y(v);
            Some(view! { <line class="axis" x1=LEFT x2=WIDTH - RIGHT y1=y y2=y stroke-dasharray="4 3"/> }.into_any())
        }
        (None, None) => None,
    };
    let line: String = trend
        .points
        .iter()
        .map(|p| format!("{:.1},{:.1}", scale.x(p.time_ms), scale.y(p.value)))
        .collect::<Vec<_>>()
        .join(" ");
    let points = trend
        .points
        .iter()
        .map(|p| {
            let class = if outside(p.value) { "point out" } else { "point" };
            view! {
                <circle class=class cx=format!("{:.1}", scale.x(p.time_ms)) cy=format!("{:.1}", scale.y(p.value)) r="4"
                    data-value=number(p.value) data-time=p.time.clone()/>
            }
        })
        .collect_view();
    let first_date = trend
        .points
        .first()
        .map(|p| p.time.chars().take(10).collect::<String>())
        .unwrap_or_default();
    let last_date = trend
        .points
        .last()
        .map(|p| p.time.chars().take(10).collect::<String>())
        .unwrap_or_default();
    let caption = format!("{} ({unit}) — {range_text}", trend.name);
    view! {
        <figure class="trend" data-loinc=trend.loinc.clone()>
            <svg class="trend-plot" data-loinc=trend.loinc.clone() viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                role="img" aria-label=label>
                {band}
                <line class="axis" x1=LEFT x2=LEFT y1=TOP y2=HEIGHT - BOTTOM/>
                <line class="axis" x1=LEFT x2=WIDTH - RIGHT y1=HEIGHT - BOTTOM y2=HEIGHT - BOTTOM/>
                <text x="4" y=TOP + 4.0>{number(scale.hi)}</text>
                <text x="4" y=HEIGHT - BOTTOM>{number(scale.lo)}</text>
                <text x=LEFT y=HEIGHT - 6.0>{first_date}</text>
                <text x=WIDTH - RIGHT - 60.0 y=HEIGHT - 6.0>{last_date}</text>
                <polyline class="line" points=line/>
                {points}
            </svg>
            <figcaption>
                <strong>{trend.name.clone()}</strong>
                {latest.map(|v| format!(": latest {} {unit}", number(v)))}
                <br/>{caption}
            </figcaption>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carelog_desktop_api::TrendPoint;

    fn trend(values: &[(i64, f64)]) -> Trend {
        Trend {
            loinc: "8480-6".into(),
            name: "Systolic blood pressure".into(),
            unit: "mm[Hg]".into(),
            low: Some(90.0),
            high: Some(120.0),
            kind: carelog_desktop_api::EntryKind::Vitals,
            points: values
                .iter()
                .map(|&(t, v)| TrendPoint {
                    time_ms: t,
                    time: String::new(),
                    value: v,
                })
                .collect(),
        }
    }

    #[test]
    fn the_scale_holds_every_point_and_the_range() {
        let t = trend(&[(0, 150.0), (10, 130.0), (20, 118.0)]);
        let s = Scale::of(&t);
        for v in [150.0, 130.0, 118.0, 90.0, 120.0] {
            let y = s.y(v);
            assert!((TOP..=HEIGHT - BOTTOM).contains(&y), "{v} → {y}");
        }
        assert!(s.y(150.0) < s.y(90.0), "higher values are drawn higher");
        assert_eq!(s.x(0), LEFT);
        assert_eq!(s.x(20), WIDTH - RIGHT);
    }

    #[test]
    fn one_point_sits_in_the_middle() {
        let s = Scale::of(&trend(&[(5, 120.0)]));
        assert_eq!(s.x(5), LEFT + (WIDTH - LEFT - RIGHT) / 2.0);
        assert_eq!(number(120.0), "120");
        assert_eq!(number(7.94), "7.9");
        assert_eq!(unit_text("mm[Hg]"), "mmHg");
    }
}
