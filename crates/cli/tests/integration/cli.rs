//! The command line: help, `check`, and refusing bad configuration.

use std::process::Command;

use crate::harness::{BIN, portcullis as run, repo_root};

#[test]
fn help_lists_every_subcommand() {
    let (ok, out, _) = run(&["--help"]);
    assert!(ok);
    for sub in ["serve", "stdio", "check", "keys", "audit", "example-server"] {
        assert!(
            out.contains(&format!("  {sub} ")),
            "{sub} missing from\n{out}"
        );
    }
    let (ok, out, _) = run(&["serve", "--help"]);
    assert!(ok);
    assert!(
        out.contains("--listen <ADDR>") && out.contains("--config <FILE>"),
        "{out}"
    );
    assert!(out.contains("PORTCULLIS_DATA_DIR"), "{out}");
}

#[test]
fn every_shipped_example_config_is_valid() {
    // `examples/openapi.toml` fronts the example shop at 127.0.0.1:8000, whose document
    // `check` reads: run the shop on a free port and check a copy pointing there.
    let shop = crate::harness::ShopApp::start();
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(repo_root().join("examples")).unwrap() {
        let mut path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            if text.contains("http://127.0.0.1:8000") {
                let copy = dir.path().join(path.file_name().unwrap());
                std::fs::write(&copy, text.replace("http://127.0.0.1:8000", &shop.base)).unwrap();
                path = copy;
            }
            let (ok, out, err) = run(&["check", "--config", path.to_str().unwrap()]);
            assert!(ok, "{}: {out}{err}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 3);
}

#[test]
fn a_bad_config_is_refused_with_every_problem_and_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        r#"
[gateway]
listn = "127.0.0.1:1"

[upstreams.demo]
kind = "stdio"
command = "$PORTCULLIS"

[[expose]]
upstream = "demo"
tools = ["refund"]

[[expose]]
upstream = "ghost"
tools = ["x"]
read_only = true
"#,
    )
    .unwrap();
    for sub in ["check", "serve"] {
        let (ok, _, err) = run(&[sub, "--config", path.to_str().unwrap()]);
        assert!(!ok, "{sub} accepted a bad config");
        assert!(err.contains("3 problems"), "{sub}: {err}");
        assert!(err.contains("gateway.listn: unknown key"), "{err}");
        assert!(
            err.contains("expose[0]: tools are treated as destructive"),
            "{err}"
        );
        assert!(
            err.contains("expose[1].upstream: no upstream named `ghost`"),
            "{err}"
        );
    }
    let (ok, _, err) = run(&["check", "--config", "/nonexistent/portcullis.toml"]);
    assert!(!ok);
    assert!(err.contains("cannot read the config file"), "{err}");
}

#[test]
fn the_data_directory_is_created_beside_the_config_or_where_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, "").unwrap();
    let chosen = dir.path().join("state");
    // `stdio` with no client input exits at once, after preparing the data directory.
    let out = Command::new(BIN)
        .args(["stdio", "--config", path.to_str().unwrap()])
        .env("PORTCULLIS_DATA_DIR", &chosen)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(chosen.is_dir(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(BIN)
        .args(["stdio", "--config", path.to_str().unwrap()])
        .env_remove("PORTCULLIS_DATA_DIR")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        dir.path().join(".portcullis").is_dir(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
