//! `stickler check` and `stickler replay` as a user runs them: exit codes, written reports.

use assert_cmd::Command;

fn stickler() -> Command {
    Command::cargo_bin("stickler").unwrap()
}

#[test]
fn passing_cases_exit_0_and_write_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let (json, junit, report) = (
        dir.path().join("m.json"),
        dir.path().join("j.xml"),
        dir.path().join("r"),
    );
    let out = stickler()
        .args([
            "check",
            "--quiet",
            "--cases",
            "struct/none/small",
            "--cases",
            "framed/split-up/small",
        ])
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .arg("--report")
        .arg(&report)
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(0);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("2 cases, 2 passed, 0 failed"), "{stdout}");
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(m["cells"].as_array().unwrap().len(), 2);
    let x = std::fs::read_to_string(&junit).unwrap();
    assert!(
        x.contains("<testsuite name=\"struct\" tests=\"1\" failures=\"0\""),
        "{x}"
    );
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(
        html.contains("<svg") && html.contains("struct/small"),
        "report has the matrix and a chart"
    );
    assert!(report.join("report.md").exists());
}

#[test]
fn a_failing_case_exits_1_names_the_failure_and_writes_a_replayable_case() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("j.xml");
    let out = stickler()
        .args([
            "check",
            "--quiet",
            "--cases",
            "naive/split-down/small",
            "--cases-dir",
        ])
        .arg(dir.path())
        .arg("--junit")
        .arg(&junit)
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("FAIL") && stdout.contains("short"),
        "{stdout}"
    );
    // Under the table, the first failure and the command that plays its minimised case.
    let case = dir.path().join("naive_split-down_small.json");
    assert!(
        stdout.contains("FAIL naive/split-down/small: connection ")
            && stdout.contains(&format!("repro: stickler replay {}", case.display())),
        "{stdout}"
    );
    let x = std::fs::read_to_string(&junit).unwrap();
    assert!(
        x.contains("<failure") && x.contains("stickler replay"),
        "{x}"
    );
    stickler()
        .arg("replay")
        .arg(&case)
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(0)
        .stdout(predicates::str::contains("reproduced: short"));
}

#[test]
fn expect_tables_decide_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.txt");
    let bad = dir.path().join("bad.txt");
    std::fs::write(&good, "naive/none/large fail\n").unwrap();
    std::fs::write(&bad, "naive/none/large pass\n").unwrap();
    stickler()
        .args([
            "check",
            "--quiet",
            "--cases",
            "naive/none/large",
            "--expect",
        ])
        .arg(&good)
        .assert()
        .code(0)
        .stdout(predicates::str::contains("matches the expected table"));
    stickler()
        .args([
            "check",
            "--quiet",
            "--cases",
            "naive/none/large",
            "--expect",
        ])
        .arg(&bad)
        .assert()
        .code(1)
        .stdout(predicates::str::contains(
            "naive/none/large: expected pass, measured fail",
        ));
}

#[test]
fn usage_errors_exit_2_with_a_message() {
    for args in [
        vec!["check", "--cases", "nothing/matches/this"],
        vec![
            "check",
            "--target",
            "127.0.0.1:9",
            "--framing",
            "struct",
            "--framing",
            "json",
        ],
        vec![
            "check",
            "--framing",
            "struct",
            "--client",
            "python3 no-addr-placeholder {cmds}",
        ],
        vec!["check", "--cases", "[unclosed"],
    ] {
        let out = stickler().args(&args).assert().code(2);
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(err.contains("error"), "{args:?}: {err}");
    }
    stickler()
        .args(["replay", "/nonexistent/case.json"])
        .assert()
        .code(2);
}

#[test]
fn a_target_that_is_not_there_is_a_setup_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    stickler()
        .args(["check", "--quiet", "--framing", "struct", "--target"])
        .arg(closed.to_string())
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(2)
        .stderr(predicates::str::contains(format!(
            "cannot connect to the target {closed}"
        )));
}
