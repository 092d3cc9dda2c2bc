//! The workspace builds no C crypto library: the client, the server, the tests and the
//! benchmarks all use rustls's ring provider (`src/tls.rs` says why), so that no build, CI's
//! included, compiles aws-lc-sys with cmake. The lock file covers every package, target and
//! feature of the workspace.

#[test]
fn the_lock_file_has_no_aws_lc() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
    for package in ["aws-lc-sys", "aws-lc-rs"] {
        assert!(
            !lock.contains(&format!("name = \"{package}\"")),
            "{package} is in Cargo.lock: `cargo tree -e features -i {package} --workspace \
             --all-features` shows who asks for it"
        );
    }
}
