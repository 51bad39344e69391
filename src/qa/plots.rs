//! PNG plots for the report, drawn with the `image` crate and a built-in bitmap font: the
//! genuine and impostor score histograms with the threshold, the DET curve on probit (normal
//! deviate) axes with the operating point, and FMR(t) / FNMR(t) on a log scale.

use image::{Rgb, RgbImage};

use super::font;
use super::report::Evaluation;
use super::stats::{self, probit, ScoreSet};

const W: u32 = 900;
const H: u32 = 560;
const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const BLACK: Rgb<u8> = Rgb([20, 20, 20]);
const GRID: Rgb<u8> = Rgb([225, 225, 225]);
pub const GENUINE: Rgb<u8> = Rgb([30, 140, 60]);
pub const IMPOSTOR: Rgb<u8> = Rgb([200, 40, 40]);
const UNLABELLED: Rgb<u8> = Rgb([90, 90, 90]);
const THRESHOLD: Rgb<u8> = Rgb([30, 70, 200]);
const SCALE: u32 = 2;

/// A white image with drawing primitives; drawing outside `clip` is dropped.
pub struct Canvas {
    pub img: RgbImage,
    clip: (i64, i64, i64, i64),
}

impl Canvas {
    pub fn new(w: u32, h: u32) -> Self {
        Self {
            img: RgbImage::from_pixel(w, h, WHITE),
            clip: (0, 0, i64::from(w) - 1, i64::from(h) - 1),
        }
    }

    fn set_clip(&mut self, c: Option<(i64, i64, i64, i64)>) {
        self.clip = c.unwrap_or((
            0,
            0,
            i64::from(self.img.width()) - 1,
            i64::from(self.img.height()) - 1,
        ));
    }

    fn px(&mut self, x: i64, y: i64, c: Rgb<u8>, alpha: f32) {
        let (x0, y0, x1, y1) = self.clip;
        if x < x0 || y < y0 || x > x1 || y > y1 {
            return;
        }
        let p = self.img.get_pixel_mut(x as u32, y as u32);
        for k in 0..3 {
            p.0[k] = (f32::from(p.0[k]) * (1.0 - alpha) + f32::from(c.0[k]) * alpha).round() as u8;
        }
    }

    pub fn rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: Rgb<u8>, alpha: f32) {
        for y in y0.min(y1)..=y0.max(y1) {
            for x in x0.min(x1)..=x0.max(x1) {
                self.px(x, y, c, alpha);
            }
        }
    }

    /// A line `width` pixels wide (square brush), optionally dashed.
    pub fn line(
        &mut self,
        a: (f64, f64),
        b: (f64, f64),
        c: Rgb<u8>,
        width: i64,
        dash: Option<i64>,
    ) {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let steps = dx.abs().max(dy.abs()).ceil().max(1.0) as i64;
        if steps > 100_000 {
            return;
        }
        let r = width / 2;
        for i in 0..=steps {
            if let Some(d) = dash {
                if (i / d) % 2 == 1 {
                    continue;
                }
            }
            let t = i as f64 / steps as f64;
            let (x, y) = ((a.0 + dx * t).round() as i64, (a.1 + dy * t).round() as i64);
            for oy in -r..=width - 1 - r {
                for ox in -r..=width - 1 - r {
                    self.px(x + ox, y + oy, c, 1.0);
                }
            }
        }
    }

    pub fn text_width(s: &str) -> i64 {
        (s.chars().count() as u32 * (font::WIDTH + 1) * SCALE) as i64
    }

    pub fn text(&mut self, x: i64, y: i64, s: &str, c: Rgb<u8>) {
        let mut cx = x;
        for ch in s.chars() {
            let g = font::glyph(ch);
            for (row, bits) in g.iter().enumerate() {
                for col in 0..font::WIDTH {
                    if bits & (1 << (font::WIDTH - 1 - col)) != 0 {
                        for sy in 0..SCALE {
                            for sx in 0..SCALE {
                                self.px(
                                    cx + i64::from(col * SCALE + sx),
                                    y + (row as u32 * SCALE + sy) as i64,
                                    c,
                                    1.0,
                                );
                            }
                        }
                    }
                }
            }
            cx += i64::from((font::WIDTH + 1) * SCALE);
        }
    }
}

/// The plotting area and its data ranges.
#[derive(Debug, Clone, Copy)]
struct Frame {
    left: f64,
    top: f64,
    right: f64,
    bottom: f64,
    x: (f64, f64),
    y: (f64, f64),
}

impl Frame {
    fn new(x: (f64, f64), y: (f64, f64)) -> Self {
        Self {
            left: 110.0,
            top: 50.0,
            right: f64::from(W) - 30.0,
            bottom: f64::from(H) - 70.0,
            x,
            y,
        }
    }
    fn sx(&self, v: f64) -> f64 {
        self.left + (v - self.x.0) / (self.x.1 - self.x.0) * (self.right - self.left)
    }
    fn sy(&self, v: f64) -> f64 {
        self.bottom - (v - self.y.0) / (self.y.1 - self.y.0) * (self.bottom - self.top)
    }
    fn clip(&self) -> (i64, i64, i64, i64) {
        (
            self.left as i64,
            self.top as i64,
            self.right as i64,
            self.bottom as i64,
        )
    }
}

/// Frame, grid, ticks and labels. Ticks are (data value, label).
fn axes(
    c: &mut Canvas,
    f: &Frame,
    title: &str,
    xlabel: &str,
    ylabel: &str,
    xt: &[(f64, String)],
    yt: &[(f64, String)],
) {
    for (v, label) in xt {
        let x = f.sx(*v);
        c.line((x, f.top), (x, f.bottom), GRID, 1, None);
        let w = Canvas::text_width(label) as f64;
        c.text((x - w / 2.0) as i64, f.bottom as i64 + 8, label, BLACK);
    }
    for (v, label) in yt {
        let y = f.sy(*v);
        c.line((f.left, y), (f.right, y), GRID, 1, None);
        let w = Canvas::text_width(label);
        c.text(f.left as i64 - 8 - w, y as i64 - 7, label, BLACK);
    }
    let (l, t, r, b) = (f.left, f.top, f.right, f.bottom);
    for (p, q) in [
        ((l, t), (r, t)),
        ((r, t), (r, b)),
        ((r, b), (l, b)),
        ((l, b), (l, t)),
    ] {
        c.line(p, q, BLACK, 2, None);
    }
    c.text(f.left as i64, 14, title, BLACK);
    let w = Canvas::text_width(xlabel) as f64;
    c.text(((l + r - w) / 2.0) as i64, H as i64 - 30, xlabel, BLACK);
    c.text(8, (t - 30.0) as i64 + 8, ylabel, BLACK);
}

/// About `n` round ticks over [lo, hi].
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !stats::increasing(lo, hi) {
        return vec![lo];
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let (k0, k1) = (
        (lo / step - 1e-9).ceil() as i64,
        (hi / step + 1e-9).floor() as i64,
    );
    // k * step, rounded to the step's decimals so labels and tests see 0.6, not 0.6000000000000001.
    let digits = (-step.log10()).ceil().max(0.0) as i32 + 2;
    let round = 10f64.powi(digits);
    (k0..=k1)
        .map(|k| (k as f64 * step * round).round() / round)
        .collect()
}

fn fmt_tick(v: f64, step: f64) -> String {
    // As many decimals as the step needs (0.25 -> 2, 0.2 -> 1, 5 -> 0).
    let digits = (0..8)
        .find(|d| {
            let x = step * 10f64.powi(*d);
            (x - x.round()).abs() < 1e-6 * x.max(1.0)
        })
        .unwrap_or(8) as usize;
    format!("{v:.digits$}")
}

fn pct_label(r: f64) -> String {
    stats::fmt_rate(r)
}

fn score_range(e: &Evaluation) -> (f64, f64) {
    let s = &e.set;
    let mut lo = s.min_score().unwrap_or(0.0);
    let mut hi = s.max_score().unwrap_or(1.0);
    if let (Some(a), Some(b)) = (e.unlabelled.first(), e.unlabelled.last()) {
        lo = lo.min(*a);
        hi = hi.max(*b);
    }
    if !stats::increasing(lo, hi) {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    }
}

/// Genuine and impostor (or unlabelled) histograms, as fractions of each class, with the threshold.
pub fn histogram(e: &Evaluation, threshold: f64) -> RgbImage {
    const BINS: usize = 50;
    let (lo, hi) = score_range(e);
    let mut series: Vec<(&[f64], Rgb<u8>, String)> = Vec::new();
    if !e.set.genuine.is_empty() {
        series.push((
            &e.set.genuine,
            GENUINE,
            format!("genuine n={}", e.set.genuine_count()),
        ));
    }
    if !e.set.impostor.is_empty() {
        series.push((
            &e.set.impostor,
            IMPOSTOR,
            format!("impostor n={}", e.set.impostor_count()),
        ));
    }
    if !e.unlabelled.is_empty() {
        series.push((
            &e.unlabelled,
            UNLABELLED,
            format!("production n={}", e.unlabelled.len()),
        ));
    }
    let hists: Vec<Vec<f64>> = series
        .iter()
        .map(|(s, _, _)| stats::histogram(s, lo, hi, BINS))
        .collect();
    let ymax = hists
        .iter()
        .flatten()
        .fold(0.0f64, |a, b| a.max(*b))
        .max(1e-9)
        * 1.1;
    let f = Frame::new((lo, hi), (0.0, ymax));
    let mut c = Canvas::new(W, H);
    let xt = nice_ticks(lo, hi, 8);
    let xstep = xt.get(1).zip(xt.first()).map_or(0.1, |(b, a)| b - a);
    let yt = nice_ticks(0.0, ymax, 5);
    let ystep = yt.get(1).zip(yt.first()).map_or(0.1, |(b, a)| b - a);
    axes(
        &mut c,
        &f,
        "SCORE DISTRIBUTIONS (SHARE OF EACH CLASS PER BIN)",
        "score",
        "share",
        &xt.iter()
            .map(|v| (*v, fmt_tick(*v, xstep)))
            .collect::<Vec<_>>(),
        &yt.iter()
            .map(|v| (*v, fmt_tick(*v, ystep)))
            .collect::<Vec<_>>(),
    );
    c.set_clip(Some(f.clip()));
    let w = (hi - lo) / BINS as f64;
    for (h, (_, color, _)) in hists.iter().zip(&series) {
        for (b, frac) in h.iter().enumerate() {
            if *frac <= 0.0 {
                continue;
            }
            let x0 = f.sx(lo + b as f64 * w) as i64;
            let x1 = f.sx(lo + (b + 1) as f64 * w) as i64 - 1;
            c.rect(x0, f.sy(*frac) as i64, x1, f.bottom as i64, *color, 0.45);
        }
    }
    let tx = f.sx(threshold);
    c.line((tx, f.top), (tx, f.bottom), THRESHOLD, 3, Some(8));
    c.set_clip(None);
    let label = format!("threshold {threshold:.4}");
    c.text(
        (tx as i64 + 6).min(W as i64 - Canvas::text_width(&label) - 4),
        f.top as i64 + 6,
        &label,
        THRESHOLD,
    );
    for (k, (_, color, name)) in series.iter().enumerate() {
        let y = f.top as i64 + 30 + 22 * k as i64;
        c.rect(
            f.left as i64 + 12,
            y,
            f.left as i64 + 28,
            y + 13,
            *color,
            0.6,
        );
        c.text(f.left as i64 + 36, y, name, BLACK);
    }
    c.img
}

/// Probit-axis ticks within [lo, hi] (rates).
fn probit_ticks(lo: f64, hi: f64) -> Vec<(f64, String)> {
    [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.05, 0.1, 0.2, 0.4, 0.5, 0.8]
        .iter()
        .filter(|r| **r >= lo * 0.999 && **r <= hi * 1.001)
        .map(|r| (probit(*r), pct_label(*r)))
        .collect()
}

/// The rate range a DET axis shows: from below the smallest non-zero rate the data can have to 50 %.
fn det_range(n: usize) -> (f64, f64) {
    let floor = if n == 0 { 1e-3 } else { 0.5 / n as f64 };
    let lo = 10f64.powf(floor.log10().floor()).max(1e-6);
    (lo, 0.5)
}

/// The DET curve (FNMR against FMR, probit axes) with the operating point at `threshold`.
pub fn det(s: &ScoreSet, threshold: f64, extra: &[(&ScoreSet, Rgb<u8>, &str)]) -> RgbImage {
    let (xlo, xhi) = det_range(s.impostor_count());
    let (ylo, yhi) = det_range(s.genuine_count());
    let f = Frame::new((probit(xlo), probit(xhi)), (probit(ylo), probit(yhi)));
    let mut c = Canvas::new(W, H);
    axes(
        &mut c,
        &f,
        "DET: FNMR AGAINST FMR (NORMAL DEVIATE AXES)",
        "FMR (false match rate)",
        "FNMR",
        &probit_ticks(xlo, xhi),
        &probit_ticks(ylo, yhi),
    );
    c.set_clip(Some(f.clip()));
    let map = |fmr: f64, fnmr: f64| {
        (
            f.sx(probit(fmr.clamp(xlo, 1.0 - 1e-12))),
            f.sy(probit(fnmr.clamp(ylo, 1.0 - 1e-12))),
        )
    };
    let draw = |c: &mut Canvas, set: &ScoreSet, color: Rgb<u8>| {
        let pts = stats::det_points(set, 0.01);
        for w in pts.windows(2) {
            c.line(map(w[0].1, w[0].2), map(w[1].1, w[1].2), color, 2, None);
        }
    };
    for (set, color, _) in extra {
        draw(&mut c, set, *color);
    }
    draw(&mut c, s, BLACK);
    if let (Some(fmr), Some(fnmr)) = (s.fmr(threshold), s.fnmr(threshold)) {
        let (x, y) = map(fmr, fnmr);
        c.rect(
            x as i64 - 5,
            y as i64 - 5,
            x as i64 + 5,
            y as i64 + 5,
            THRESHOLD,
            1.0,
        );
        c.set_clip(None);
        let label = format!(
            "t={threshold:.4} FMR {:.3}% FNMR {:.2}%",
            fmr * 100.0,
            fnmr * 100.0
        );
        c.text(
            f.right as i64 - Canvas::text_width(&label) - 8,
            f.top as i64 + 8,
            &label,
            THRESHOLD,
        );
    }
    c.set_clip(None);
    for (k, (_, color, name)) in extra.iter().enumerate() {
        let y = f.top as i64 + 30 + 22 * k as i64;
        c.text(
            f.right as i64 - Canvas::text_width(name) - 8,
            y,
            name,
            *color,
        );
    }
    c.img
}

/// FMR(t) and FNMR(t) against the threshold, log scale.
pub fn rates(s: &ScoreSet, threshold: f64) -> RgbImage {
    let pts = s.sweep();
    let (lo, hi) = match (s.min_score(), s.max_score()) {
        (Some(a), Some(b)) if b > a => (a, b),
        _ => (0.0, 1.0),
    };
    let n = s.genuine_count().min(s.impostor_count()).max(1);
    let floor = 10f64.powf((0.5 / n as f64).log10().floor()).max(1e-6);
    let f = Frame::new((lo, hi), (floor.log10(), 0.0));
    let mut c = Canvas::new(W, H);
    let xt = nice_ticks(lo, hi, 8);
    let xstep = xt.get(1).zip(xt.first()).map_or(0.1, |(b, a)| b - a);
    let yt: Vec<(f64, String)> = (floor.log10() as i32..=0)
        .map(|e| (f64::from(e), pct_label(10f64.powi(e))))
        .collect();
    axes(
        &mut c,
        &f,
        "FMR(T) RED, FNMR(T) GREEN (LOG SCALE)",
        "threshold",
        "rate",
        &xt.iter()
            .map(|v| (*v, fmt_tick(*v, xstep)))
            .collect::<Vec<_>>(),
        &yt,
    );
    c.set_clip(Some(f.clip()));
    let y = |r: f64| f.sy(r.max(floor * 0.5).log10());
    for w in pts.windows(2) {
        let (x0, x1) = (f.sx(w[0].0), f.sx(w[1].0));
        c.line((x0, y(w[0].1)), (x1, y(w[1].1)), IMPOSTOR, 2, None);
        c.line((x0, y(w[0].2)), (x1, y(w[1].2)), GENUINE, 2, None);
    }
    let tx = f.sx(threshold);
    c.line((tx, f.top), (tx, f.bottom), THRESHOLD, 3, Some(8));
    c.img
}

/// The plots of a report: (file name, image).
pub fn report_plots(e: &Evaluation, threshold: f64) -> Vec<(&'static str, RgbImage)> {
    let mut out = vec![("histogram.png", histogram(e, threshold))];
    if e.set.genuine_count() > 0 && e.set.impostor_count() > 0 {
        out.push(("det.png", det(&e.set, threshold, &[])));
        out.push(("rates.png", rates(&e.set, threshold)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(nice_ticks(0.03, 0.97, 4).first(), Some(&0.25));
        assert_eq!(fmt_tick(0.25, 0.25), "0.25");
    }

    #[test]
    fn det_draws_something() {
        let gen: Vec<f64> = (0..200).map(|i| 0.4 + i as f64 / 400.0).collect();
        let imp: Vec<f64> = (0..300).map(|i| i as f64 / 500.0).collect();
        let s = ScoreSet::from_scores(&gen, &imp);
        let img = det(&s, 0.55, &[]);
        assert_eq!(img.dimensions(), (W, H));
        let dark = img.pixels().filter(|p| p.0[0] < 60 && p.0[1] < 60).count();
        assert!(dark > 2000, "{dark}");
        let img = rates(&s, 0.55);
        assert!(img.pixels().any(|p| *p == IMPOSTOR));
    }
}
