//! Plots: the notebook's figures as PNG and SVG.
//!
//! `solve` draws them after writing a run, and `mmgame plot OUTDIR` draws them again from a
//! finished run's files. The figures are those of the notebook's cells 2, 3, 8, 9 and 10,
//! with the notebook's titles and axis labels:
//!
//! | file | notebook | what |
//! |---|---|---|
//! | `fee_response` | cell 2 | φ(f) over f in [0, 1] |
//! | `stake_response` | cell 3 | ψ(S) over S in [0, 200] |
//! | `value_surface` | cell 8 | `v_vals_new[1,0,:,:,0]`: agent 1's value at t = 0, rows fee, columns the stake0 node, stake1 at its lowest node; a heat map (the notebook draws a 3-D surface) |
//! | `action_map` | cell 9 | `a_vals[0,0,:,N_S-1,:]`: agent 0's action at t = 0, rows fee, columns the stake1 node, stake0 at its top node |
//! | `stake_path`, `fee_path` | cell 10 | the path's first `time_points` points |
//!
//! Text is drawn with DejaVu Sans, embedded in the binary (`assets/DejaVuSans.ttf`, licence in
//! `assets/LICENSE-DejaVu.txt`), so plots need no system fonts. Each file is written
//! atomically, like the run's other files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use ndarray::Array2;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendTextStyle, DrawingErrorKind};

use crate::api::Run;
use crate::config::Scenario;
use crate::error::Error;
use crate::io::npy::NpyFile;
use crate::io::{create_output_dir, write_atomic};
use crate::scheme::Solution;
use crate::simulate::PathPoint;

/// Size in pixels of the line plots.
pub const LINE_SIZE: (u32, u32) = (800, 600);
/// Size in pixels of the heat maps (wider, for the colour bar).
pub const HEAT_SIZE: (u32, u32) = (900, 600);
/// Width in pixels of a heat map's colour bar or legend, at its right edge.
pub const COLOR_BAR_WIDTH: u32 = 150;
/// The figures, in the order [`write_plots`] writes them; each one as `NAME.png` and
/// `NAME.svg`.
pub const PLOT_NAMES: [&str; 6] = [
    "fee_response",
    "stake_response",
    "value_surface",
    "action_map",
    "stake_path",
    "fee_path",
];

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Registers the embedded font as plotters' "sans-serif" (once per process).
fn register_font() -> Result<(), Error> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(Error::Input("the embedded font cannot be read".into()))
    }
}

/// The data behind the two heat maps, each indexed [fee node, stake node].
#[derive(Debug, Clone, PartialEq)]
pub struct Surfaces {
    /// `v_vals_new[1, 0, :, :, 0]`: columns are the stake0 node.
    pub value: Array2<f64>,
    /// `a_vals[0, 0, :, stake_points - 1, :]` as action values: columns are the stake1 node.
    /// `None` for a run written with `--save-policy none`: it has no action map.
    pub action: Option<Array2<f64>>,
}

impl Surfaces {
    /// The two slices of a solution.
    pub fn of(solution: &Solution, actions: crate::grid::Actions) -> Self {
        let [_, _, nf, ns, _] = solution.shape;
        let top = ns - 1;
        Surfaces {
            value: Array2::from_shape_fn((nf, ns), |(f, s0)| {
                solution.values.get(solution.index(1, 0, f, s0, 0))
            }),
            action: Some(Array2::from_shape_fn((nf, ns), |(f, s1)| {
                actions.value(solution.policy[solution.index(0, 0, f, top, s1)]) as f64
            })),
        }
    }
}

/// Draws a run's figures into `dir`: from its arrays where it holds them (a `notebook` run),
/// else from its files in `dir` (an `equilibrium` run written there); returns the files.
pub fn draw_run(run: &Run, dir: &Path) -> Result<Vec<PathBuf>, Error> {
    match run.notebook() {
        Some(solution) => write_plots(dir, &run.scenario, solution, &run.path),
        None => plot_run(dir),
    }
}

/// Draws the notebook's figures for a solved run into `dir`; returns the files written.
pub fn write_plots(
    dir: &Path,
    scenario: &Scenario,
    solution: &Solution,
    path: &[PathPoint],
) -> Result<Vec<PathBuf>, Error> {
    let g = &scenario.grid;
    let expected = [
        2,
        g.time_points as usize,
        g.fee_points as usize,
        g.stake_points as usize,
        g.stake_points as usize,
    ];
    if solution.shape != expected {
        return Err(Error::Input(format!(
            "plots: the solution's shape {:?} is not the scenario's grid {expected:?}",
            solution.shape
        )));
    }
    let surfaces = Surfaces::of(solution, scenario.grid().actions);
    write_figures(dir, scenario, &surfaces, path)
}

/// Draws the figures from the heat maps' data and the path (what [`write_plots`] and
/// [`plot_run`] share; a solver that never holds a whole [`Solution`] can call it directly).
pub fn write_figures(
    dir: &Path,
    scenario: &Scenario,
    surfaces: &Surfaces,
    path: &[PathPoint],
) -> Result<Vec<PathBuf>, Error> {
    register_font()?;
    create_output_dir(dir)?;
    let g = &scenario.grid;
    let fee_axis = (0.0, g.fee_max);
    let stake_axis = (0.0, g.stake_max);
    let value_surface = HeatMap {
        title: "Value of agent 1 at t = 0, stake1 = 0",
        x_label: "stake0",
        y_label: "fee",
        data: &surfaces.value,
        x_range: stake_axis,
        y_range: fee_axis,
        levels: None,
        bar_label: "value",
    };
    let levels = surfaces
        .action
        .as_ref()
        .map(|a| action_levels(g.control as f64, a))
        .unwrap_or_default();
    let action_title = format!(
        "Action of agent 0 at t = 0, stake0 = {}",
        crate::config::number(g.stake_max)
    );
    let action_map = surfaces.action.as_ref().map(|data| HeatMap {
        title: &action_title,
        x_label: "stake1",
        y_label: "fee",
        data,
        x_range: stake_axis,
        y_range: fee_axis,
        levels: Some(&levels),
        bar_label: "a",
    });
    let [fee_response, stake_response] = response_figures(scenario);
    let [stake_path, fee_path] = path_figures(&path[..path.len().min(g.time_points as usize)]);
    let figures: [Option<(&str, Figure)>; 6] = [
        Some(("fee_response", Figure::Lines(fee_response))),
        Some(("stake_response", Figure::Lines(stake_response))),
        Some(("value_surface", Figure::Heat(value_surface))),
        action_map.map(|m| ("action_map", Figure::Heat(m))),
        Some(("stake_path", Figure::Lines(stake_path))),
        Some(("fee_path", Figure::Lines(fee_path))),
    ];
    let mut files = Vec::with_capacity(2 * figures.len());
    for (name, figure) in figures.iter().flatten() {
        for ext in ["png", "svg"] {
            let file = dir.join(format!("{name}.{ext}"));
            figure.write(&file)?;
            files.push(file);
        }
    }
    Ok(files)
}

/// The action map's legend: always the controls (−m, 0, m), and any other value present (the
/// notebook's initial 1 where a slice was never improved).
fn action_levels(m: f64, action: &Array2<f64>) -> Vec<f64> {
    let mut levels = vec![-m, 0.0, m];
    levels.extend(action.iter().copied().filter(|v| v.is_finite()));
    levels.sort_by(f64::total_cmp);
    levels.dedup();
    levels
}

/// The notebook's cells 2 and 3: φ(f) over [0, 1] and ψ(S) over [0, 200].
fn response_figures(scenario: &Scenario) -> [LineFigure; 2] {
    let game = scenario.game();
    [
        LineFigure {
            // From f = 0.01: φ(0) = 1/offset (1000 by default) would flatten the rest.
            title: "Fee response φ(f), the fee's volume factor".into(),
            x_label: "fee f (from 0.01)".into(),
            y_label: "φ(f)".into(),
            lines: vec![Line::plain(
                linspace(0.01, 1.0, 200)
                    .map(|f| (f, game.model.fee_response.eval(f)))
                    .collect(),
                0,
            )],
        },
        LineFigure {
            title: "Stake response ψ(S), the stake's volume factor".into(),
            x_label: "total stake S = stake0 + stake1".into(),
            y_label: "ψ(S)".into(),
            lines: vec![Line::plain(
                linspace(0.0, 200.0, 200)
                    .map(|s| (s, game.model.stake_response.eval(s)))
                    .collect(),
                0,
            )],
        },
    ]
}

/// The notebook's cell 10 over `shown`, the path's points up to the horizon (it plots the
/// first N_T points of its N_T + 1).
fn path_figures(shown: &[PathPoint]) -> [LineFigure; 2] {
    [
        LineFigure {
            title: "Stake evolution along the path (up to the horizon)".into(),
            x_label: "time".into(),
            y_label: "stake".into(),
            lines: (0..2)
                .map(|i| Line {
                    label: Some(format!("agent {i}")),
                    points: shown.iter().map(|p| (p.time, p.stakes[i])).collect(),
                    color: i,
                    markers: true,
                })
                .collect(),
        },
        LineFigure {
            title: "Fee evolution along the path (up to the horizon)".into(),
            x_label: "time".into(),
            y_label: "fee".into(),
            lines: vec![Line {
                label: None,
                points: shown.iter().map(|p| (p.time, p.fee)).collect(),
                color: 0,
                markers: true,
            }],
        },
    ]
}

/// The plot files for a report line: "plots fee_response, …, fee_path (.png and .svg)".
pub fn describe(files: &[PathBuf]) -> String {
    let mut stems: Vec<String> = Vec::new();
    let mut exts: Vec<String> = Vec::new();
    for f in files {
        let part = |s: Option<&std::ffi::OsStr>| s.map(|s| s.to_string_lossy().into_owned());
        if let Some(stem) = part(f.file_stem()).filter(|s| !stems.contains(s)) {
            stems.push(stem);
        }
        if let Some(ext) = part(f.extension()).filter(|e| !exts.iter().any(|x| x[1..] == *e)) {
            exts.push(format!(".{ext}"));
        }
    }
    format!("plots {} ({})", stems.join(", "), exts.join(" and "))
}

/// Draws `data` (rows along y, columns along x, nodes spread evenly over `x_range` and
/// `y_range`) as a heat map with a jet colour bar, into a PNG or an SVG file by `path`'s
/// extension.
pub fn heat_map(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    data: &Array2<f64>,
    x_range: (f64, f64),
    y_range: (f64, f64),
) -> Result<(), Error> {
    for (axis, (lo, hi)) in [("x", x_range), ("y", y_range)] {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(Error::Input(format!(
                "heat map {}: {axis} range {lo}..{hi} must be finite and increasing",
                path.display()
            )));
        }
    }
    if data.is_empty() {
        return Err(Error::Input(format!(
            "heat map {}: no data",
            path.display()
        )));
    }
    register_font()?;
    Figure::Heat(HeatMap {
        title,
        x_label,
        y_label,
        data,
        x_range,
        y_range,
        levels: None,
        bar_label: "",
    })
    .write(path)
}

/// A line chart of named series (a sweep's outcomes against a varied key), written as
/// `stem.png` and `stem.svg`; returns the files.
pub fn line_chart(
    stem: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<Vec<PathBuf>, Error> {
    register_font()?;
    let figure = Figure::Lines(LineFigure {
        title: title.into(),
        x_label: x_label.into(),
        y_label: y_label.into(),
        lines: series
            .iter()
            .enumerate()
            .map(|(i, (label, points))| Line {
                label: Some(label.clone()),
                points: points.clone(),
                color: i,
                markers: true,
            })
            .collect(),
    });
    let mut files = Vec::new();
    for ext in ["png", "svg"] {
        let file = stem.with_extension(ext);
        figure.write(&file)?;
        files.push(file);
    }
    Ok(files)
}

/// Reads a finished run in `dir` (summary.json, values.npy, policy.npy, path.csv) and draws
/// its figures there again; returns the files written.
pub fn plot_run(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    if !dir.is_dir() {
        return Err(Error::Input(format!(
            "{}: not a folder (give the --out folder of a finished `mmgame solve`)",
            dir.display()
        )));
    }
    let scenario = crate::io::summary::read_scenario(&dir.join("summary.json"))?;
    let g = &scenario.grid;
    let (nt, nf, ns) = (
        g.time_points as usize,
        g.fee_points as usize,
        g.stake_points as usize,
    );
    let slice = nf * ns * ns;

    // values.npy: (2, time, fee, stake0, stake1), or only t = 0: (2, fee, stake0, stake1).
    let file = dir.join("values.npy");
    let values = NpyFile::open(&file)?;
    let agent1_t0 = if values.shape() == [2, nt, nf, ns, ns] {
        nt * slice
    } else if values.shape() == [2, nf, ns, ns] {
        slice
    } else {
        return Err(shape_error(
            &file,
            values.shape(),
            &format!("(2, {nt}, {nf}, {ns}, {ns})"),
        ));
    };
    let v = values.read(agent1_t0, slice)?;
    let value = Array2::from_shape_fn((nf, ns), |(f, s0)| v[(f * ns + s0) * ns]);

    // policy.npy: (2, time, fee, stake0, stake1), only t = 0, or absent (`--save-policy
    // none`: no action map).
    let file = dir.join("policy.npy");
    let action = if file.exists() {
        Some(read_action_map(&file, &scenario, [nt, nf, ns])?)
    } else if policy_saved(&dir.join("summary.json"))? == "none" {
        None
    } else {
        return Err(Error::Input(format!(
            "{}: not found, and summary.json does not say the run was written without it",
            file.display()
        )));
    };

    let path = crate::io::csv::read_path(&dir.join("path.csv"))?;
    write_figures(dir, &scenario, &Surfaces { value, action }, &path)
}

/// summary.json's `policy_saved` (`all` for files written before it existed).
fn policy_saved(file: &Path) -> Result<String, Error> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::Input(format!("{}: not valid JSON ({e})", file.display())))?;
    Ok(json
        .get("policy_saved")
        .and_then(|v| v.as_str())
        .unwrap_or("all")
        .to_string())
}

/// Agent 0's actions at t = 0 and stake0 = top, [fee, stake1], from policy.npy of any saved
/// shape.
fn read_action_map(
    file: &Path,
    scenario: &Scenario,
    [nt, nf, ns]: [usize; 3],
) -> Result<Array2<f64>, Error> {
    let policy = NpyFile::open(file)?;
    if policy.shape() != [2, nt, nf, ns, ns] && policy.shape() != [2, nf, ns, ns] {
        return Err(shape_error(
            file,
            policy.shape(),
            &format!("(2, {nt}, {nf}, {ns}, {ns}) or (2, {nf}, {ns}, {ns})"),
        ));
    }
    let actions = scenario.grid().actions;
    let mut action = Array2::zeros((nf, ns));
    for f in 0..nf {
        let row = policy.read((f * ns + ns - 1) * ns, ns)?;
        for (s1, &a) in row.iter().enumerate() {
            if a.fract() != 0.0 || actions.code_of(a as i64).is_none() {
                return Err(Error::Input(format!(
                    "{}: holds {a}, which is not an action of this scenario (−m, 0, m or 1)",
                    file.display()
                )));
            }
            action[[f, s1]] = a;
        }
    }
    Ok(action)
}

fn shape_error(file: &Path, shape: &[usize], expected: &str) -> Error {
    Error::Input(format!(
        "{}: shape {shape:?} does not match summary.json's grid {expected}",
        file.display()
    ))
}

// ---------------------------------------------------------------------------------------------
// Drawing.

/// `n` evenly spaced points from `a` to `b` (`np.linspace`).
fn linspace(a: f64, b: f64, n: usize) -> impl Iterator<Item = f64> {
    (0..n).map(move |i| {
        if n < 2 {
            a
        } else {
            a + (b - a) * i as f64 / (n - 1) as f64
        }
    })
}

/// matplotlib's default colour cycle, first two.
/// Matplotlib's default colour cycle (tab10), so lines look as they would in the notebook.
const CYCLE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
const GRID_BOLD: RGBColor = RGBColor(215, 215, 215);
const GRID_LIGHT: RGBColor = RGBColor(240, 240, 240);
const NOT_FINITE: RGBColor = RGBColor(160, 160, 160);

struct Line {
    label: Option<String>,
    points: Vec<(f64, f64)>,
    /// Index into [`CYCLE`].
    color: usize,
    markers: bool,
}

impl Line {
    fn plain(points: Vec<(f64, f64)>, color: usize) -> Self {
        Line {
            label: None,
            points,
            color,
            markers: false,
        }
    }
}

struct LineFigure {
    title: String,
    x_label: String,
    y_label: String,
    lines: Vec<Line>,
}

struct HeatMap<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    /// Rows along y, columns along x.
    data: &'a Array2<f64>,
    x_range: (f64, f64),
    y_range: (f64, f64),
    /// Discrete values with a legend of swatches instead of a continuous colour bar.
    levels: Option<&'a [f64]>,
    bar_label: &'a str,
}

enum Figure<'a> {
    Lines(LineFigure),
    Heat(HeatMap<'a>),
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

impl Figure<'_> {
    fn size(&self) -> (u32, u32) {
        match self {
            Figure::Lines(_) => LINE_SIZE,
            Figure::Heat(_) => HEAT_SIZE,
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        match self {
            Figure::Lines(f) => draw_lines(root, f)?,
            Figure::Heat(h) => draw_heat(root, h)?,
        }
        root.present()
    }

    /// Writes the figure as PNG or SVG, by `path`'s extension, atomically.
    fn write(&self, path: &Path) -> Result<(), Error> {
        let (w, h) = self.size();
        let draw_error = |e: String| Error::io(path, std::io::Error::other(e));
        match path.extension().and_then(|e| e.to_str()) {
            Some("png") => {
                let mut rgb = vec![0u8; w as usize * h as usize * 3];
                {
                    let root =
                        Bitmap(BitMapBackend::with_buffer(&mut rgb, (w, h))).into_drawing_area();
                    self.draw(&root).map_err(|e| draw_error(e.to_string()))?;
                }
                write_atomic(path, |out| {
                    let mut enc = png::Encoder::new(out, w, h);
                    enc.set_color(png::ColorType::Rgb);
                    enc.set_depth(png::BitDepth::Eight);
                    enc.set_compression(png::Compression::Balanced);
                    let mut writer = enc.write_header().map_err(std::io::Error::other)?;
                    writer
                        .write_image_data(&rgb)
                        .map_err(std::io::Error::other)?;
                    writer.finish().map_err(std::io::Error::other)
                })
            }
            Some("svg") => {
                let mut svg = String::new();
                {
                    let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
                    self.draw(&root).map_err(|e| draw_error(e.to_string()))?;
                }
                write_atomic(path, |out| out.write_all(svg.as_bytes()))
            }
            _ => Err(Error::Input(format!(
                "{}: a plot is written as .png or .svg",
                path.display()
            ))),
        }
    }
}

/// The embedded font, for the bitmap's text.
fn glyph_font() -> &'static FontRef<'static> {
    static GLYPHS: OnceLock<FontRef<'static>> = OnceLock::new();
    GLYPHS.get_or_init(|| FontRef::try_from_slice(FONT).expect("the embedded font parses"))
}

/// The bitmap backend, with its text and thick lines drawn here. plotters 0.3.7's ab_glyph
/// text puts each glyph at the pen without its left side bearing ("t= 0"), and its thick
/// polylines come out ragged on dense curves; everything else goes to [`BitMapBackend`].
struct Bitmap<'a>(BitMapBackend<'a>);

/// A line of text laid out at `size` pixels: glyphs on a baseline at the ascent, and the
/// layout box (width, height) that the anchor refers to.
fn layout_text(text: &str, size: f64) -> (Vec<ab_glyph::Glyph>, (u32, u32)) {
    let font = glyph_font().as_scaled(PxScale::from(size as f32));
    let (mut pen, mut prev) = (0f32, None);
    let mut glyphs = Vec::with_capacity(text.len());
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = prev {
            pen += font.kern(p, id);
        }
        glyphs.push(id.with_scale_and_position(font.scale(), ab_glyph::point(pen, font.ascent())));
        pen += font.h_advance(id);
        prev = Some(id);
    }
    let height = font.ascent() - font.descent();
    (glyphs, (pen.ceil() as u32, height.ceil() as u32))
}

impl<'a> DrawingBackend for Bitmap<'a> {
    type ErrorType = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_pixel(point, color)
    }

    fn draw_line<S: plotters_backend::BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_line(from, to, style)
    }

    fn draw_rect<S: plotters_backend::BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }

    /// Thick paths as parallel one-pixel lines (as many as the stroke is wide across the
    /// segment's main axis), with round joins.
    fn draw_path<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let width = style.stroke_width();
        if width <= 1 {
            return self.0.draw_path(path, style);
        }
        let color = style.color();
        let points: Vec<BackendCoord> = path.into_iter().collect();
        for w in points.windows(2) {
            let ((x0, y0), (x1, y1)) = (w[0], w[1]);
            let (dx, dy) = ((x1 - x0).abs(), (y1 - y0).abs());
            let main = dx.max(dy).max(1) as f64;
            let lines = (width as f64 * (dx as f64).hypot(dy as f64) / main).round() as i32;
            let lines = lines.max(width as i32);
            for k in 0..lines {
                let off = k - (lines - 1) / 2;
                let (ox, oy) = if dx >= dy { (0, off) } else { (off, 0) };
                self.0
                    .draw_line((x0 + ox, y0 + oy), (x1 + ox, y1 + oy), &color)?;
            }
        }
        if width > 2 {
            let radius = (width - 1) / 2;
            for &p in points.iter().skip(1).take(points.len().saturating_sub(2)) {
                self.0.draw_circle(p, radius, &color, true)?;
            }
        }
        Ok(())
    }

    fn estimate_text_size<TStyle: BackendTextStyle>(
        &self,
        text: &str,
        style: &TStyle,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        Ok(layout_text(text, style.size()).1)
    }

    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let (glyphs, (width, height)) = layout_text(text, style.size());
        let (width, height) = (width as i32, height as i32);
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match anchor.v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let font = glyph_font();
        for glyph in glyphs {
            let Some(outline) = font.outline_glyph(glyph) else {
                continue;
            };
            let bounds = outline.px_bounds();
            let mut result = Ok(());
            outline.draw(|x, y, coverage| {
                if result.is_err() || coverage <= 0.0 {
                    return;
                }
                let (x, y) = transform.transform(
                    bounds.min.x as i32 + x as i32 + dx,
                    bounds.min.y as i32 + y as i32 + dy,
                );
                let ink = BackendColor {
                    alpha: color.alpha * coverage.min(1.0) as f64,
                    rgb: color.rgb,
                };
                result = self.0.draw_pixel((pos.0 + x, pos.1 + y), ink);
            });
            result?;
        }
        Ok(())
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.blit_bitmap(pos, size, src)
    }
}

fn font(size: f64) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&BLACK)
}

/// A range around [lo, hi] with a margin, never empty.
fn padded(lo: f64, hi: f64, margin: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    // An axis whose span overflows (±1.7e308 at both ends) sends plotters' tick search into an
    // endless loop: keep every axis within ±PLOT_LIMIT, where spans and margins stay finite.
    let (lo, hi) = (
        lo.clamp(-PLOT_LIMIT, PLOT_LIMIT),
        hi.clamp(-PLOT_LIMIT, PLOT_LIMIT),
    );
    let span = hi - lo;
    if span <= 1e-12 * lo.abs().max(hi.abs()).max(1e-300) {
        let d = if lo == 0.0 { 1.0 } else { 0.1 * lo.abs() };
        return (lo - d, hi + d);
    }
    (lo - margin * span, hi + margin * span)
}

/// The largest |coordinate| an axis shows; data beyond it is drawn at the edge.
const PLOT_LIMIT: f64 = 1e300;

/// Labels per axis (plotters picks at most this many key points).
const LABELS: usize = 10;
/// Labels on a colour bar.
const BAR_LABELS: usize = 8;

/// Tick labels with as many decimals as the axis' key points need (the points plotters will
/// label for `labels` points over [lo, hi]), the same for every label.
fn tick_formatter(lo: f64, hi: f64, labels: usize) -> impl Fn(&f64) -> String {
    use plotters::coord::types::RangedCoordf64;
    let points = if lo < hi {
        RangedCoordf64::from(lo..hi).key_points(labels)
    } else {
        vec![lo]
    };
    let big = lo.abs().max(hi.abs());
    let scientific = big >= 1e6 || (big < 1e-3 && big > 0.0);
    let tolerance = (hi - lo).abs().max(big) * 1e-9;
    let decimals = (0..=8)
        .find(|&d| {
            let scale = 10f64.powi(d);
            points
                .iter()
                .all(|&p| ((p * scale).round() / scale - p).abs() <= tolerance)
        })
        .unwrap_or(8) as usize;
    move |v: &f64| {
        let v = *v;
        let s = if scientific {
            format!("{v:.2e}")
        } else {
            format!("{v:.decimals$}")
        };
        // "-0.00" reads as a sign error; a negative number takes a real minus sign.
        match s.strip_prefix('-') {
            Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
            Some(rest) if !scientific => format!("−{rest}"),
            _ => s,
        }
    }
}

fn draw_lines<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, f: &LineFigure) -> DrawResult<DB> {
    let all = || f.lines.iter().flat_map(|l| l.points.iter());
    let (x_lo, x_hi) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
        (a.min(p.0), b.max(p.0))
    });
    let (y_lo, y_hi) = all()
        .filter(|p| p.1.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
    let (x_lo, x_hi) = padded(x_lo, x_hi, 0.0);
    let (y_lo, y_hi) = padded(y_lo, y_hi, 0.05);
    let mut chart = ChartBuilder::on(root)
        .caption(&f.title, font(28.0))
        .margin(20)
        .margin_right(35)
        .x_label_area_size(60)
        .y_label_area_size(90)
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
    let (fx, fy) = (
        tick_formatter(x_lo, x_hi, LABELS),
        tick_formatter(y_lo, y_hi, LABELS),
    );
    chart
        .configure_mesh()
        .x_labels(LABELS)
        .y_labels(LABELS)
        .x_desc(&f.x_label)
        .y_desc(&f.y_label)
        .axis_desc_style(font(20.0))
        .label_style(font(16.0))
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID_LIGHT)
        .draw()?;
    // Series stay apart where they overlap: earlier ones are drawn wider (a later one shows
    // inside), and each has its own marker shape as well as its colour.
    let n = f.lines.len();
    for (i, line) in f.lines.iter().enumerate() {
        let color = CYCLE[line.color % CYCLE.len()];
        let width = 2 + 2 * (n - 1 - i).min(4) as u32;
        let series = chart.draw_series(LineSeries::new(
            line.points.iter().copied().filter(|p| p.1.is_finite()),
            color.stroke_width(width),
        ))?;
        if let Some(label) = &line.label {
            series.label(label.as_str()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(width))
            });
        }
        if line.markers {
            let points = line.points.iter().copied().filter(|p| p.1.is_finite());
            let fill = color.filled();
            // Circles, triangles, squares, crosses in turn.
            match i % 4 {
                0 => chart.draw_series(points.map(|p| Circle::new(p, 5, fill)))?,
                1 => chart.draw_series(points.map(|p| TriangleMarker::new(p, 7, fill)))?,
                2 => chart.draw_series(
                    points.map(|p| EmptyElement::at(p) + Rectangle::new([(-5, -5), (5, 5)], fill)),
                )?,
                _ => chart.draw_series(points.map(|p| Cross::new(p, 6, color.stroke_width(3))))?,
            };
        }
    }
    if f.lines.iter().any(|l| l.label.is_some()) {
        chart
            .configure_series_labels()
            .position(legend_corner(f, (x_lo, x_hi), (y_lo, y_hi)))
            .label_font(font(18.0))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .margin(12)
            .draw()?;
    }
    Ok(())
}

/// The corner of the plot whose neighbourhood the lines cross least (like matplotlib's
/// `loc="best"`), upper left on a tie.
fn legend_corner(f: &LineFigure, x: (f64, f64), y: (f64, f64)) -> SeriesLabelPosition {
    // (position, horizontal: 0 left, 1 middle, 2 right; vertical: 0 lower, 1 middle, 2 upper),
    // the corners first so that they win ties.
    let places = [
        (SeriesLabelPosition::UpperLeft, 0, 2),
        (SeriesLabelPosition::UpperRight, 2, 2),
        (SeriesLabelPosition::LowerLeft, 0, 0),
        (SeriesLabelPosition::LowerRight, 2, 0),
        (SeriesLabelPosition::MiddleRight, 2, 1),
        (SeriesLabelPosition::MiddleLeft, 0, 1),
        (SeriesLabelPosition::UpperMiddle, 1, 2),
        (SeriesLabelPosition::LowerMiddle, 1, 0),
    ];
    let band = |place: usize, t: f64, wide: f64| match place {
        0 => t < wide,
        2 => t > 1.0 - wide,
        _ => (0.5 - wide / 2.0..0.5 + wide / 2.0).contains(&t),
    };
    let near = |h: usize, v: usize, (px, py): (f64, f64)| {
        let u = (px - x.0) / (x.1 - x.0);
        let w = (py - y.0) / (y.1 - y.0);
        band(h, u, 0.4) && band(v, w, 0.3)
    };
    // Sample the segments densely enough that a line crossing a corner counts.
    let samples: Vec<(f64, f64)> = f
        .lines
        .iter()
        .flat_map(|l| {
            l.points.windows(2).flat_map(|w| {
                (0..20).map(move |k| {
                    let s = k as f64 / 20.0;
                    (
                        w[0].0 + s * (w[1].0 - w[0].0),
                        w[0].1 + s * (w[1].1 - w[0].1),
                    )
                })
            })
        })
        .collect();
    places
        .into_iter()
        .min_by_key(|&(_, h, v)| samples.iter().filter(|&&p| near(h, v, p)).count())
        .map(|(place, _, _)| place)
        .unwrap_or(SeriesLabelPosition::UpperLeft)
}

/// matplotlib's `jet` at t in [0, 1].
pub fn jet(t: f64) -> RGBColor {
    fn piece(t: f64, knots: &[(f64, f64)]) -> f64 {
        for w in knots.windows(2) {
            let ((x0, y0), (x1, y1)) = (w[0], w[1]);
            if t <= x1 {
                return y0 + (y1 - y0) * (t - x0) / (x1 - x0);
            }
        }
        knots[knots.len() - 1].1
    }
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let r = piece(
        t,
        &[
            (0.0, 0.0),
            (0.35, 0.0),
            (0.66, 1.0),
            (0.89, 1.0),
            (1.0, 0.5),
        ],
    );
    let g = piece(
        t,
        &[
            (0.0, 0.0),
            (0.125, 0.0),
            (0.375, 1.0),
            (0.64, 1.0),
            (0.91, 0.0),
            (1.0, 0.0),
        ],
    );
    let b = piece(
        t,
        &[
            (0.0, 0.5),
            (0.11, 1.0),
            (0.34, 1.0),
            (0.65, 0.0),
            (1.0, 0.0),
        ],
    );
    let byte = |c: f64| (c * 255.0).round() as u8;
    RGBColor(byte(r), byte(g), byte(b))
}

/// Node spacing of `n` nodes over `range` (1 when there is a single node or no extent).
fn spacing(range: (f64, f64), n: usize) -> f64 {
    let d = (range.1 - range.0) / (n.max(2) - 1) as f64;
    if n >= 2 && d.is_finite() && d > 0.0 {
        d
    } else {
        1.0
    }
}

/// Cells drawn along one heat-map axis at most: a plot is narrower than this in pixels, so
/// a finer grid is shown by nearest sampling, and its SVG stays small.
const MAX_CELLS: usize = 512;

/// The drawn cells along an axis of `n` nodes, in node units (node i spans i ± 0.5): each
/// node when there are at most `max`, else `max` equal cells showing the nearest node.
fn bins(n: usize, max: usize) -> Vec<(f64, f64, usize)> {
    if n <= max {
        return (0..n)
            .map(|i| (i as f64 - 0.5, i as f64 + 0.5, i))
            .collect();
    }
    let width = n as f64 / max as f64;
    (0..max)
        .map(|k| {
            let (a, b) = (k as f64 * width - 0.5, (k + 1) as f64 * width - 0.5);
            let nearest = ((a + b) / 2.0).round().clamp(0.0, (n - 1) as f64) as usize;
            (a, b, nearest)
        })
        .collect()
}

fn draw_heat<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, h: &HeatMap) -> DrawResult<DB> {
    let (nr, nc) = h.data.dim();
    let (dx, dy) = (spacing(h.x_range, nc), spacing(h.y_range, nr));
    let finite = || h.data.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (0.0, 1.0) };
    // Continuous: jet over [lo, hi]. Discrete: each level its own colour, jet over the levels.
    let levels: Option<Vec<(f64, RGBColor)>> = h.levels.map(|levels| {
        let (a, b) = (levels[0], levels[levels.len() - 1]);
        levels
            .iter()
            .map(|&v| (v, jet(if b > a { (v - a) / (b - a) } else { 0.5 })))
            .collect()
    });
    let color_of = |v: f64| -> RGBColor {
        if !v.is_finite() {
            return NOT_FINITE;
        }
        match &levels {
            Some(levels) => {
                levels
                    .iter()
                    .min_by(|p, q| (p.0 - v).abs().total_cmp(&(q.0 - v).abs()))
                    .expect("at least one level")
                    .1
            }
            None if hi > lo => jet((v - lo) / (hi - lo)),
            None => jet(0.5),
        }
    };

    let (w, _) = root.dim_in_pixel();
    let bar_width = COLOR_BAR_WIDTH.min(w / 4);
    let (plot, bar) = root.split_horizontally(w - bar_width);
    let (x_lo, x_hi) = (h.x_range.0 - dx / 2.0, h.x_range.1 + dx / 2.0);
    let (y_lo, y_hi) = (h.y_range.0 - dy / 2.0, h.y_range.1 + dy / 2.0);
    let mut chart = ChartBuilder::on(&plot)
        .caption(h.title, font(28.0))
        .margin(20)
        .margin_right(10)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
    let (fx, fy) = (
        tick_formatter(x_lo, x_hi, LABELS),
        tick_formatter(y_lo, y_hi, LABELS),
    );
    chart
        .configure_mesh()
        .x_labels(LABELS)
        .y_labels(LABELS)
        .disable_mesh()
        .x_desc(h.x_label)
        .y_desc(h.y_label)
        .axis_desc_style(font(20.0))
        .label_style(font(16.0))
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .draw()?;
    let (rows, cols) = (bins(nr, MAX_CELLS), bins(nc, MAX_CELLS));
    chart.draw_series(rows.iter().flat_map(|&(y0, y1, r)| {
        cols.iter().map(move |&(x0, x1, c)| {
            let x = |i: f64| h.x_range.0 + i * dx;
            let y = |i: f64| h.y_range.0 + i * dy;
            Rectangle::new(
                [(x(x0), y(y0)), (x(x1), y(y1))],
                color_of(h.data[[r, c]]).filled(),
            )
        })
    }))?;

    match &levels {
        None => draw_color_bar(&bar, lo, hi, h.bar_label),
        Some(levels) => draw_level_legend(&bar, levels, h.bar_label),
    }
}

/// A vertical jet colour bar from `lo` (bottom) to `hi` (top) with its ticks on the right.
fn draw_color_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    lo: f64,
    hi: f64,
    label: &str,
) -> DrawResult<DB> {
    let (b_lo, b_hi) = if hi > lo {
        (lo, hi)
    } else {
        padded(lo, hi, 0.0)
    };
    let mut bar = ChartBuilder::on(area)
        .margin_top(75)
        .margin_bottom(80)
        .margin_left(5)
        .margin_right(10)
        .right_y_label_area_size(95)
        .build_cartesian_2d(0f64..1f64, b_lo..b_hi)?;
    let fmt = tick_formatter(b_lo, b_hi, BAR_LABELS);
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .set_all_tick_mark_size(5)
        .label_style(font(15.0))
        .y_label_formatter(&fmt)
        .y_labels(BAR_LABELS)
        .draw()?;
    let steps = 256;
    bar.draw_series((0..steps).map(|i| {
        let (a, b) = (
            b_lo + (b_hi - b_lo) * i as f64 / steps as f64,
            b_lo + (b_hi - b_lo) * (i + 1) as f64 / steps as f64,
        );
        let t = (i as f64 + 0.5) / steps as f64;
        Rectangle::new([(0.0, a), (1.0, b)], jet(t).filled())
    }))?;
    bar.draw_series(std::iter::once(Rectangle::new(
        [(0.0, b_lo), (1.0, b_hi)],
        BLACK.stroke_width(1),
    )))?;
    if !label.is_empty() {
        area.draw(&Text::new(
            label.to_string(),
            (5, 48),
            font(18.0).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    Ok(())
}

/// A legend of colour swatches, one per discrete value, the highest on top.
fn draw_level_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    levels: &[(f64, RGBColor)],
    label: &str,
) -> DrawResult<DB> {
    let (x, mut y, side) = (8, 75, 34);
    if !label.is_empty() {
        area.draw(&Text::new(
            label.to_string(),
            (x, 48),
            font(18.0).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    for &(v, color) in levels.iter().rev() {
        area.draw(&Rectangle::new(
            [(x, y), (x + side, y + side)],
            color.filled(),
        ))?;
        area.draw(&Rectangle::new(
            [(x, y), (x + side, y + side)],
            BLACK.stroke_width(1),
        ))?;
        let text = if v == v.trunc() && v.abs() < 1e15 {
            format!("{}", v as i64)
        } else {
            format!("{v}")
        };
        area.draw(&Text::new(
            text.replace('-', "−"),
            (x + side + 10, y + side / 2),
            font(18.0).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        y += side + 12;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jet_matches_matplotlib_at_the_knots() {
        assert_eq!(jet(0.0), RGBColor(0, 0, 128));
        assert_eq!(jet(1.0), RGBColor(128, 0, 0));
        assert_eq!(jet(0.5).1, 255);
    }

    #[test]
    fn ticks_have_the_decimals_the_span_needs() {
        let f = tick_formatter(0.0, 1.0, LABELS);
        assert_eq!(f(&0.2), "0.2");
        let f = tick_formatter(0.0, 120.0, LABELS);
        assert_eq!(f(&40.0), "40");
        let f = tick_formatter(0.09, 0.11, LABELS);
        assert_eq!(f(&0.1), "0.100");
        let f = tick_formatter(-1.0, 1.0, LABELS);
        assert_eq!(f(&-1e-17), "0.0");
    }

    #[test]
    fn bins_sample_the_nearest_node() {
        assert_eq!(bins(3, 8), [(-0.5, 0.5, 0), (0.5, 1.5, 1), (1.5, 2.5, 2)]);
        let b = bins(1000, 10);
        assert_eq!(b.len(), 10);
        assert_eq!(b[0].0, -0.5);
        assert_eq!(b[9].1, 999.5);
        assert!(b.windows(2).all(|w| w[0].1 == w[1].0 && w[0].2 < w[1].2));
    }

    #[test]
    fn describe_names_each_figure_once() {
        let files: Vec<PathBuf> = ["a.png", "a.svg", "b.png", "b.svg"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(describe(&files), "plots a, b (.png and .svg)");
    }

    #[test]
    fn padded_is_never_empty_nor_infinite() {
        assert_eq!(padded(0.0, 0.0, 0.05), (-1.0, 1.0));
        let (a, b) = padded(-1.7e308, 1.7e308, 0.05);
        assert!(
            a.is_finite() && b.is_finite() && a < -1e300 && b > 1e300,
            "{a} {b}"
        );
        let (a, b) = padded(0.1, 0.1, 0.05);
        assert!(a < 0.1 && b > 0.1);
    }
}
