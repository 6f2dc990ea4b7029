//! The README's walk-through, run exactly as written (against a server on a free port).

use std::process::Command;

use tessera_tests::{DevServer, bin};

fn walkthrough() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README.md");
    let section = readme.split("## Walk-through").nth(1).expect("a Walk-through section");
    let block = section.split("```bash\n").nth(1).expect("a bash block");
    block.split("\n```").next().expect("closed block").to_owned()
}

#[test]
fn the_readme_walkthrough_works_as_written() {
    let work = tempfile::tempdir().expect("tmp");
    let server = DevServer::start_in(&work.path().join(".tessera"), &[]);
    let script = walkthrough().replace("http://127.0.0.1:8750", &server.base);
    // Note every secret and token the walk-through handles, to search the logs for them afterwards.
    let marker = "echo \"client: $CLIENT_ID\"";
    assert!(script.contains(marker), "the walk-through still prints the client id");
    let script = script.replace(marker, &format!("{marker}; FIRST_SECRET=$CLIENT_SECRET"))
        + "\nprintf '%s\\n' \"$FIRST_SECRET\" \"$CLIENT_SECRET\" \"$TOKEN\" > seen.txt\n";
    let bin_dir = bin().parent().expect("bin dir").to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(work.path())
        .env("PATH", path)
        .env_remove("TESSERA_DATA_DIR")
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "walk-through failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("hello from the demo API"), "{stdout}");
    assert!(stdout.contains("POST /api/orders: 403"), "{stdout}");
    assert!(stdout.contains("after revoke: 401"), "{stdout}");
    assert!(stdout.contains("active"), "keys listed: {stdout}");

    // No secret or token reached the server's log or the commands' output on stderr.
    let seen = std::fs::read_to_string(work.path().join("seen.txt")).expect("seen.txt");
    let seen: Vec<&str> = seen.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(seen.len(), 3, "two secrets and a token: {seen:?}");
    let logs = server.logs();
    assert!(logs.lines().count() > 5, "the server logged the walk-through");
    for s in seen {
        assert!(s.starts_with("tssk_") || s.starts_with("eyJ"), "{s:.8}…");
        assert!(!logs.contains(s), "a secret or token ({:.8}…) is in the server's log", s);
        assert!(!stderr.contains(s), "a secret or token ({:.8}…) is on stderr", s);
        // Not even its signature part (a token's most secret-like piece).
        let tail = s.rsplit('.').next().unwrap_or(s);
        assert!(!logs.contains(tail), "part of a token is in the server's log");
    }
}
