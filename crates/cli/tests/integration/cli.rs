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
            // The secrets the examples name, as their READMEs say to set them.
            let out = Command::new(BIN)
                .args(["check", "--config", path.to_str().unwrap()])
                .env("SHOP_KEY", "shop-secret")
                .env("APP_KEY", "app-secret")
                .env("CRM_CLIENT_SECRET", "crm-secret")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}{}",
                path.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
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

/// `config` in a fresh directory: the directory (removed when dropped) and the file's path.
fn config_file(config: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, config).unwrap();
    (dir, path)
}

/// `check` on `config`: whether it passed, and what it printed (stdout and stderr).
fn check(config: &str, extra: &[&str]) -> (bool, String) {
    let (_dir, path) = config_file(config);
    let mut args = vec!["check", "--config", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = Command::new(BIN)
        .args(&args)
        .env_remove("PORTCULLIS_TEST_MISSING")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

const EXAMPLE_UPSTREAM: &str =
    "[upstreams.demo]\nkind = \"stdio\"\ncommand = \"$PORTCULLIS\"\nargs = [\"example-server\"]\n";

#[test]
fn check_fails_for_every_config_serve_would_refuse_or_could_not_run() {
    let expose = "[[expose]]\nupstream = \"demo\"\ntools = [\"echo\"]\nread_only = true\n";
    let auth = "[auth]\napi_keys = true\n";
    let cases = [
        (
            format!("{EXAMPLE_UPSTREAM}{expose}"),
            "auth: no authentication is configured",
        ),
        (
            format!(
                "{auth}[upstreams.demo]\nkind = \"stdio\"\ncommand = \"portcullis-no-such-cmd\"\n{expose}"
            ),
            "upstreams.demo.command: `portcullis-no-such-cmd` is not found on the PATH",
        ),
        (
            format!(
                "{auth}{EXAMPLE_UPSTREAM}[upstreams.api]\nkind = \"http\"\nurl = \"http://127.0.0.1:9/mcp\"\n\
                 headers.X-Key = {{ env = \"PORTCULLIS_TEST_MISSING\" }}\n{expose}"
            ),
            "upstreams.api.headers.X-Key: environment variable `PORTCULLIS_TEST_MISSING` is not set",
        ),
    ];
    for (config, expected) in cases {
        let (ok, out) = check(&config, &[]);
        assert!(!ok, "check passed:\n{config}");
        assert!(out.contains(expected), "{expected}\n--- not in ---\n{out}");
    }
}

#[test]
fn a_missing_upstream_secret_stops_serve_naming_the_upstream_and_the_variable() {
    let (_dir, path) = config_file(&format!(
        "[auth]\napi_keys = true\n{EXAMPLE_UPSTREAM}[upstreams.api]\nkind = \"http\"\n\
         url = \"http://127.0.0.1:9/mcp\"\nheaders.X-Key = {{ env = \"PORTCULLIS_TEST_MISSING\" }}\n"
    ));
    let out = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--config",
            path.to_str().unwrap(),
        ])
        .env_remove("PORTCULLIS_TEST_MISSING")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("upstreams.api.headers.X-Key: environment variable `PORTCULLIS_TEST_MISSING`"),
        "{err}"
    );
}

#[test]
fn check_warns_about_overlapping_entries_and_with_live_about_names_that_match_nothing() {
    let config = format!(
        "[auth]\napi_keys = true\n{EXAMPLE_UPSTREAM}\
         [[expose]]\nupstream = \"demo\"\ntools = [\"echo\", \"ech0\"]\nread_only = true\n\
         [[expose]]\nupstream = \"demo\"\ntools = [\"ec*\"]\nread_only = true\nscopes = [\"s\"]\n"
    );
    let (ok, out) = check(&config, &[]);
    assert!(ok, "warnings do not fail: {out}");
    assert!(
        out.contains("warning:") && out.contains("expose[0] and expose[1] both match `echo`"),
        "{out}"
    );
    assert!(!out.contains("matches nothing"), "only with --live: {out}");
    let (ok, out) = check(&config, &["--live"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("expose[0]: `ech0` matches nothing upstream `demo` lists"),
        "{out}"
    );
    assert!(!out.contains("`echo` matches nothing"), "{out}");
}

#[test]
fn keys_create_refuses_scopes_no_tool_uses_and_an_expiry_of_zero() {
    let (_dir, path) = config_file(&format!(
        "[auth]\napi_keys = true\n{EXAMPLE_UPSTREAM}[[expose]]\nupstream = \"demo\"\n\
         tools = [\"get_invoice\"]\nread_only = true\nscopes = [\"invoices:read\"]\n"
    ));
    let config = path.to_str().unwrap();
    let (ok, _, err) = run(&[
        "keys",
        "create",
        "--config",
        config,
        "--name",
        "a",
        "--scopes",
        "invoice:read",
    ]);
    assert!(!ok);
    assert!(
        err.contains("`invoice:read` not used by any tool") && err.contains("invoices:read"),
        "{err}"
    );
    let (ok, _, err) = run(&[
        "keys",
        "create",
        "--config",
        config,
        "--name",
        "a",
        "--expires",
        "0s",
    ]);
    assert!(!ok);
    assert!(err.contains("--expires"), "{err}");
    let (ok, out, err) = run(&[
        "keys",
        "create",
        "--config",
        config,
        "--name",
        "a",
        "--scopes",
        "invoices:read",
    ]);
    assert!(ok, "{out}{err}");
}
