//! Tidy tests, in the spirit of rust-analyzer's: the architecture's invariants, checked on the
//! source text so that a change breaking one fails the tests.
//!
//! - Only `src/cli/` and `src/main.rs` print (no `print!`, `println!`, `eprint!`,
//!   `eprintln!`, `dbg!`, or writing to `std::io::stdout`/`stderr` elsewhere).
//! - Nothing below the CLI imports it (`crate::cli` appears only in `src/cli/` and `main.rs`).
//! - The model, the grid and the scenario config never touch wgpu.
//! - `cpu/` and `gpu/` never import each other: what both need lives in `scheme.rs`.
//! - No function in `src/` is longer than [`MAX_FUNCTION_LINES`] lines.

use std::path::{Path, PathBuf};

/// The longest function allowed, in lines from its signature to its closing brace.
const MAX_FUNCTION_LINES: usize = 80;

fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).expect("src/ reads") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("a source file reads");
                out.push((path, text));
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    walk(&src, &mut out);
    assert!(out.len() > 20, "found only {} source files", out.len());
    out
}

/// The path relative to `src/`, with `/` separators.
fn relative(path: &Path) -> String {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    path.strip_prefix(&src)
        .expect("under src/")
        .to_string_lossy()
        .replace('\\', "/")
}

/// The code of a file without its comments and its `#[cfg(test)]` items (tests may print).
fn code(text: &str) -> String {
    let without_comments = text
        .lines()
        .map(|l| match l.find("//") {
            Some(at) => &l[..at],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = String::new();
    let mut rest = without_comments.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        // Skip the attributed item: to the end of its braced body (or its `;`). Lines are
        // kept, blanked, so that line numbers stay right.
        let item = &rest[at..];
        let mut depth = 0;
        let mut end = item.len();
        for (i, c) in item.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
        }
        out.push_str(&"\n".repeat(item[..end].matches('\n').count()));
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

fn violations(check: impl Fn(&str, &str) -> Vec<String>) -> Vec<String> {
    sources()
        .iter()
        .flat_map(|(path, text)| {
            let name = relative(path);
            check(&name, &code(text))
                .into_iter()
                .map(move |v| format!("{name}: {v}"))
        })
        .collect()
}

fn lines_with(code: &str, needles: &[&str]) -> Vec<String> {
    code.lines()
        .enumerate()
        .filter(|(_, l)| needles.iter().any(|n| l.contains(n)))
        .map(|(i, l)| format!("line {}: {}", i + 1, l.trim()))
        .collect()
}

const PRINTING: [&str; 7] = [
    "print!(",
    "println!(",
    "eprint!(",
    "eprintln!(",
    "dbg!(",
    "io::stdout(",
    "io::stderr(",
];

fn prints(name: &str, code: &str) -> Vec<String> {
    if name.starts_with("cli/") || name == "main.rs" {
        return vec![];
    }
    lines_with(code, &PRINTING)
}

#[test]
fn only_the_cli_prints() {
    let v = violations(prints);
    assert!(v.is_empty(), "printing outside src/cli/:\n{}", v.join("\n"));
}

#[test]
fn nothing_below_the_cli_imports_it() {
    let v = violations(|name, code| {
        if name.starts_with("cli/") || name == "main.rs" || name == "lib.rs" {
            return vec![];
        }
        lines_with(code, &["crate::cli", "mmgame::cli", "clap::"])
    });
    assert!(v.is_empty(), "the CLI imported below it:\n{}", v.join("\n"));
}

#[test]
fn the_model_grid_and_config_never_touch_wgpu() {
    let v = violations(|name, code| {
        if !["model.rs", "grid.rs", "config.rs", "scheme.rs"].contains(&name) {
            return vec![];
        }
        lines_with(code, &["wgpu", "crate::gpu", "crate::api", "crate::tools"])
    });
    assert!(
        v.is_empty(),
        "wgpu or an upper layer in the model:\n{}",
        v.join("\n")
    );
}

#[test]
fn cpu_and_gpu_never_import_each_other() {
    let v = violations(|name, code| {
        if name.starts_with("cpu/") {
            lines_with(
                code,
                &["crate::gpu", "wgpu::", "crate::api", "crate::tools"],
            )
        } else if name.starts_with("gpu/") {
            lines_with(code, &["crate::cpu", "crate::api", "crate::tools"])
        } else {
            vec![]
        }
    });
    assert!(
        v.is_empty(),
        "cpu/ and gpu/ cross-import:\n{}",
        v.join("\n")
    );
}

/// Functions (`fn name(` at the start of a line, after indentation and qualifiers) and their
/// length in lines, found by brace matching on the code without comments.
fn functions(code: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let t = ["pub(super) ", "pub(crate) ", "pub "]
            .iter()
            .fold(t, |t, p| t.strip_prefix(p).unwrap_or(t));
        let t = ["const ", "unsafe ", "async "]
            .iter()
            .fold(t, |t, p| t.strip_prefix(p).unwrap_or(t));
        let Some(rest) = t.strip_prefix("fn ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // Walk to the body's opening brace, then to its match.
        let (mut depth, mut opened) = (0i64, false);
        for (j, l) in lines.iter().enumerate().skip(i) {
            for c in l.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    ';' if !opened && depth == 0 => break,
                    _ => {}
                }
            }
            if !opened && l.trim_end().ends_with(';') {
                break;
            }
            if opened && depth == 0 {
                out.push((name.clone(), i + 1, j - i + 1));
                break;
            }
        }
    }
    out
}

#[test]
fn no_function_is_longer_than_80_lines() {
    let v = violations(|_, code| {
        functions(code)
            .into_iter()
            .filter(|(_, _, len)| *len > MAX_FUNCTION_LINES)
            .map(|(name, line, len)| format!("fn {name} (line {line}) has {len} lines"))
            .collect()
    });
    assert!(
        v.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines:\n{}",
        v.join("\n")
    );
}

/// The checks themselves bite: each finds what it looks for in a sample.
#[test]
fn the_checks_find_what_they_look_for() {
    assert_eq!(
        prints("tools/x.rs", "fn f() {\n    println!(\"hi\");\n}").len(),
        1
    );
    assert!(prints("cli/report.rs", "println!(\"hi\");").is_empty());
    assert!(prints("api/mod.rs", &code("// println!(\"in a comment\")")).is_empty());
    let tests_then_code =
        "#[cfg(test)]\nmod tests {\n    fn t() { println!(); }\n}\nfn f() { println!(); }\n";
    assert_eq!(
        prints("tools/x.rs", &code(tests_then_code)),
        ["line 5: fn f() { println!(); }"]
    );
    let long = format!("fn long() {{\n{}}}\n", "    x();\n".repeat(90));
    assert_eq!(functions(&long), vec![("long".to_string(), 1, 92)]);
    let short = "pub(super) fn short(a: u8) -> u8 {\n    a\n}\nfn decl();\n";
    assert_eq!(functions(short), vec![("short".to_string(), 1, 3)]);
}
