//! ARCHITECTURE.md stays a true map: every path it names in the repository exists.

use std::path::Path;

#[test]
fn every_path_the_map_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
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
