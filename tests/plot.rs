//! Plots: written by `solve` and by `mmgame plot`, readable PNGs of the right size, heat maps
//! that put a value where it belongs.

mod common;

use common::{mmgame, stderr};

use std::path::Path;

use mmgame::tools::plot::{heat_map, COLOR_BAR_WIDTH, HEAT_SIZE, LINE_SIZE, PLOT_NAMES};
use ndarray::Array2;

/// An RGB(A) PNG decoded: (width, height, RGB bytes).
fn read_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut reader = png::Decoder::new(file).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "{}", path.display());
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("{}: unexpected colour type {other:?}", path.display()),
    };
    let rgb = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, rgb)
}

fn expected_size(name: &str) -> (u32, u32) {
    match name {
        "value_surface" | "action_map" => HEAT_SIZE,
        _ => LINE_SIZE,
    }
}

/// Checks every plot in `dir`: present, non-empty, PNGs of the right size with more than a
/// background in them, SVGs that are SVG.
fn check_plots(dir: &Path) {
    for name in PLOT_NAMES {
        let png_file = dir.join(format!("{name}.png"));
        let (w, h, rgb) = read_png(&png_file);
        assert_eq!((w, h), expected_size(name), "{name}.png");
        let colours: std::collections::HashSet<&[u8]> = rgb.chunks_exact(3).collect();
        assert!(colours.len() > 8, "{name}.png is nearly blank");
        let svg = std::fs::read_to_string(dir.join(format!("{name}.svg"))).unwrap();
        assert!(svg.starts_with("<svg"), "{name}.svg");
        assert!(svg.trim_end().ends_with("</svg>"), "{name}.svg");
        assert!(svg.contains("<text"), "{name}.svg has no text");
    }
}

#[test]
fn solve_draws_the_notebook_figures() {
    let dir = tempfile::tempdir().unwrap();
    let o = mmgame(&["solve", "--out", "run", "-q"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let wrote = stdout.lines().last().unwrap();
    assert!(wrote.starts_with("wrote values.npy"), "{stdout}");
    for name in PLOT_NAMES {
        assert!(wrote.contains(name), "{wrote}");
    }
    let run = dir.path().join("run");
    check_plots(&run);
    // The titles are the notebook's.
    let svg = std::fs::read_to_string(run.join("value_surface.svg")).unwrap();
    assert!(svg.contains("Value of agent 1 at t = 0"));
    let svg = std::fs::read_to_string(run.join("stake_path.svg")).unwrap();
    assert!(svg.contains("Stake evolution") && svg.contains("agent 0") && svg.contains("agent 1"));
    // No temporary files are left behind.
    for entry in std::fs::read_dir(&run).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.starts_with('.') || name == ".mmgame.lock",
            "left behind: {name}"
        );
    }
}

#[test]
fn no_plots_draws_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let o = mmgame(&["solve", "--out", "run", "-q", "--no-plots"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("plots"));
    let pictures = std::fs::read_dir(dir.path().join("run"))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.ends_with(".png") || name.ends_with(".svg")
        })
        .count();
    assert_eq!(pictures, 0);
}

#[test]
fn plot_redraws_a_finished_run_identically() {
    let dir = tempfile::tempdir().unwrap();
    // The same run twice: with plots, and without (then drawn by `mmgame plot`).
    for (out, extra) in [("a", None), ("b", Some("--no-plots"))] {
        let mut args = vec!["solve", "--out", out, "-q"];
        args.extend(extra);
        let o = mmgame(&args, dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = mmgame(&["plot", "b"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.starts_with("wrote plots fee_response"), "{stdout}");
    check_plots(&dir.path().join("b"));
    for name in PLOT_NAMES {
        for ext in ["png", "svg"] {
            let file = format!("{name}.{ext}");
            let a = std::fs::read(dir.path().join("a").join(&file)).unwrap();
            let b = std::fs::read(dir.path().join("b").join(&file)).unwrap();
            assert!(a == b, "{file} drawn by `plot` differs from `solve`'s");
        }
    }
    // Drawing again replaces the files.
    let o = mmgame(&["plot", "b"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn plot_reads_an_equilibrium_run_with_only_the_t0_values() {
    let dir = tempfile::tempdir().unwrap();
    let o = mmgame(
        &[
            "solve",
            "--set",
            "solver.scheme=equilibrium",
            "--out",
            "eq",
            "-q",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    check_plots(&dir.path().join("eq"));
}

#[test]
fn plot_of_a_missing_or_broken_run_exits_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let o = mmgame(&["plot", "/nonexistent"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent"), "{err}");

    // A folder that is not a run names the file it misses.
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let o = mmgame(&["plot", "empty"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("summary.json"), "{err}");

    // A run whose arrays are damaged names the array.
    let o = mmgame(&["solve", "--out", "run", "-q", "--no-plots"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(dir.path().join("run/policy.npy"), b"\x93NUMPY garbage").unwrap();
    let o = mmgame(&["plot", "run"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("policy.npy"), "{err}");
    // A run of another grid's arrays is refused, not misread.
    let o = mmgame(
        &[
            "solve",
            "--out",
            "small",
            "-q",
            "--no-plots",
            "--set",
            "grid.fee_points=5",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::copy(
        dir.path().join("small/values.npy"),
        dir.path().join("run/values.npy"),
    )
    .unwrap();
    let o = mmgame(&["plot", "run"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("values.npy"), "{}", stderr(&o));
}

/// The centroid of the pixels coloured like the top of the jet colour map (dark red), left of
/// the colour bar.
fn hottest_centroid(path: &Path) -> (f64, f64) {
    let (w, h, rgb) = read_png(path);
    let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
    for y in 0..h {
        for x in 0..w - COLOR_BAR_WIDTH {
            let i = ((y * w + x) * 3) as usize;
            let (r, g, b) = (rgb[i], rgb[i + 1], rgb[i + 2]);
            if (120..=140).contains(&r) && g < 12 && b < 12 {
                sx += x as f64;
                sy += y as f64;
                n += 1.0;
            }
        }
    }
    assert!(n > 20.0, "{}: no hot pixels", path.display());
    (sx / n, sy / n)
}

#[test]
fn a_heat_map_puts_the_maximum_where_it_belongs() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (20, 30);
    // (row, column) of the maximum, and which quadrant of the image it must land in: rows run
    // up the y axis, columns along x.
    let cases = [
        ((16, 24), "upper right"),
        ((3, 4), "lower left"),
        ((17, 2), "upper left"),
        ((1, 27), "lower right"),
    ];
    for ((r0, c0), quadrant) in cases {
        let data = Array2::from_shape_fn((rows, cols), |(r, c)| {
            -(((r as f64 - r0 as f64).powi(2) + (c as f64 - c0 as f64).powi(2)).sqrt())
        });
        let file = dir.path().join(format!("max_{r0}_{c0}.png"));
        heat_map(&file, "test", "x", "y", &data, (0.0, 120.0), (0.0, 1.0)).unwrap();
        let (w, h, _) = read_png(&file);
        assert_eq!((w, h), HEAT_SIZE);
        let (x, y) = hottest_centroid(&file);
        let plot_width = (w - COLOR_BAR_WIDTH) as f64;
        let right = x > plot_width / 2.0;
        let upper = y < h as f64 / 2.0;
        let found = format!(
            "{} {}",
            if upper { "upper" } else { "lower" },
            if right { "right" } else { "left" }
        );
        assert_eq!(
            found, quadrant,
            "maximum at row {r0}, column {c0}: centroid ({x}, {y})"
        );
        // Closer than the quadrant: the centroid lies near the cell's share of the plot.
        let fx = (c0 as f64 + 0.5) / cols as f64;
        let fy = 1.0 - (r0 as f64 + 0.5) / rows as f64;
        assert!(
            (x / plot_width - fx).abs() < 0.15 && (y / h as f64 - fy).abs() < 0.15,
            "centroid ({x}, {y}) far from ({fx}, {fy}) of the plot"
        );
    }
}

#[test]
fn heat_map_writes_svg_and_refuses_other_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let data = Array2::from_shape_fn((3, 4), |(r, c)| (r * 4 + c) as f64);
    let svg = dir.path().join("h.svg");
    heat_map(&svg, "t", "x", "y", &data, (0.0, 1.0), (0.0, 1.0)).unwrap();
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    let bad = heat_map(
        &dir.path().join("h.jpg"),
        "t",
        "x",
        "y",
        &data,
        (0.0, 1.0),
        (0.0, 1.0),
    );
    assert!(matches!(bad, Err(mmgame::Error::Input(_))), "{bad:?}");
    let bad = heat_map(&svg, "t", "x", "y", &data, (1.0, 1.0), (0.0, 1.0));
    assert!(matches!(bad, Err(mmgame::Error::Input(_))), "{bad:?}");
}

/// `mmgame plot DIR --fix AXIS=X` draws any slice, named by what it holds; bad slices are one
/// line and exit 2.
#[test]
fn plot_draws_any_slice_and_refuses_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let o = mmgame(&["solve", "--out", "run", "-q", "--no-plots"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let o = mmgame(
        &[
            "plot", "run", "--fix", "stake1=0", "--agent", "1", "--time", "2",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let png = dir.path().join("run/values_agent1_t2_stake1-node0.png");
    assert_eq!(read_png(&png).0, HEAT_SIZE.0);
    let svg = std::fs::read_to_string(png.with_extension("svg")).unwrap();
    assert!(
        svg.contains("Value of agent 1 at t = 0.5, stake1 = 0"),
        "the title names the slice"
    );
    let o = mmgame(
        &["plot", "run", "--fix", "fee=0.1", "--array", "policy"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir
        .path()
        .join("run/policy_agent0_t0_fee-node1.svg")
        .exists());
    for bad in [
        vec!["plot", "run", "--fix", "stake9=3"],
        vec!["plot", "run", "--fix", "fee=0.1", "--time", "9"],
        vec!["plot", "run", "--fix", "fee=0.1", "--agent", "2"],
        vec!["plot", "run", "--fix", "fee=0.1", "--array", "prices"],
    ] {
        let o = mmgame(&bad, dir.path());
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).trim_end().lines().count(), 1, "{bad:?}");
    }
}
