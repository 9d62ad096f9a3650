//! The wear report as a picture: a strip for the whole card, then one strip per region
//! (its sectors in region order, a file's in file order), each pixel the most written
//! sector it stands for, on a logarithmic scale from pale yellow (1 write) to dark red.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use super::error::{Error, FontProblem};
use super::regions::{RegionKind, RegionMap};
use super::report::WearReport;

/// The TrueType font the labels are drawn with: Debian's fonts-dejavu-core, which
/// `scripts/setup` installs.
pub const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
/// The family name the font is registered under in plotters.
const FAMILY: &str = "sans-serif";
const WIDTH: u32 = 1400;
const LABEL_WIDTH: i32 = 330;
const STRIP_WIDTH: i32 = 900;
const ROW_HEIGHT: i32 = 22;
const STRIP_HEIGHT: i32 = 16;
const MARGIN: i32 = 12;
const TITLE_HEIGHT: i32 = 56;
const LEGEND_HEIGHT: i32 = 60;
/// More rows than this and the quiet ones (no writes, not structural) are left out.
const MAX_ROWS: usize = 40;
const UNWRITTEN: RGBColor = RGBColor(225, 225, 225);

/// Draws `report` over `map` into the PNG `out`, with `title` on top.
pub fn write_png(
    report: &WearReport,
    map: &RegionMap,
    title: &str,
    out: &Path,
) -> Result<(), Error> {
    load_font()?;
    let png_error = |reason: String| Error::Png {
        path: out.to_path_buf(),
        reason,
    };
    let rows = rows(report);
    let height = TITLE_HEIGHT + ROW_HEIGHT * (rows.len() as i32 + 2) + LEGEND_HEIGHT;
    let root = BitMapBackend::new(out, (WIDTH, height as u32)).into_drawing_area();
    let draw = |e: DrawingAreaErrorKind<_>| png_error(e.to_string());
    root.fill(&WHITE).map_err(draw)?;
    let max = report.counts.counts.iter().copied().max().unwrap_or(0);
    let font = |size: i32| (FAMILY, size).into_font();
    root.draw(&Text::new(title.to_string(), (MARGIN, MARGIN), font(20)))
        .map_err(draw)?;
    let subtitle = format!(
        "{} write requests, {}; hottest sector {} writes; every pixel is the most written of its sectors",
        report.requests,
        report
            .seconds
            .map_or("run length unknown".into(), |s| format!("{s:.0} s")),
        max
    );
    root.draw(&Text::new(subtitle, (MARGIN, MARGIN + 26), font(13)))
        .map_err(draw)?;

    let mut y = TITLE_HEIGHT;
    let whole: Vec<u32> = report.counts.counts.clone();
    draw_row(&root, y, "whole card", &whole, max, &font).map_err(draw)?;
    y += ROW_HEIGHT + ROW_HEIGHT / 2;
    for index in rows {
        let wear = &report.regions[index];
        let counts: Vec<u32> = map.regions[index]
            .sectors()
            .map(|s| report.counts.get(s))
            .collect();
        let label = format!("{} ({})", wear.name, size_text(wear.sectors));
        draw_row(&root, y, &label, &counts, max, &font).map_err(draw)?;
        let note = match (wear.hottest, wear.hot_spot_ratio) {
            (Some(h), Some(r)) => format!("max {}, ratio {r:.1}", h.writes),
            (Some(h), None) => format!("max {}", h.writes),
            (None, _) => "0".into(),
        };
        root.draw(&Text::new(
            note,
            (LABEL_WIDTH + STRIP_WIDTH + 2 * MARGIN, y + 2),
            font(13),
        ))
        .map_err(draw)?;
        y += ROW_HEIGHT;
    }
    draw_legend(&root, y + ROW_HEIGHT / 2, max, &font).map_err(draw)?;
    root.present().map_err(draw)?;
    Ok(())
}

/// The regions drawn: all of them if few, else the written ones and the card's structures.
fn rows(report: &WearReport) -> Vec<usize> {
    let all: Vec<usize> = (0..report.regions.len()).collect();
    if all.len() <= MAX_ROWS {
        return all;
    }
    all.into_iter()
        .filter(|&i| {
            let r = &report.regions[i];
            r.writes > 0 || !matches!(r.kind, RegionKind::File | RegionKind::Directory)
        })
        .take(MAX_ROWS)
        .collect()
}

fn draw_row<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    y: i32,
    label: &str,
    counts: &[u32],
    max: u32,
    font: &dyn Fn(i32) -> FontDesc<'static>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.draw(&Text::new(label.to_string(), (MARGIN, y + 2), font(13)))?;
    let x0 = LABEL_WIDTH + MARGIN;
    let pixels = STRIP_WIDTH as usize;
    for px in 0..pixels {
        // The sectors this pixel stands for (or the one sector a wide pixel repeats).
        let start = px * counts.len() / pixels;
        let end = ((px + 1) * counts.len() / pixels)
            .max(start + 1)
            .min(counts.len());
        if start >= counts.len() {
            break;
        }
        let hottest = counts[start..end].iter().copied().max().unwrap_or(0);
        let x = x0 + px as i32;
        root.draw(&Rectangle::new(
            [(x, y), (x + 1, y + STRIP_HEIGHT)],
            color(hottest, max).filled(),
        ))?;
    }
    root.draw(&Rectangle::new(
        [(x0, y), (x0 + STRIP_WIDTH, y + STRIP_HEIGHT)],
        RGBColor(120, 120, 120),
    ))?;
    Ok(())
}

fn draw_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    y: i32,
    max: u32,
    font: &dyn Fn(i32) -> FontDesc<'static>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let x0 = LABEL_WIDTH + MARGIN;
    root.draw(&Text::new(
        "writes per sector (log scale)".to_string(),
        (MARGIN, y + 2),
        font(13),
    ))?;
    // A grey swatch for "never written", then the scale from 1 write to the maximum.
    let swatch = 30;
    root.draw(&Rectangle::new(
        [(x0, y), (x0 + swatch, y + STRIP_HEIGHT)],
        UNWRITTEN.filled(),
    ))?;
    root.draw(&Text::new(
        "0".to_string(),
        (x0 + 10, y + STRIP_HEIGHT + 4),
        font(12),
    ))?;
    let bar = x0 + swatch + 10;
    let width = 400;
    for px in 0..width {
        // The inverse of `color`'s scale, so the bar reads left to right 1..max.
        let n = (f64::from(max.max(1) + 1).powf(f64::from(px + 1) / f64::from(width)) - 1.0)
            .round()
            .max(1.0) as u32;
        root.draw(&Rectangle::new(
            [(bar + px, y), (bar + px + 1, y + STRIP_HEIGHT)],
            color(n, max).filled(),
        ))?;
    }
    root.draw(&Text::new(
        "1".to_string(),
        (bar, y + STRIP_HEIGHT + 4),
        font(12),
    ))?;
    root.draw(&Text::new(
        max.to_string(),
        (bar + width - 20, y + STRIP_HEIGHT + 4),
        font(12),
    ))?;
    Ok(())
}

/// "1 sector", "3 KiB", "8 MiB".
fn size_text(sectors: u64) -> String {
    let bytes = sectors * super::fat_layout::CARD_SECTOR;
    match bytes {
        b if b < 2048 => format!("{sectors} sector{}", if sectors == 1 { "" } else { "s" }),
        b if b < 4 << 20 => format!("{} KiB", b / 1024),
        b => format!("{} MiB", b >> 20),
    }
}

/// Grey for unwritten; otherwise yellow → orange → dark red by `ln(1 + n) / ln(1 + max)`.
pub fn color(n: u32, max: u32) -> RGBColor {
    if n == 0 {
        return UNWRITTEN;
    }
    let t = if max <= 1 {
        1.0
    } else {
        (f64::from(n) + 1.0).ln() / (f64::from(max) + 1.0).ln()
    };
    const STOPS: [(f64, [f64; 3]); 3] = [
        (0.0, [255.0, 237.0, 160.0]),
        (0.5, [253.0, 141.0, 60.0]),
        (1.0, [128.0, 0.0, 38.0]),
    ];
    let (a, b) = if t < STOPS[1].0 {
        (STOPS[0], STOPS[1])
    } else {
        (STOPS[1], STOPS[2])
    };
    let f = ((t - a.0) / (b.0 - a.0)).clamp(0.0, 1.0);
    let mix = |i: usize| (a.1[i] + (b.1[i] - a.1[i]) * f).round() as u8;
    RGBColor(mix(0), mix(1), mix(2))
}

/// Registers [`FONT`] once per process; plotters keeps a `'static` reference to it.
fn load_font() -> Result<(), Error> {
    static LOADED: OnceLock<Result<(), FontProblem>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let bytes = std::fs::read(FONT).map_err(|e| FontProblem::Unreadable {
                error: e.to_string(),
            })?;
            register_font(
                FAMILY,
                FontStyle::Normal,
                Box::leak(bytes.into_boxed_slice()),
            )
            .map_err(|_| FontProblem::NotTrueType)
        })
        .clone()
        .map_err(|problem| Error::Font {
            path: FONT.into(),
            problem,
        })
}
