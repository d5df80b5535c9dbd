//! The report's plots, drawn with `plotters`' SVG backend into strings for inlining into the
//! page: the forest plot of mean diffs with their intervals, the per-seed strip plot, line
//! charts (training curves, accuracy by quantile), the 2×2 cross-evaluation heat map and
//! overlaid histograms. Each returns the SVG text or the drawing error as a message (the page
//! shows it in the plot's place: one bad plot does not lose the report). Text in the plots is
//! escaped by plotters.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::verdict::Verdict;

/// A plot: SVG text, or why it could not be drawn.
pub type Plot = std::result::Result<String, String>;

const FONT: &str = "sans-serif";

/// The colour of a verdict, in the plots and on the page (every verdict named, so a new one
/// cannot fall through to a default colour).
pub fn verdict_color(verdict: Verdict) -> RGBColor {
    match verdict {
        Verdict::Match => RGBColor(0x1a, 0x98, 0x50),
        Verdict::Mismatch => RGBColor(0xd7, 0x30, 0x27),
        Verdict::NullFail => RGBColor(0xf4, 0x6d, 0x43),
        Verdict::NullOk => RGBColor(0x54, 0x27, 0x88),
        Verdict::NullInconclusive => RGBColor(0xc9, 0xa2, 0x27),
        Verdict::NoPrediction => RGBColor(0x45, 0x75, 0xb4),
        Verdict::NotDetected | Verdict::NoInference => RGBColor(0x87, 0x87, 0x87),
    }
}

/// `#rrggbb` of a colour, for CSS.
pub fn css(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// Distinct colours for seeds and runs.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x17, 0xbe, 0xcf),
];

/// Group colours: A, B, everyone (baseline).
pub const GROUP_A: RGBColor = RGBColor(0x21, 0x66, 0xac);
pub const GROUP_B: RGBColor = RGBColor(0xe0, 0x82, 0x14);
pub const GROUP_ALL: RGBColor = RGBColor(0x66, 0x66, 0x66);

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn text_style(size: u32, color: &RGBColor, h: HPos) -> TextStyle<'_> {
    TextStyle::from((FONT, size).into_font())
        .color(color)
        .pos(Pos::new(h, VPos::Center))
}

/// A range covering `values` and 0, padded by 8% on each side.
fn padded_range(values: impl Iterator<Item = f64>, with_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if with_zero {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    if !lo.is_finite() || !hi.is_finite() {
        return (-0.1, 0.1);
    }
    if hi - lo < 1e-9 {
        return (lo - 0.05, hi + 0.05);
    }
    let pad = (hi - lo) * 0.08;
    (lo - pad, hi + pad)
}

/// A share as signed percentage points for an axis (`+2.0`; never `-0.0`).
fn points(v: &f64) -> String {
    let x = v * 100.0;
    if x.abs() < 1e-9 {
        "0".into()
    } else {
        format!("{x:+.1}")
    }
}

/// One row of the forest plot.
#[derive(Debug, Clone)]
pub struct ForestRow {
    pub label: String,
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
    /// The point's colour (a verdict's: [`verdict_color`]).
    pub color: RGBColor,
    pub null_control: bool,
    /// Text right of the plot (the verdict, the planted sign).
    pub note: String,
}

const LABEL_W: u32 = 170;
const NOTE_W: u32 = 190;
const ROW_H: u32 = 30;

/// Mean diff with its interval per split, coloured by verdict; null controls hollow.
pub fn forest(rows: &[ForestRow], x_desc: &str) -> Plot {
    let n = rows.len().max(1);
    let (w, h) = (820u32, 70 + ROW_H * n as u32);
    let (x0, x1) = padded_range(rows.iter().flat_map(|r| [r.lo, r.hi, r.mean]), true);
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .margin_left(LABEL_W)
            .margin_right(NOTE_W)
            .x_label_area_size(40)
            .build_cartesian_2d(x0..x1, -0.5f64..(n as f64 - 0.5))
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .x_desc(x_desc)
            .x_label_formatter(&points)
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 12))
            .light_line_style(RGBColor(0xee, 0xee, 0xee))
            .draw()
            .map_err(err)?;
        let top = n as f64 - 0.5;
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, -0.5), (0.0, top)],
                BLACK.stroke_width(1),
            ))
            .map_err(err)?;
        for (i, r) in rows.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            let c = r.color;
            if r.null_control {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x0, y - 0.5), (x1, y + 0.5)],
                        RGBColor(0xf3, 0xf0, 0xf7).filled(),
                    )))
                    .map_err(err)?;
            }
            if r.lo.is_finite() && r.hi.is_finite() && r.mean.is_finite() {
                chart
                    .draw_series(std::iter::once(ErrorBar::new_horizontal(
                        y,
                        r.lo,
                        r.mean,
                        r.hi,
                        c.stroke_width(2),
                        10,
                    )))
                    .map_err(err)?;
                let dot = if r.null_control {
                    Circle::new((r.mean, y), 6, c.stroke_width(2))
                } else {
                    Circle::new((r.mean, y), 6, c.filled())
                };
                chart.draw_series(std::iter::once(dot)).map_err(err)?;
            }
            let (px, py) = chart.backend_coord(&(x0, y));
            root.draw(&Text::new(
                r.label.clone(),
                (px - 8, py),
                text_style(13, &BLACK, HPos::Right),
            ))
            .map_err(err)?;
            let (qx, _) = chart.backend_coord(&(x1, y));
            root.draw(&Text::new(
                r.note.clone(),
                (qx + 10, py),
                text_style(12, &c, HPos::Left),
            ))
            .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(s)
}

/// One split's per-seed diffs for the strip plot.
#[derive(Debug, Clone)]
pub struct StripRow {
    pub label: String,
    /// (seed index into the legend, diff)
    pub points: Vec<(usize, f64)>,
    pub mean: f64,
}

/// Each seed's diff per split (one colour per seed), the mean as a black tick.
pub fn seed_strip(rows: &[StripRow], seeds: &[u64], x_desc: &str) -> Plot {
    let n = rows.len().max(1);
    let (w, h) = (820u32, 70 + ROW_H * n as u32);
    let (x0, x1) = padded_range(
        rows.iter()
            .flat_map(|r| r.points.iter().map(|p| p.1).chain([r.mean])),
        true,
    );
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .margin_left(LABEL_W)
            .margin_right(NOTE_W)
            .x_label_area_size(40)
            .build_cartesian_2d(x0..x1, -0.5f64..(n as f64 - 0.5))
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .x_desc(x_desc)
            .x_label_formatter(&points)
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 12))
            .light_line_style(RGBColor(0xee, 0xee, 0xee))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, -0.5), (0.0, n as f64 - 0.5)],
                BLACK.stroke_width(1),
            ))
            .map_err(err)?;
        let k = seeds.len().max(1) as f64;
        for (i, r) in rows.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            for &(si, d) in &r.points {
                if !d.is_finite() {
                    continue;
                }
                // Seeds spread over the row so equal diffs stay visible.
                let dy = (si as f64 + 0.5) / k * 0.6 - 0.3;
                let c = PALETTE[si % PALETTE.len()];
                chart
                    .draw_series(std::iter::once(Circle::new((d, y + dy), 4, c.filled())))
                    .map_err(err)?;
            }
            if r.mean.is_finite() {
                chart
                    .draw_series(LineSeries::new(
                        vec![(r.mean, y - 0.38), (r.mean, y + 0.38)],
                        BLACK.stroke_width(2),
                    ))
                    .map_err(err)?;
            }
            let (px, py) = chart.backend_coord(&(x0, y));
            root.draw(&Text::new(
                r.label.clone(),
                (px - 8, py),
                text_style(13, &BLACK, HPos::Right),
            ))
            .map_err(err)?;
        }
        // The seed legend, right of the plot.
        let (qx, qy) = chart.backend_coord(&(x1, n as f64 - 0.5));
        for (si, seed) in seeds.iter().enumerate() {
            let y = qy + 8 + 16 * si as i32;
            let c = PALETTE[si % PALETTE.len()];
            root.draw(&Circle::new((qx + 16, y), 4, c.filled()))
                .map_err(err)?;
            root.draw(&Text::new(
                format!("seed {seed}"),
                (qx + 26, y),
                text_style(12, &BLACK, HPos::Left),
            ))
            .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(s)
}

/// One line of a line chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text; series with the same label share one legend entry.
    pub label: String,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
    /// Draw a dot at every point (short series, quantile bins).
    pub dots: bool,
}

/// A line chart. `y_range` fixes the y axis (accuracies: 0..1).
pub fn lines(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
    y_range: Option<(f64, f64)>,
    size: (u32, u32),
) -> Plot {
    let pts = || series.iter().flat_map(|s| s.points.iter());
    let (x0, x1) = padded_range(pts().map(|p| p.0), false);
    let (y0, y1) = y_range.unwrap_or_else(|| padded_range(pts().map(|p| p.1), false));
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 14))
            .margin(8)
            .x_label_area_size(34)
            .y_label_area_size(48)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .label_style((FONT, 11))
            .axis_desc_style((FONT, 12))
            .light_line_style(RGBColor(0xee, 0xee, 0xee))
            .draw()
            .map_err(err)?;
        let mut labelled = std::collections::HashSet::new();
        for se in series {
            let finite: Vec<(f64, f64)> = se
                .points
                .iter()
                .copied()
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .collect();
            let c = se.color;
            let drawn = chart
                .draw_series(LineSeries::new(finite.clone(), c.stroke_width(2)))
                .map_err(err)?;
            if labelled.insert(se.label.clone()) {
                drawn.label(se.label.clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
            }
            if se.dots {
                chart
                    .draw_series(finite.iter().map(|&p| Circle::new(p, 3, c.filled())))
                    .map_err(err)?;
            }
        }
        if !labelled.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(0xcc, 0xcc, 0xcc))
                .label_font((FONT, 11))
                .draw()
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(s)
}

/// The 2×2 cross-evaluation matrix of one split: `acc[model][eval group]`, model A on top;
/// colours span `scale` (shared by every split's map so they compare).
pub fn heat_map(title: &str, acc: [[f64; 2]; 2], scale: (f64, f64), labels: [&str; 2]) -> Plot {
    let (w, h) = (300u32, 250u32);
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 14))
            .margin(6)
            .margin_left(78)
            .x_label_area_size(40)
            .build_cartesian_2d(0f64..2f64, 0f64..2f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .disable_y_axis()
            .draw()
            .map_err(err)?;
        for (m, row) in acc.iter().enumerate() {
            for (g, &v) in row.iter().enumerate() {
                let (x, y) = (g as f64, 1.0 - m as f64);
                let c = sequential(v, scale);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x, y), (x + 1.0, y + 1.0)],
                        c.filled(),
                    )))
                    .map_err(err)?;
                let luminance = 0.299 * c.0 as f64 + 0.587 * c.1 as f64 + 0.114 * c.2 as f64;
                let ink = if luminance < 140.0 { WHITE } else { BLACK };
                let (px, py) = chart.backend_coord(&(x + 0.5, y + 0.5));
                let text = if v.is_finite() {
                    format!("{:.1}%", v * 100.0)
                } else {
                    "n/a".into()
                };
                root.draw(&Text::new(
                    text,
                    (px, py),
                    TextStyle::from((FONT, 15).into_font())
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                ))
                .map_err(err)?;
            }
        }
        for (m, label) in ["model A", "model B"].iter().enumerate() {
            let (px, py) = chart.backend_coord(&(0.0, 1.5 - m as f64));
            root.draw(&Text::new(
                label.to_string(),
                (px - 6, py),
                text_style(12, &BLACK, HPos::Right),
            ))
            .map_err(err)?;
        }
        for (g, label) in labels.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(0.5 + g as f64, 0.0));
            root.draw(&Text::new(
                format!("on {label}"),
                (px, py + 14),
                TextStyle::from((FONT, 12).into_font())
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Center)),
            ))
            .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(s)
}

/// White to dark blue over `scale`.
fn sequential(v: f64, (lo, hi): (f64, f64)) -> RGBColor {
    if !v.is_finite() {
        return RGBColor(0xdd, 0xdd, 0xdd);
    }
    let t = if hi > lo {
        ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
    } else {
        0.5
    };
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
    RGBColor(mix(0xf7, 0x08), mix(0xfb, 0x30), mix(0xff, 0x6b))
}

/// One set of values of an overlaid histogram.
#[derive(Debug, Clone)]
pub struct Hist {
    pub label: String,
    pub color: RGBColor,
    pub values: Vec<f64>,
}

/// Overlaid step histograms on shared bins (share of each set's values per bin), over the
/// middle 98% of all values (the rest fall into the edge bins).
pub fn histograms(title: &str, x_desc: &str, sets: &[Hist], bins: usize, size: (u32, u32)) -> Plot {
    // The range of the middle 98% of the values: a few far outliers would squeeze the rest
    // into one bin; they are counted in the edge bins.
    let mut all: Vec<f64> = sets
        .iter()
        .flat_map(|h| h.values.iter().copied())
        .filter(|v| v.is_finite())
        .collect();
    all.sort_by(f64::total_cmp);
    let q = |p: f64| prefscope_stats::quantile_sorted(&all, p).unwrap_or(f64::NAN);
    let (lo, hi) = padded_range([q(0.01), q(0.99)].into_iter(), false);
    let bins = bins.max(1);
    let width = (hi - lo) / bins as f64;
    let series: Vec<Series> = sets
        .iter()
        .map(|h| {
            let mut counts = vec![0usize; bins];
            let mut n = 0usize;
            for &v in h.values.iter().filter(|v| v.is_finite()) {
                let b = (((v - lo) / width).max(0.0) as usize).min(bins - 1);
                counts[b] += 1;
                n += 1;
            }
            let mut points = Vec::with_capacity(2 * bins + 2);
            points.push((lo, 0.0));
            for (b, &c) in counts.iter().enumerate() {
                let share = if n == 0 { 0.0 } else { c as f64 / n as f64 };
                points.push((lo + b as f64 * width, share));
                points.push((lo + (b + 1) as f64 * width, share));
            }
            points.push((hi, 0.0));
            Series {
                label: h.label.clone(),
                color: h.color,
                points,
                dots: false,
            }
        })
        .collect();
    let top = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    lines(
        title,
        x_desc,
        "share of pairs",
        &series,
        Some((0.0, (top * 1.15).max(0.01))),
        size,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_are_svg_with_escaped_text_and_survive_nan() {
        let rows = vec![
            ForestRow {
                label: "age <18-34> & \"35+\"".into(),
                mean: 0.03,
                lo: 0.01,
                hi: 0.05,
                color: verdict_color(Verdict::Match),
                null_control: false,
                note: "MATCH".into(),
            },
            ForestRow {
                label: "region".into(),
                mean: f64::NAN,
                lo: f64::NAN,
                hi: f64::NAN,
                color: verdict_color(Verdict::NullOk),
                null_control: true,
                note: "NULL-OK".into(),
            },
        ];
        let svg = forest(&rows, "mean diff").unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.contains("age &lt;18-34&gt; &amp; &quot;35+&quot;"));
        assert!(!svg.contains("<18-34>"));
        let strip = seed_strip(
            &[StripRow {
                label: "age".into(),
                points: vec![(0, 0.02), (1, -0.01)],
                mean: 0.005,
            }],
            &[1, 2],
            "diff",
        )
        .unwrap();
        assert!(strip.contains("seed 2"));
        let l = lines(
            "t",
            "step",
            "loss",
            &[Series {
                label: "A".into(),
                color: GROUP_A,
                points: vec![(1.0, 0.7), (2.0, f64::NAN)],
                dots: true,
            }],
            None,
            (300, 200),
        )
        .unwrap();
        assert!(l.contains("</svg>"));
        let hm = heat_map(
            "age",
            [[0.6, 0.55], [0.5, f64::NAN]],
            (0.5, 0.6),
            ["18-34", "35+"],
        )
        .unwrap();
        assert!(hm.contains("60.0%") && hm.contains("n/a") && hm.contains("on 18-34"));
        let h = histograms(
            "h",
            "logp",
            &[Hist {
                label: "ref".into(),
                color: GROUP_A,
                values: vec![-3.0, -2.0, -2.5],
            }],
            5,
            (300, 200),
        )
        .unwrap();
        assert!(h.contains("share of pairs"));
    }
}
