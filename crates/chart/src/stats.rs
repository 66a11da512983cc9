//! Statistics over one observation code: what the information level shows instead of values.

use serde::{Deserialize, Serialize};

/// Which way a series of values is heading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trend {
    /// The fitted line climbs by more than the tolerance over the period.
    Rising,
    /// The fitted line drops by more than the tolerance over the period.
    Falling,
    /// Fewer than two times, or a change within the tolerance.
    Stable,
}

/// Relative change over the whole period below which a trend counts as stable (2 % of the mean).
pub const TREND_TOLERANCE: f64 = 0.02;

/// Count, range, mean and trend of one observation code, without the values themselves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObservationStats {
    /// LOINC code.
    pub loinc: String,
    /// What was measured.
    pub name: String,
    /// UCUM unit.
    pub unit: String,
    /// How many values.
    pub count: usize,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Direction of the least-squares line through the values over time.
    pub trend: Trend,
    /// Date of the first value, `YYYY-MM-DD`.
    pub first_date: String,
    /// Date of the last value, `YYYY-MM-DD`.
    pub last_date: String,
}

/// Statistics of `points` (Unix ms, value); `None` when there are none.
pub fn observation_stats(
    loinc: &str,
    name: &str,
    unit: &str,
    points: &[(i64, f64)],
) -> Option<ObservationStats> {
    let first = points.iter().map(|p| p.0).min()?;
    let last = points.iter().map(|p| p.0).max()?;
    let values = points.iter().map(|p| p.1);
    let count = points.len();
    let min = values.clone().fold(f64::INFINITY, f64::min);
    let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
    let mean = values.sum::<f64>() / count as f64;
    Some(ObservationStats {
        loinc: loinc.to_string(),
        name: name.to_string(),
        unit: unit.to_string(),
        count,
        min,
        max,
        mean,
        trend: trend(points),
        first_date: crate::view::date_text(first),
        last_date: crate::view::date_text(last),
    })
}

/// The sign of the least-squares slope of value over time, with `TREND_TOLERANCE`.
pub fn trend(points: &[(i64, f64)]) -> Trend {
    let Some(t0) = points.iter().map(|p| p.0).min() else {
        return Trend::Stable;
    };
    // Days since the first point keep the sums small and the slope in units per day.
    let xs: Vec<f64> = points
        .iter()
        .map(|p| p.0.abs_diff(t0) as f64 / 86_400_000.0)
        .collect();
    let n = points.len() as f64;
    let mean_x = xs.iter().sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, (_, y)) in xs.iter().zip(points) {
        sxy += (x - mean_x) * (y - mean_y);
        sxx += (x - mean_x) * (x - mean_x);
    }
    if sxx <= 0.0 || !sxx.is_finite() || !sxy.is_finite() {
        return Trend::Stable;
    }
    let span = xs.iter().copied().fold(0.0, f64::max);
    let change = sxy / sxx * span;
    let tolerance = TREND_TOLERANCE * mean_y.abs().max(f64::MIN_POSITIVE);
    if change > tolerance {
        Trend::Rising
    } else if change < -tolerance {
        Trend::Falling
    } else {
        Trend::Stable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn stats_of_a_rising_series() {
        let points = [(0, 120.0), (DAY, 130.0), (2 * DAY, 140.0)];
        let s = observation_stats("8480-6", "Systolic blood pressure", "mm[Hg]", &points).unwrap();
        assert_eq!((s.count, s.min, s.max, s.mean), (3, 120.0, 140.0, 130.0));
        assert_eq!(s.trend, Trend::Rising);
        assert_eq!(s.first_date, "1970-01-01");
        assert_eq!(s.last_date, "1970-01-03");
    }

    #[test]
    fn trend_directions_and_tolerance() {
        assert_eq!(trend(&[(0, 5.0), (DAY, 4.0)]), Trend::Falling);
        assert_eq!(
            trend(&[(0, 100.0), (DAY, 101.0)]),
            Trend::Stable,
            "1 % is within tolerance"
        );
        assert_eq!(
            trend(&[(0, 100.0), (DAY, 120.0), (2 * DAY, 100.0)]),
            Trend::Stable
        );
        assert_eq!(trend(&[(0, 1.0)]), Trend::Stable);
        assert_eq!(
            trend(&[(5, 1.0), (5, 9.0)]),
            Trend::Stable,
            "same time: no slope"
        );
        assert_eq!(trend(&[]), Trend::Stable);
        assert_eq!(trend(&[(i64::MIN, 1.0), (i64::MAX, 2.0)]), Trend::Rising);
        assert!(observation_stats("x", "x", "x", &[]).is_none());
    }
}
