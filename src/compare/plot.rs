//! The report's charts as SVG text, drawn with plotters' SVG backend. Text is written
//! as SVG `<text>` and laid out by the browser, so no font files or system font
//! libraries are involved.

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::metrics::{Histogram, LruPoint};

/// Points kept of an empirical CDF: enough for a smooth curve at report size, few enough
/// that a ten-million-gap sample stays a small file.
pub const CDF_POINTS: usize = 400;

const SIZE: (u32, u32) = (720, 400);
const REAL: RGBColor = RGBColor(31, 119, 180);
const SYNTH: RGBColor = RGBColor(230, 110, 10);

/// Line width per series: the real curve wide underneath, the synthetic one narrow on
/// top, so where they coincide both stay visible.
fn width(color: RGBColor) -> u32 {
    if color == REAL { 5 } else { 2 }
}

#[derive(Debug, thiserror::Error)]
#[error("drawing {chart}: {message}")]
pub struct PlotError {
    chart: String,
    message: String,
}

/// Thin a sample to at most [`CDF_POINTS`] `(value, F(value))` points, evenly spaced
/// in probability, first and last included.
pub fn thin_cdf(sample: &Histogram) -> Vec<(f64, f64)> {
    let n = sample.total();
    if n == 0 {
        return Vec::new();
    }
    let ranks: Vec<u64> = if n as usize <= CDF_POINTS {
        (0..n).collect()
    } else {
        (0..CDF_POINTS)
            .map(|k| ((k as f64 * (n - 1) as f64) / (CDF_POINTS - 1) as f64).round() as u64)
            .collect()
    };
    // Ranks ascend: one walk over the distinct values serves them all.
    let mut values = sample.iter();
    let (mut current, mut below_next) = (f64::NAN, 0u64);
    ranks
        .into_iter()
        .map(|i| {
            while i >= below_next {
                let (v, c) = values.next().expect("rank within the sample");
                current = v;
                below_next += c;
            }
            (current, (i + 1) as f64 / n as f64)
        })
        .collect()
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draw on a fresh SVG canvas and return its text.
fn svg(chart: &str, draw: impl FnOnce(&Area) -> Result<(), String>) -> Result<String, PlotError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        let fail = |message: String| PlotError {
            chart: chart.to_string(),
            message,
        };
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        draw(&root).map_err(fail)?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    Ok(out)
}

/// A number as an axis label: 0.001, 0.5, 12, 1.5k, 2M.
pub fn short_number(x: f64) -> String {
    let a = x.abs();
    let (v, suffix) = if a >= 1e6 {
        (x / 1e6, "M")
    } else if a >= 1e3 {
        (x / 1e3, "k")
    } else {
        (x, "")
    };
    let s = if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{suffix}")
}

/// Overlaid CDFs on a log x axis. Values at or below zero (tied arrivals) cannot sit on
/// a log axis; they are drawn at the left edge, which the caption says.
pub fn cdf_chart(
    title: &str,
    x_desc: &str,
    real: &[(f64, f64)],
    synth: &[(f64, f64)],
) -> Result<String, PlotError> {
    let positive = real
        .iter()
        .chain(synth)
        .map(|p| p.0)
        .filter(|&x| x > 0.0)
        .fold(f64::INFINITY, f64::min);
    let max = real.iter().chain(synth).map(|p| p.0).fold(0.0, f64::max);
    let lo = if positive.is_finite() {
        // One decade of room below the smallest value keeps the first step visible.
        10f64.powf(positive.log10().floor())
    } else {
        1.0
    };
    let hi = if max > lo {
        10f64.powf(max.log10().ceil())
    } else {
        lo * 10.0
    };
    let clipped = real.iter().chain(synth).any(|p| p.0 < lo);
    let caption = if clipped {
        format!(
            "{title} (values below {} drawn at the left edge)",
            short_number(lo)
        )
    } else {
        title.to_string()
    };
    svg(title, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(caption, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..1f64)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .light_line_style(RGBColor(235, 235, 235))
            .x_desc(x_desc)
            .y_desc("CDF")
            .x_label_formatter(&|x| short_number(*x))
            .y_label_formatter(&|y| format!("{y:.1}"))
            .draw()
            .map_err(|e| e.to_string())?;
        for (name, points, color) in [("real", real, REAL), ("synthetic", synth, SYNTH)] {
            if points.is_empty() {
                continue;
            }
            // A step function: the CDF holds its level until the next value.
            let mut steps = Vec::with_capacity(points.len() * 2 + 1);
            let mut level = 0.0;
            for &(x, p) in points {
                let x = x.max(lo);
                steps.push((x, level));
                steps.push((x, p));
                level = p;
            }
            steps.push((hi, level));
            draw_line(&mut chart, steps, name, color)?;
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
}

/// One labelled series of a line chart, in the trace's colour and width.
fn draw_line<'a, DB: DrawingBackend + 'a, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'a, DB, CT>,
    points: impl IntoIterator<Item = (f64, f64)>,
    name: &str,
    color: RGBColor,
) -> Result<(), String> {
    let style = color.stroke_width(width(color));
    chart
        .draw_series(LineSeries::new(points, style))
        .map_err(|e| e.to_string())?
        .label(name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    Ok(())
}

fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    at: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(at)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())
}

/// Requests per window over time, both traces on one chart.
pub fn rate_chart(real: &[f64], synth: &[f64], window_s: f64) -> Result<String, PlotError> {
    let minutes = window_s / 60.0;
    let x_max = (real.len().max(synth.len()).max(1) as f64) * minutes;
    // Headroom for the legend in the upper right corner.
    let y_max = real.iter().chain(synth).fold(1.0f64, |m, &v| m.max(v)) * 1.3;
    svg("rate", |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Rate over time", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .light_line_style(RGBColor(235, 235, 235))
            .x_desc("minutes from the first request")
            .y_desc(format!("requests per {} s", window_s))
            .x_label_formatter(&|x| short_number(*x))
            .y_label_formatter(&|y| short_number(*y))
            .draw()
            .map_err(|e| e.to_string())?;
        for (name, counts, color) in [("real", real, REAL), ("synthetic", synth, SYNTH)] {
            if counts.is_empty() {
                continue;
            }
            let points = counts
                .iter()
                .enumerate()
                .map(|(i, &c)| ((i as f64 + 0.5) * minutes, c));
            draw_line(&mut chart, points, name, color)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// Turns shown one by one up to this; later turns are folded into the last bar.
const TURN_BARS: u32 = 15;

/// Share of requests per turn, real and synthetic bars side by side.
pub fn turns_chart(
    real: &BTreeMap<u32, u64>,
    synth: &BTreeMap<u32, u64>,
) -> Result<String, PlotError> {
    let shares = |h: &BTreeMap<u32, u64>| {
        let total = h.values().sum::<u64>().max(1) as f64;
        let mut bars = vec![0.0; TURN_BARS as usize];
        for (&turn, &n) in h {
            let k = turn.clamp(1, TURN_BARS) as usize - 1;
            bars[k] += n as f64 / total;
        }
        bars
    };
    let (r, s) = (shares(real), shares(synth));
    let y_max = (r.iter().chain(&s).fold(0.0f64, |m, &v| m.max(v)) * 1.1).max(0.05);
    svg("turns", |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Turn histogram", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(0.5f64..TURN_BARS as f64 + 0.5, 0f64..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .light_line_style(RGBColor(235, 235, 235))
            .disable_x_mesh()
            .x_labels(TURN_BARS as usize)
            .x_desc("turn")
            .y_desc("share of requests")
            .x_label_formatter(&|x| {
                let k = x.round() as u32;
                if k == TURN_BARS {
                    format!("{k}+")
                } else {
                    k.to_string()
                }
            })
            .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
            .draw()
            .map_err(|e| e.to_string())?;
        for (name, bars, color, offset) in [("real", &r, REAL, -0.4), ("synthetic", &s, SYNTH, 0.0)]
        {
            chart
                .draw_series(bars.iter().enumerate().map(|(i, &v)| {
                    let x = i as f64 + 1.0 + offset;
                    Rectangle::new([(x, 0.0), (x + 0.4, v)], color.filled())
                }))
                .map_err(|e| e.to_string())?
                .label(name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled())
                });
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// LRU hit ratio against cache size (percent of each trace's unique blocks).
pub fn lru_chart(real: &[LruPoint], synth: &[LruPoint]) -> Result<String, PlotError> {
    let pts = |c: &[LruPoint]| -> Vec<(f64, f64)> {
        c.iter()
            .filter_map(|p| p.hit_ratio.map(|h| (p.percent, h)))
            .collect()
    };
    let (r, s) = (pts(real), pts(synth));
    let y_max = (r.iter().chain(&s).fold(0.0f64, |m, p| m.max(p.1)) + 0.05).min(1.0);
    svg("lru", |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Prefix hit ratio vs LRU cache size", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d((1f64..100f64).log_scale(), 0f64..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .light_line_style(RGBColor(235, 235, 235))
            .x_desc("cache size, % of the trace's unique blocks")
            .y_desc("hit ratio")
            .x_label_formatter(&|x| short_number(*x))
            .y_label_formatter(&|y| format!("{y:.2}"))
            .draw()
            .map_err(|e| e.to_string())?;
        for (name, points, color) in [("real", &r, REAL), ("synthetic", &s, SYNTH)] {
            if points.is_empty() {
                continue;
            }
            draw_line(&mut chart, points.iter().copied(), name, color)?;
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| e.to_string())?;
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
}

/// Colours of the policies' curves, in the order of `cachesim`'s policies.
const POLICY_COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(230, 110, 10),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Hit ratio against cache size for each eviction policy of `cachesim`: the real
/// trace's curves wide, the synthetic trace's thin with crosses, one colour per policy.
pub fn policy_chart(
    real: &crate::cachesim::Curves,
    synth: Option<&crate::cachesim::Curves>,
) -> Result<String, PlotError> {
    let pts = |c: &crate::cachesim::Curves, k: usize| -> Vec<(f64, f64)> {
        c.capacities
            .iter()
            .zip(&c.policies[k].hit_ratios)
            .filter_map(|(cap, h)| Some((cap.percent?, (*h)?)))
            .collect()
    };
    let all = |c: &crate::cachesim::Curves| {
        (0..c.policies.len())
            .flat_map(|k| pts(c, k))
            .collect::<Vec<_>>()
    };
    let mut points = all(real);
    if let Some(s) = synth {
        points.extend(all(s));
    }
    let y_max = (points.iter().fold(0.0f64, |m, p| m.max(p.1)) + 0.05).min(1.0);
    let x_max = points.iter().fold(2.0f64, |m, p| m.max(p.0));
    svg("policies", |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Hit ratio per eviction policy (wide: real, thin: synthetic)",
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d((1f64..x_max).log_scale(), 0f64..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .light_line_style(RGBColor(235, 235, 235))
            .x_desc("cache size, % of the trace's unique blocks")
            .y_desc("hit ratio")
            .x_label_formatter(&|x| short_number(*x))
            .y_label_formatter(&|y| format!("{y:.2}"))
            .draw()
            .map_err(|e| e.to_string())?;
        for (k, policy) in real.policies.iter().enumerate() {
            let color = POLICY_COLORS[k % POLICY_COLORS.len()];
            let style = color.stroke_width(4);
            chart
                .draw_series(LineSeries::new(pts(real, k), style))
                .map_err(|e| e.to_string())?
                .label(policy.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            let Some(s) = synth else { continue };
            let Some(j) = s.policies.iter().position(|p| p.name == policy.name) else {
                continue;
            };
            let thin = pts(s, j);
            chart
                .draw_series(LineSeries::new(thin.iter().copied(), color.stroke_width(1)))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(
                    thin.iter()
                        .map(|&p| Cross::new(p, 4, color.stroke_width(1))),
                )
                .map_err(|e| e.to_string())?;
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_both_ends_and_the_levels() {
        let v: Vec<f64> = (0..10_000).map(f64::from).collect();
        let c = thin_cdf(&Histogram::from_values(v.iter().copied()));
        assert_eq!(c.len(), CDF_POINTS);
        assert_eq!(c[0], (0.0, 1e-4));
        assert_eq!(*c.last().unwrap(), (9999.0, 1.0));
        assert!(c.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
        assert_eq!(
            thin_cdf(&Histogram::from_values([1.0, 2.0])),
            [(1.0, 0.5), (2.0, 1.0)]
        );
    }

    #[test]
    fn labels_are_short() {
        assert_eq!(short_number(1500.0), "1.5k");
        assert_eq!(short_number(2e6), "2M");
        assert_eq!(short_number(0.001), "0.001");
        assert_eq!(short_number(10.0), "10");
        assert_eq!(short_number(0.5), "0.5");
    }

    #[test]
    fn charts_are_svg_with_both_series() {
        let a = thin_cdf(&Histogram::from_values([0.0, 1.0, 10.0, 100.0]));
        let b = thin_cdf(&Histogram::from_values([2.0, 20.0]));
        let svg = cdf_chart("Input length", "tokens", &a, &b).unwrap();
        assert!(svg.starts_with("<svg") || svg.contains("<svg"));
        assert!(svg.contains("real") && svg.contains("synthetic"));
        assert!(
            svg.contains("drawn at the left edge"),
            "the zero is clipped and said so"
        );
        let turns = BTreeMap::from([(1, 3), (2, 1), (40, 1)]);
        assert!(turns_chart(&turns, &turns).unwrap().contains("15+"));
        let curves = |h: f64| crate::cachesim::Curves {
            requests: 1,
            blocks: 1,
            unique_blocks: 100,
            capacities: [1.0, 10.0]
                .iter()
                .map(|&p| crate::cachesim::capacity::Resolved {
                    label: format!("{p}%"),
                    blocks: p as u64,
                    percent: Some(p),
                    bytes: None,
                })
                .collect(),
            policies: ["lru", "s3fifo"]
                .iter()
                .map(|n| crate::cachesim::PolicyCurve {
                    name: n.to_string(),
                    hit_ratios: vec![Some(h), Some(2.0 * h)],
                })
                .collect(),
        };
        let svg = policy_chart(&curves(0.1), Some(&curves(0.2))).unwrap();
        assert!(svg.contains("s3fifo") && svg.contains("lru"));
    }
}
