//! The `cmd` service against the real thing: every request here is also run by `/bin/sh -c`
//! (dash) with coreutils in the C locale, and the reply must equal its stdout then stderr, byte
//! for byte. Also the documented refusals and the `seq` output bound.

use std::process::Command;

use stickler::service::{Service, OUTPUT_LIMIT};

/// The real shell's answer: stdout then stderr.
fn shell(request: &[u8]) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(std::ffi::OsStr::from_bytes(request))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LC_ALL", "C")
        .output()
        .expect("run /bin/sh");
    let mut reply = out.stdout;
    reply.extend_from_slice(&out.stderr);
    reply
}

fn sh_is_dash() -> bool {
    std::fs::canonicalize("/bin/sh")
        .map(|p| p.to_string_lossy().ends_with("dash"))
        .unwrap_or(false)
}

fn compare(requests: &[Vec<u8>]) {
    assert!(
        sh_is_dash(),
        "/bin/sh is not dash: the cmd service is specified against dash + coreutils"
    );
    let mut mismatches = Vec::new();
    for request in requests {
        let ours = Service::Cmd.reply(request);
        let theirs = shell(request);
        if ours != theirs {
            mismatches.push(format!(
                "{:?}\n  ours:  {:?}\n  shell: {:?}",
                String::from_utf8_lossy(request),
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs)
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "differs from /bin/sh:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn echo_matches_dash() {
    let requests: Vec<Vec<u8>> = [
        &b"echo hello"[..],
        b"echo",
        b"echo -n hello",
        b"echo -n",
        b"echo -n -n x",
        b"echo  a   b  ",
        b"\techo\ta\tb",
        b"echo -e x",
        b"echo -- x",
        b"echo hi\r",
        b"echo h\xc3\xa9llo w\xc3\xb6rld",
        b"echo a#b c=d e%f ]g ^h @i :j ,k .l /m +n",
        b"echo hello\n",
        b"echo a\necho b\n\necho c",
        b"   ",
        b"",
    ]
    .iter()
    .map(|r| r.to_vec())
    .collect();
    compare(&requests);
}

#[test]
fn seq_matches_coreutils() {
    let mut requests: Vec<Vec<u8>> = [
        "seq 1 2000",
        "seq",
        "seq 0",
        "seq 3",
        "seq -1",
        "seq 1 3",
        "seq 3 1",
        "seq -3 -1",
        "seq +3",
        "seq 007 9",
        "seq 01 3",
        "seq -0 2",
        "seq -0 -1 -2",
        "seq -0",
        "seq 1 0 3",
        "seq 1 -0 3",
        "seq 1 0 abc",
        "seq abc",
        "seq x 1",
        "seq 1 x",
        "seq +-3",
        "seq -",
        "seq 1 2 3 4",
        "seq 1 2 3 x y",
        "seq 5 -1 1",
        "seq 10 -3 1",
        "seq 2 2",
        "seq --",
        "seq -- 3",
        "seq -- -2 0",
        "seq 1 +2 5",
        "seq 1 3 -w",
        "seq 1 -5 10",
        "seq 9223372036854775806 9223372036854775807",
        "seq -9223372036854775808 -9223372036854775806",
        "seq 9223372036854775800 3 9223372036854775807",
        "seq -1 1 1000",
        "seq -- -w",
        "seq 1 --",
        "seq . 3",
        "seq +",
        "seq 1 2 +",
        "seq e",
        "seq 1 2 3 -w",
        "seq 0 0",
        "seq -0 0",
        "seq +0 -0",
        "seq 00 -1 -00",
    ]
    .iter()
    .map(|r| r.as_bytes().to_vec())
    .collect();
    for first in -3..=3 {
        for step in [-2, -1, 1, 2, 5] {
            for last in -3..=3 {
                requests.push(format!("seq {first} {step} {last}").into_bytes());
            }
        }
    }
    compare(&requests);
}

#[test]
fn unknown_commands_match_dash() {
    let requests: Vec<Vec<u8>> = [
        &b"nosuch_stickler_cmd"[..],
        b"nosuch_stickler_cmd a b",
        b"echo a\nnosuch_one\necho b\nnosuch_two x",
        b"\n\nnosuch_stickler_cmd",
        b"./nosuch_stickler_cmd",
        b"ECHO hi",
    ]
    .iter()
    .map(|r| r.to_vec())
    .collect();
    compare(&requests);
}

/// What the shell would do differently is refused with one `stickler:` line, never run.
#[test]
fn shell_syntax_and_unmodelled_input_are_refused() {
    for request in [
        &b"echo $HOME"[..],
        b"echo `id`",
        b"echo a; id",
        b"echo a | cat",
        b"echo a > /tmp/x",
        b"echo 'quoted'",
        b"echo \"quoted\"",
        b"echo a\\nb",
        b"echo *",
        b"echo ~",
        b"echo #comment",
        b"X=1 echo",
        b"if true",
        b"echo a\0b",
        b"seq -w 3",
        b"seq 1.5",
        b"seq 1e3",
        b"seq 0x10",
        b"seq inf",
        b"seq 99999999999999999999",
    ] {
        let reply = Service::Cmd.reply(request);
        let text = String::from_utf8_lossy(&reply);
        assert!(
            text.starts_with("stickler: cmd: ")
                && text.ends_with('\n')
                && text.lines().count() == 1,
            "{:?} gave {text:?}",
            String::from_utf8_lossy(request)
        );
    }
}

#[test]
fn seq_output_is_bounded() {
    let reply = Service::Cmd.reply(b"seq 1 9223372036854775807");
    assert!(
        reply.len() < 200,
        "refused, not allocated: {} bytes",
        reply.len()
    );
    assert!(String::from_utf8_lossy(&reply).contains("refused"));
    // Just under the limit is served in full.
    let reply = Service::Cmd.reply(b"seq 1 500000");
    assert!(reply.len() <= OUTPUT_LIMIT);
    assert!(reply.ends_with(b"\n500000\n"));
}

/// Many commands in one request cannot add up past the bound either.
#[test]
fn total_output_is_bounded() {
    let request = "seq 1 300000\n".repeat(75);
    let reply = Service::Cmd.reply(request.as_bytes());
    assert!(
        reply.len() < 200,
        "refused, not allocated: {} bytes",
        reply.len()
    );
    let request = "seq\n".repeat(2 << 20);
    let reply = Service::Cmd.reply(request.as_bytes());
    assert!(
        reply.len() < 200,
        "usage errors count too: {} bytes",
        reply.len()
    );
}

#[test]
fn upper_and_echo() {
    assert_eq!(
        Service::Upper.reply(b"echo hello \xff\n"),
        b"ECHO HELLO \xff\n"
    );
    let all: Vec<u8> = (0..=255).collect();
    assert_eq!(Service::Echo.reply(&all), all);
}
