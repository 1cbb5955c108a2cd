//! Hand-written SVG charts for reports: line plots with confidence bands (linear or log x),
//! heatmaps and horizontal bar charts. Plain SVG text with generic font families, so a chart
//! renders the same offline in any browser and needs no font files.

use std::fmt::Write as _;

/// Okabe–Ito, a palette that stays distinguishable under the common colour-vision
/// deficiencies (Okabe & Ito 2008). Beyond eight series the colours repeat with dashes.
pub const PALETTE: [&str; 8] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];
/// Line styles: solid, dashed, dotted, dash-dot.
pub const DASHES: [&str; 4] = ["", "6 3", "2 3", "8 3 2 3"];
/// The dotted style, used for fitted curves.
pub const DOTTED: usize = 2;

/// Width of the plotting area of a line plot; the legend to its right takes what it needs.
const PLOT_WIDTH: f64 = 420.0;
const HEIGHT: f64 = 400.0;
const LEFT: f64 = 72.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 56.0;

/// Escapes text for SVG/HTML content and attribute values.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The line style that tells apart policies whose colours repeat (past eight).
pub fn default_dash(slot: usize) -> usize {
    (slot / PALETTE.len()) % 2
}

/// One line of a plot, with an optional band (lower, upper) around it.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub band: Option<Vec<(f64, f64, f64)>>,
    /// Palette slot; series with the same slot share a colour.
    pub slot: usize,
    /// Line style, an index into [`DASHES`].
    pub dash: usize,
}

pub struct LinePlot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub series: Vec<Series>,
}

/// About five round tick values covering [lo, hi].
fn nice_ticks(lo: f64, hi: f64) -> Vec<f64> {
    // Also catches NaN bounds.
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return vec![lo];
    }
    let raw = (hi - lo) / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let start = (lo / step).ceil() * step;
    let mut ticks = Vec::new();
    let mut v = start;
    while v <= hi + step * 1e-9 {
        ticks.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        v += step;
    }
    ticks
}

fn fmt_tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.0e}")
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

impl LinePlot {
    /// The chart as a standalone `<svg>` element.
    pub fn to_svg(&self) -> String {
        let xs = self.series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
        let (mut x0, mut x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
        let ys = self.series.iter().flat_map(|s| {
            s.points.iter().map(|p| p.1).chain(s.band.iter().flat_map(|b| b.iter().flat_map(|q| [q.1, q.2])))
        });
        let (mut y0, mut y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| (a.min(y), b.max(y)));
        if !x0.is_finite() {
            (x0, x1, y0, y1) = (1.0, 10.0, 0.0, 1.0);
        }
        if self.log_x {
            x0 = x0.max(1.0);
            x1 = x1.max(x0 * 10.0);
        } else if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        y0 = y0.min(0.0);
        if y1 <= y0 {
            y1 = y0 + 1.0;
        }
        // Legend: series with an empty name have no entry; spacing and font shrink to fit many,
        // and the picture widens to fit the longest name (≈ 0.6 em per character).
        let named: Vec<&Series> = self.series.iter().filter(|s| !s.name.is_empty()).collect();
        let step = ((HEIGHT - TOP - 16.0) / named.len().max(1) as f64).min(18.0);
        let font = if step < 14.0 { 10.0 } else { 12.0 };
        let longest = named.iter().map(|s| s.name.chars().count()).max().unwrap_or(0) as f64;
        let legend_w = 56.0 + 0.68 * font * longest;
        let width = (LEFT + PLOT_WIDTH + legend_w).ceil();
        let (pw, ph) = (PLOT_WIDTH, HEIGHT - TOP - BOTTOM);
        let fx = |x: f64| {
            let u = if self.log_x { (x.max(x0).ln() - x0.ln()) / (x1.ln() - x0.ln()) } else { (x - x0) / (x1 - x0) };
            LEFT + u * pw
        };
        let fy = |y: f64| TOP + ph - (y - y0) / (y1 - y0) * ph;
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {HEIGHT}" width="{width}" height="{HEIGHT}" font-family="sans-serif" font-size="12" role="img"><title>{}</title>"#,
            escape(&self.title)
        );
        let _ = write!(s, r#"<rect width="{width}" height="{HEIGHT}" fill="white"/>"#);
        let _ =
            write!(s, r#"<text x="{}" y="22" font-size="14" font-weight="bold">{}</text>"#, LEFT, escape(&self.title));
        // Grid and ticks.
        for v in nice_ticks(y0, y1) {
            let y = fy(v);
            let _ = write!(
                s,
                r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e3e3e3"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                LEFT + pw,
                LEFT - 6.0,
                y + 4.0,
                fmt_tick(v)
            );
        }
        let x_ticks: Vec<f64> = if self.log_x {
            let (a, b) = (x0.log10().floor() as i32, x1.log10().ceil() as i32);
            (a..=b).map(|e| 10f64.powi(e)).filter(|v| *v >= x0 * 0.999 && *v <= x1 * 1.001).collect()
        } else {
            nice_ticks(x0, x1)
        };
        for v in x_ticks {
            let x = fx(v);
            let label = if self.log_x {
                format!(r#"10<tspan dy="-5" font-size="9">{}</tspan>"#, v.log10().round())
            } else {
                fmt_tick(v)
            };
            let _ = write!(
                s,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{}" stroke="#e3e3e3"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
                TOP + ph,
                TOP + ph + 16.0,
                label
            );
        }
        let _ = write!(s, r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#555"/>"##);
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            LEFT + pw / 2.0,
            HEIGHT - 14.0,
            escape(&self.x_label)
        );
        let _ = write!(
            s,
            r#"<text transform="translate(18 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
            TOP + ph / 2.0,
            escape(&self.y_label)
        );
        // Bands first, then lines, then the legend.
        for ser in &self.series {
            let color = PALETTE[ser.slot % PALETTE.len()];
            if let Some(band) = &ser.band {
                let mut pts: Vec<String> =
                    band.iter().map(|&(x, lo, _)| format!("{:.1},{:.1}", fx(x), fy(lo))).collect();
                pts.extend(band.iter().rev().map(|&(x, _, hi)| format!("{:.1},{:.1}", fx(x), fy(hi))));
                let _ = write!(
                    s,
                    r#"<polygon class="band" data-series="{}" points="{}" fill="{color}" fill-opacity="0.18" stroke="none"/>"#,
                    escape(&ser.name),
                    pts.join(" ")
                );
            }
        }
        for ser in &self.series {
            let color = PALETTE[ser.slot % PALETTE.len()];
            let dash = DASHES[ser.dash % DASHES.len()];
            let pts: Vec<String> = ser.points.iter().map(|&(x, y)| format!("{:.1},{:.1}", fx(x), fy(y))).collect();
            let _ = write!(
                s,
                r#"<polyline class="series" data-series="{}" points="{}" fill="none" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/>"#,
                escape(&ser.name),
                pts.join(" ")
            );
        }
        for (i, ser) in named.iter().enumerate() {
            let color = PALETTE[ser.slot % PALETTE.len()];
            let dash = DASHES[ser.dash % DASHES.len()];
            let y = TOP + 10.0 + step * i as f64;
            let x = LEFT + pw + 14.0;
            let _ = write!(
                s,
                r#"<line x1="{x}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/><text x="{}" y="{:.1}" font-size="{font}">{}</text>"#,
                x + 22.0,
                x + 28.0,
                y + 4.0,
                escape(&ser.name)
            );
        }
        s.push_str("</svg>");
        s
    }
}

/// A square matrix of values in [0, 1] (row beats column), shaded white → blue, with the
/// value printed in each cell.
pub fn heatmap(title: &str, labels: &[String], values: &[Vec<Option<f64>>]) -> String {
    let n = labels.len();
    let cell = (300.0 / n.max(1) as f64).clamp(18.0, 40.0);
    let left = 150.0;
    let top = 130.0;
    let (w, h) = (left + cell * n as f64 + 20.0, top + cell * n as f64 + 20.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" font-family="sans-serif" font-size="11" role="img"><title>{}</title><rect width="{w}" height="{h}" fill="white"/>"#,
        escape(title)
    );
    let _ = write!(s, r#"<text x="10" y="20" font-size="14" font-weight="bold">{}</text>"#, escape(title));
    for (i, l) in labels.iter().enumerate() {
        let y = top + cell * (i as f64 + 0.5) + 4.0;
        let _ = write!(s, r#"<text x="{}" y="{y:.1}" text-anchor="end">{}</text>"#, left - 6.0, escape(l));
        let x = left + cell * (i as f64 + 0.5);
        let _ = write!(
            s,
            r#"<text transform="translate({x:.1} {}) rotate(-60)" text-anchor="start">{}</text>"#,
            top - 6.0,
            escape(l)
        );
    }
    for (i, row) in values.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            let (x, y) = (left + cell * j as f64, top + cell * i as f64);
            let (fill, text) = match v {
                Some(v) => {
                    // White (0) to Okabe–Ito blue (1).
                    let mix = |a: f64, b: f64| (a + (b - a) * v.clamp(0.0, 1.0)).round() as u8;
                    (
                        format!("#{:02x}{:02x}{:02x}", mix(255.0, 0.0), mix(255.0, 114.0), mix(255.0, 178.0)),
                        format!("{:.0}", 100.0 * v),
                    )
                }
                None => ("#f2f2f2".to_string(), String::new()),
            };
            let ink = if v.is_some_and(|v| v > 0.55) { "white" } else { "black" };
            let _ = write!(
                s,
                r##"<rect class="cell" x="{x:.1}" y="{y:.1}" width="{cell:.1}" height="{cell:.1}" fill="{fill}" stroke="#ccc"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{ink}">{text}</text>"##,
                x + cell / 2.0,
                y + cell / 2.0 + 4.0
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// Horizontal bars of values in [0, 1], labelled, in the given order.
pub fn bars(title: &str, x_label: &str, items: &[(String, f64)]) -> String {
    let row = 22.0;
    let left = 170.0;
    let width = 300.0;
    let top = 34.0;
    let (w, h) = (left + width + 70.0, top + row * items.len() as f64 + 40.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" font-family="sans-serif" font-size="12" role="img"><title>{}</title><rect width="{w}" height="{h}" fill="white"/>"#,
        escape(title)
    );
    let _ = write!(s, r#"<text x="10" y="20" font-size="14" font-weight="bold">{}</text>"#, escape(title));
    for (i, (label, v)) in items.iter().enumerate() {
        let y = top + row * i as f64;
        let bw = width * v.clamp(0.0, 1.0);
        let _ = write!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text><rect class="bar" x="{left}" y="{y:.1}" width="{bw:.1}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{:.1}">{:.1}%</text>"#,
            left - 6.0,
            y + row * 0.65,
            escape(label),
            row - 6.0,
            PALETTE[0],
            left + bw + 4.0,
            y + row * 0.65,
            100.0 * v
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{:.1}" text-anchor="middle">{}</text>"#,
        left + width / 2.0,
        h - 10.0,
        escape(x_label)
    );
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(nice_ticks(0.0, 100.0), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        let t = nice_ticks(0.0, 0.93);
        assert_eq!(t.first(), Some(&0.0));
        assert!(t.last().unwrap() <= &0.93 && t.len() >= 4);
    }

    #[test]
    fn a_line_plot_has_its_series_bands_and_labels() {
        let p = LinePlot {
            title: "regret <k=5>".into(),
            x_label: "step t".into(),
            y_label: "regret".into(),
            log_x: true,
            series: vec![Series {
                name: "ucb".into(),
                points: vec![(1.0, 0.0), (10.0, 2.0), (100.0, 5.0)],
                band: Some(vec![(1.0, 0.0, 0.0), (10.0, 1.5, 2.5), (100.0, 4.0, 6.0)]),
                slot: 0,
                dash: 0,
            }],
        };
        let svg = p.to_svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("regret &lt;k=5&gt;"), "title is escaped");
        assert_eq!(svg.matches("class=\"series\"").count(), 1);
        assert_eq!(svg.matches("class=\"band\"").count(), 1);
        assert!(svg.contains(r#"10<tspan dy="-5" font-size="9">2</tspan>"#), "log ticks are powers of ten");
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }
}
