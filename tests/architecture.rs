//! ARCHITECTURE.md stays a true map: every path it names in the repository exists, the files
//! it says use the generated client are the ones that do, and no import points up its layers.
//! What the sources do is read from them (their `crate::` paths, tests aside), never listed
//! here.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::ToTokens;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn map() -> String {
    std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap()
}

#[test]
fn every_path_the_map_names_exists() {
    let root = root();
    let map = map();
    let tops = [
        "src/",
        "cli/",
        "tests/",
        "bench/",
        "build/",
        "deploy/",
        "openapi/",
        "paused-time-tests/",
    ];
    let mut checked = 0;
    let mut missing = Vec::new();
    for quoted in map.split('`').skip(1).step_by(2) {
        // `src/call/deadline.rs`, `src/auth/` (a folder), never `src/ (thin layer)`.
        let path = quoted.trim_end_matches(',');
        if !tops.iter().any(|top| path.starts_with(top)) || path.contains(' ') {
            continue;
        }
        checked += 1;
        if !root.join(path).exists() {
            missing.push(path.to_owned());
        }
    }
    assert!(
        checked >= 30,
        "only {checked} paths found: is the map still in backticks?"
    );
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names paths that do not exist: {missing:?}"
    );
}

/// The map's "*Must not:* be used outside ..." of `src/generated.rs` names exactly the
/// modules whose code names `crate::generated` (the answer types the root re-exports aside).
#[test]
fn the_generated_client_is_used_where_the_map_says() {
    let map = map();
    let paragraph = map
        .split("\n\n")
        .find(|p| p.starts_with("**`src/generated.rs`.**"))
        .expect("the map's paragraph on src/generated.rs");
    let (_, allowed) = paragraph
        .split_once("*Must not:* be used outside")
        .expect("its *Must not:*");
    let said: BTreeSet<String> = quoted(allowed).map(module).collect();
    let users: BTreeSet<String> = sources()
        .into_iter()
        .filter(|source| source.names.contains("generated"))
        .map(|source| module(&source.path))
        .collect();
    assert!(!users.is_empty(), "no use of crate::generated found");
    assert_eq!(said, users, "the map says, the sources do");
}

/// Each file imports from its own layer or those below, and no two modules import each other
/// but the client and its builder.
#[test]
fn no_import_points_up_the_layers() {
    let layers = layers();
    let exports = root_exports();
    let sources = sources();
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut unplaced = BTreeSet::new();
    let mut upward = Vec::new();
    for source in &sources {
        let from = module(&source.path);
        let Some(&own) = layers.get(&from) else {
            unplaced.insert(from);
            continue;
        };
        for name in &source.names {
            let to = match exports.get(name) {
                Some(module) => module.clone(),
                None if layers.contains_key(name) => name.clone(),
                None => panic!("{}: cannot place crate::{name}", source.path),
            };
            if to == from {
                continue;
            }
            if layers[&to] < own {
                upward.push(format!(
                    "{} imports crate::{name} (layer {})",
                    source.path,
                    layers[&to] + 1
                ));
            }
            imports.entry(from.clone()).or_default().insert(to);
        }
    }
    assert!(
        unplaced.is_empty(),
        "modules in no layer of ARCHITECTURE.md: {unplaced:?}"
    );
    assert!(upward.is_empty(), "imports pointing up: {upward:#?}");
    let mutual: Vec<(&String, &String)> = imports
        .iter()
        .flat_map(|(a, tos)| tos.iter().map(move |b| (a, b)))
        .filter(|(a, b)| a < b && imports.get(*b).is_some_and(|tos| tos.contains(*a)))
        .collect();
    let client = (&"builder".to_owned(), &"client".to_owned());
    assert_eq!(mutual, [client], "modules that import each other");
    assert!(
        imports.len() >= 15,
        "only {} modules import anything",
        imports.len()
    );
}

/// The backticked names of `text`.
fn quoted(text: &str) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2)
}

/// The module a path of `src/` belongs to: `src/auth/chain.rs`, `auth/` and `src/auth.rs`
/// are all `auth`.
fn module(path: &str) -> String {
    let path = path.strip_prefix("src/").unwrap_or(path);
    let first = path.split('/').next().unwrap_or(path);
    first.trim_end_matches(".rs").to_owned()
}

/// The map's layers, top (0) to bottom: each module of `src/` and its layer.
fn layers() -> BTreeMap<String, usize> {
    let map = map();
    let (_, after) = map
        .split_once("The layers, top to bottom")
        .expect("the map's layers");
    let list = after
        .split("\n\n")
        .nth(1)
        .expect("a numbered list after them");
    // `1. What uses a client: ...`, its lines after the first indented.
    let mut items: Vec<String> = Vec::new();
    for line in list.lines() {
        match line.split_once(". ") {
            Some((n, _)) if n.parse::<usize>().is_ok() => items.push(line.to_owned()),
            _ => items.last_mut().expect("a numbered list").push_str(line),
        }
    }
    let mut layers = BTreeMap::new();
    for (layer, item) in items.iter().enumerate() {
        for path in quoted(item).filter(|p| p.starts_with("src/")) {
            let previous = layers.insert(module(path), layer);
            assert!(
                previous.is_none_or(|p| p == layer),
                "{path} is in two layers"
            );
        }
    }
    assert!(items.len() >= 3, "layers read: {layers:?}");
    layers
}

/// What the crate root re-exports, by name: `Client` is `client`'s, `PushEvent` the generated
/// answers'.
fn root_exports() -> BTreeMap<String, String> {
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).unwrap();
    let answers = std::fs::read_to_string(Path::new(env!("OUT_DIR")).join("answers.rs")).unwrap();
    let mut exports = BTreeMap::new();
    for text in [lib, answers] {
        for item in syn::parse_file(&text).unwrap().items {
            if let syn::Item::Use(item) = item
                && matches!(item.vis, syn::Visibility::Public(_))
                && let syn::UseTree::Path(path) = &item.tree
            {
                let module = path.ident.to_string();
                names(&path.tree, &mut |name| {
                    exports.insert(name, module.clone());
                });
            }
        }
    }
    exports
}

/// The names a `use` tree brings in (their last segments).
fn names(tree: &syn::UseTree, found: &mut impl FnMut(String)) {
    match tree {
        syn::UseTree::Path(path) => names(&path.tree, found),
        syn::UseTree::Name(name) => found(name.ident.to_string()),
        syn::UseTree::Rename(rename) => found(rename.rename.to_string()),
        syn::UseTree::Group(group) => group.items.iter().for_each(|tree| names(tree, found)),
        syn::UseTree::Glob(_) => {}
    }
}

/// One file of `src/`, its tests aside.
struct Source {
    /// `src/auth/chain.rs`.
    path: String,
    /// The first name after each `crate::` in its code (`crate::{a, b::c}`: `a` and `b`),
    /// macros' arguments included.
    names: BTreeSet<String>,
}

/// Every file of `src/` but `lib.rs` and test files (`tests.rs`, `*_tests.rs`), without
/// its `#[cfg(test)]` items.
fn sources() -> Vec<Source> {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut sources = Vec::new();
    for file in files {
        let path = file
            .strip_prefix(root())
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let name = file.file_name().unwrap().to_str().unwrap();
        if path == "src/lib.rs" || name == "tests.rs" || name.ends_with("_tests.rs") {
            continue;
        }
        let mut parsed = syn::parse_file(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        parsed.items.retain(|item| !is_test(item));
        let mut names = BTreeSet::new();
        crate_paths(parsed.into_token_stream(), &mut names);
        sources.push(Source { path, names });
    }
    assert!(sources.len() >= 50, "only {} files read", sources.len());
    sources
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

fn is_test(item: &syn::Item) -> bool {
    let attrs = match item {
        syn::Item::Mod(item) => &item.attrs,
        syn::Item::Fn(item) => &item.attrs,
        syn::Item::Use(item) => &item.attrs,
        syn::Item::Impl(item) => &item.attrs,
        syn::Item::Struct(item) => &item.attrs,
        syn::Item::Const(item) => &item.attrs,
        _ => return false,
    };
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr
                .parse_args::<syn::Ident>()
                .is_ok_and(|arg| arg == "test")
    })
}

/// Adds the first name after each `crate::` in `tokens` to `names`.
fn crate_paths(tokens: TokenStream, names: &mut BTreeSet<String>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, token) in tokens.iter().enumerate() {
        match token {
            TokenTree::Group(group) => crate_paths(group.stream(), names),
            TokenTree::Ident(ident) if ident == "crate" => {
                let colons = tokens[i + 1..]
                    .iter()
                    .take(2)
                    .all(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ':'));
                match tokens.get(i + 3) {
                    Some(TokenTree::Ident(name)) if colons => {
                        names.insert(name.to_string());
                    }
                    Some(TokenTree::Group(group))
                        if colons && group.delimiter() == Delimiter::Brace =>
                    {
                        // `crate::{a, b::{c}}`: the first name of each item.
                        let mut first = true;
                        for tree in group.stream() {
                            match tree {
                                TokenTree::Ident(name) if first => {
                                    names.insert(name.to_string());
                                    first = false;
                                }
                                TokenTree::Punct(p) if p.as_char() == ',' => first = true,
                                _ => first = false,
                            }
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}
