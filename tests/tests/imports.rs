//! No import circle among any crate's modules: each crate's files import
//! leaf first. A file imports the module files its `crate::` and `super::`
//! paths name (in `use` items and inline); a parent naming its own children
//! by relative paths (`pub use child::Item`) is how Rust lays out modules
//! and is not counted. Any strongly connected set of two or more files
//! fails the test, which prints each file's imports inside the circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each crate's source directory, relative to the workspace root.
const CRATES: [&str; 6] = [
    "shared/src",
    "trainer/src",
    "tools/src",
    "firmware/src",
    "tests/src",
    "shared/fuzz/fuzz_targets",
];

/// Every `.rs` file below `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The module path of `file` (relative to the crate's `src`): `a/b.rs` and
/// `a/b/mod.rs` are `[a, b]`, `lib.rs` and `main.rs` the root `[]`.
fn module_of(file: &Path) -> Vec<String> {
    let mut parts: Vec<String> = file
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// `text` without comments (line and block) and string literals, so that
/// paths in docs and messages are not read as imports.
fn code_only(text: &str) -> String {
    let (bytes, mut out, mut i) = (text.as_bytes(), String::new(), 0);
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (b'/', Some(b'/')) => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            (b'/', Some(b'*')) => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            (b'"', _) => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            (b, _) => {
                out.push(b as char);
                i += 1;
            }
        }
    }
    out
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The paths at `code[at..]`: `a::b::C`, or each entry of a brace group
/// `{a::B, c::{D, e}}` (its leading identifiers), as segments.
fn paths_at(code: &str, at: usize) -> Vec<Vec<String>> {
    let bytes = code.as_bytes();
    if bytes.get(at) == Some(&b'{') {
        let (mut depth, mut start, mut out) = (0, at + 1, Vec::new());
        for (i, &b) in bytes.iter().enumerate().skip(at) {
            match b {
                b'{' => depth += 1,
                b'}' | b',' if depth == 1 => {
                    out.extend(paths_at(code, start + leading_space(&code[start..])));
                    start = i + 1;
                    if b == b'}' {
                        return out;
                    }
                }
                b'}' => depth -= 1,
                _ => {}
            }
        }
        return out;
    }
    let mut segments = Vec::new();
    let mut i = at;
    loop {
        let start = i;
        while i < bytes.len() && is_ident(bytes[i]) {
            i += 1;
        }
        if i == start {
            break;
        }
        segments.push(code[start..i].to_owned());
        if code[i..].starts_with("::") && bytes.get(i + 2).is_some_and(|&b| is_ident(b)) {
            i += 2;
        } else {
            break;
        }
    }
    if segments.is_empty() {
        vec![]
    } else {
        vec![segments]
    }
}

fn leading_space(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

/// The absolute module paths `code` (of the module `module`) names through
/// `crate::` and `super::`.
fn named_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        if at > 0 && is_ident(code.as_bytes()[at - 1]) {
            continue; // part of a longer identifier, not the keyword
        }
        found.extend(paths_at(code, at + "crate::".len()));
    }
    // `super` of module a::b (`a/b.rs` or `a/b/mod.rs`) is `a`.
    let mut at = 0;
    while let Some(offset) = code[at..].find("super::") {
        let start = at + offset;
        at = start + "super::".len();
        if start > 0 && (is_ident(code.as_bytes()[start - 1]) || code[..start].ends_with("::")) {
            continue;
        }
        let mut base = module.to_vec();
        let mut rest = at;
        base.pop();
        while code[rest..].starts_with("super::") {
            base.pop();
            rest += "super::".len();
        }
        at = rest;
        for path in paths_at(code, rest) {
            found.push(base.iter().cloned().chain(path).collect());
        }
    }
    found
}

/// The file of the longest prefix of `path` that is a module of the crate.
fn resolve<'a>(
    path: &[String],
    modules: &'a BTreeMap<Vec<String>, PathBuf>,
) -> Option<&'a PathBuf> {
    (1..=path.len())
        .rev()
        .find_map(|n| modules.get(&path[..n]))
        .or_else(|| modules.get(&Vec::new()))
}

/// Strongly connected sets of two or more files (Tarjan).
fn circles(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct State<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        out: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a PathBuf) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        for w in s.edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[w].min(s.low[v]);
                s.low.insert(v, low);
            } else if s.stack.contains(&w) {
                let low = s.index[w].min(s.low[v]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut set = Vec::new();
            while let Some(w) = s.stack.pop() {
                set.push(w.clone());
                if w == v {
                    break;
                }
            }
            if set.len() > 1 {
                set.sort();
                s.out.push(set);
            }
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !state.index.contains_key(v) {
            visit(&mut state, v);
        }
    }
    state.out
}

/// The import edges between the files of the crate in `src`.
fn crate_edges(src: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let files = rust_files(src);
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|f| (module_of(f.strip_prefix(src).unwrap()), f.clone()))
        .collect();
    let mut edges = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(src).unwrap();
        let module = module_of(relative);
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        let targets: BTreeSet<PathBuf> = named_paths(&code, &module)
            .iter()
            .filter_map(|path| resolve(path, &modules))
            .filter(|target| *target != file)
            .cloned()
            .collect();
        edges.insert(file.clone(), targets);
    }
    edges
}

#[test]
fn no_crate_has_an_import_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut found = Vec::new();
    for dir in CRATES {
        let edges = crate_edges(&root.join(dir));
        for circle in circles(&edges) {
            let lines: Vec<String> = circle
                .iter()
                .map(|file| {
                    let inside: Vec<String> = edges[file]
                        .iter()
                        .filter(|t| circle.contains(t))
                        .map(|t| t.strip_prefix(root).unwrap().display().to_string())
                        .collect();
                    format!(
                        "  {} imports {}",
                        file.strip_prefix(root).unwrap().display(),
                        inside.join(", ")
                    )
                })
                .collect();
            found.push(lines.join("\n"));
        }
    }
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n\n"));
}

/// The checker finds the circles it exists to find, and reads paths in
/// groups, through `super::`, and not in comments or strings.
#[test]
fn the_checker_sees_circles_and_only_real_imports() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "mod a;\nmod b;\nmod c;\nmod d;\n");
    write("a.rs", "use crate::{b::Thing, c};\n");
    write("b.rs", "pub struct Thing;\nfn f() { super::a::g(); }\n");
    write(
        "c.rs",
        "// crate::d::X is only a comment\nconst S: &str = \"crate::d\";\n",
    );
    write("d/mod.rs", "mod e;\npub use e::E;\n");
    write("d/e.rs", "use super::super::c;\npub struct E;\n");
    let edges = crate_edges(&dir);
    let name = |p: &str| dir.join(p);
    assert_eq!(edges[&name("a.rs")], [name("b.rs"), name("c.rs")].into());
    assert_eq!(edges[&name("b.rs")], [name("a.rs")].into());
    assert!(edges[&name("c.rs")].is_empty(), "{edges:?}");
    assert!(edges[&name("d/mod.rs")].is_empty(), "{edges:?}");
    assert_eq!(edges[&name("d/e.rs")], [name("c.rs")].into());
    assert_eq!(circles(&edges), [vec![name("a.rs"), name("b.rs")]]);
}
