//! The guest's sandbox, as the README's "Security and limits" states it: a module run with no
//! preopened directory reads, lists and writes nothing of the host, whatever path it tries
//! (the host's own paths that exist, system paths, paths climbing out with `..`), writes nowhere
//! but its in-memory `/tmp`, and sees only the environment variables it is given, in wasmtime,
//! the wasmtime CLI, node, wazero and wasmer. (`pywasm run`'s limits against a hostile app:
//! `crates/pywasm/tests/cli.rs`.)

use pywasm_tests::wasmer::run_wasmer;
use pywasm_tests::wazero::run_wazero;
use pywasm_tests::{Invocation, Outcome, Project, repo, run_node, run_wasmtime, run_wasmtime_cli};

/// What the probe prints first in wasmtime, the wasmtime CLI, node and wazero. Paths outside
/// the embedded tree do not exist; climbing out of it is refused as not capable; every write
/// outside `/tmp` is `[Errno 69] Read-only file system`; `os.chmod` does nothing (WASI preview1
/// has no file modes). Then come the host's own paths ([`host_lines`]) and the environment.
const EXPECTED: &str = "\
read /etc/passwd: FileNotFoundError [Errno 44] No such file or directory
list /etc/passwd: FileNotFoundError [Errno 44] No such file or directory
stat /etc/passwd: FileNotFoundError [Errno 44] No such file or directory
read /proc/self/environ: FileNotFoundError [Errno 44] No such file or directory
list /proc/self/environ: FileNotFoundError [Errno 44] No such file or directory
stat /proc/self/environ: FileNotFoundError [Errno 44] No such file or directory
read /root: FileNotFoundError [Errno 44] No such file or directory
list /root: FileNotFoundError [Errno 44] No such file or directory
stat /root: FileNotFoundError [Errno 44] No such file or directory
read /home: FileNotFoundError [Errno 44] No such file or directory
list /home: FileNotFoundError [Errno 44] No such file or directory
stat /home: FileNotFoundError [Errno 44] No such file or directory
read /dev/sda: FileNotFoundError [Errno 44] No such file or directory
list /dev/sda: FileNotFoundError [Errno 44] No such file or directory
stat /dev/sda: FileNotFoundError [Errno 44] No such file or directory
read /app/../../etc/passwd: PermissionError [Errno 76] Capabilities insufficient
list /app/../../etc/passwd: PermissionError [Errno 76] Capabilities insufficient
stat /app/../../etc/passwd: PermissionError [Errno 76] Capabilities insufficient
read ../../../../etc/passwd: PermissionError [Errno 76] Capabilities insufficient
list ../../../../etc/passwd: PermissionError [Errno 76] Capabilities insufficient
stat ../../../../etc/passwd: PermissionError [Errno 76] Capabilities insufficient
read <stdlib>/../../../../etc: PermissionError [Errno 76] Capabilities insufficient
list <stdlib>/../../../../etc: PermissionError [Errno 76] Capabilities insufficient
stat <stdlib>/../../../../etc: PermissionError [Errno 76] Capabilities insufficient
list /: ['app', 'usr']
write /scratch.txt: OSError [Errno 69] Read-only file system
write /app/new.txt: OSError [Errno 69] Read-only file system
write <stdlib>/new.py: OSError [Errno 69] Read-only file system
write /etc/new: OSError [Errno 69] Read-only file system
mkdir /newdir: OSError [Errno 69] Read-only file system
remove /app/sandbox.py: OSError [Errno 69] Read-only file system
rename /app/sandbox.py: OSError [Errno 69] Read-only file system
chmod /app/sandbox.py: None
symlink /app/link: OSError [Errno 69] Read-only file system
still readable /app/sandbox.py: True
";

/// What the probe says of a path the host has, and of writing below it. A path below `/tmp` is
/// looked for in the module's own `/tmp`, in memory and empty; any other does not exist (in
/// wasmer, whose root is its own: is not capable) and cannot be written below.
fn host_lines(index: usize, path: &str, wasmer: bool) -> String {
    let in_tmp = path.starts_with("/tmp/");
    let absent = "FileNotFoundError [Errno 44] No such file or directory";
    let (looked, written) = match (in_tmp, wasmer) {
        (true, _) => (absent, absent),
        (false, false) => (absent, "OSError [Errno 69] Read-only file system"),
        (false, true) => (NOT_CAPABLE, NOT_CAPABLE),
    };
    let label = format!("host path {index}");
    let looks = ["read", "list", "stat"].map(|how| format!("{how} {label}: {looked}\n"));
    looks.concat() + &format!("write {label}/new: {written}\n")
}

const NOT_CAPABLE: &str = "PermissionError [Errno 76] Capabilities insufficient";

/// wasmer-wasix gives every instance a root directory of its own at `/` (the README's Platform
/// limits): what lies outside the embedded tree is refused as not capable rather than absent,
/// `/` lists that root, empty, and writes outside `/tmp` fail as that root answers.
fn in_wasmer(line: &str) -> String {
    let (label, _) = line.split_once(": ").expect("label: result");
    let outside = ["/etc/passwd", "/proc/self/environ", "/root", "/home"];
    let result = match label {
        "list /" => "[]",
        "write /scratch.txt" => "NotADirectoryError [Errno 54] Not a directory",
        "write /etc/new" => NOT_CAPABLE,
        "mkdir /newdir" => "PermissionError [Errno 2] Permission denied",
        _ if label
            .split_once(' ')
            .is_some_and(|(_, path)| outside.contains(&path)) =>
        {
            NOT_CAPABLE
        }
        _ => return line.to_owned(),
    };
    format!("{label}: {result}")
}

/// The whole of what the probe prints; the wasmer host passes no environment at all.
fn expected(paths: &[String], wasmer: bool) -> String {
    let mut text: String = match wasmer {
        false => EXPECTED.to_owned(),
        true => EXPECTED.lines().map(|l| in_wasmer(l) + "\n").collect(),
    };
    for (index, path) in paths.iter().enumerate() {
        text += &host_lines(index, path, wasmer);
    }
    text + if wasmer {
        "environ: []\n"
    } else {
        "environ: [('GREETING', 'hi')]\n"
    }
}

#[test]
fn a_module_without_preopens_reads_writes_and_sees_nothing_of_the_host() {
    let project = Project::fixture("sandbox");
    let built = project.build().expect("build");
    let host = tempfile::tempdir().unwrap();
    let file = host.path().join("host.txt");
    fs_err::write(&file, "host\n").unwrap();
    let repo = repo();
    let paths = [repo.display().to_string(), file.display().to_string()];
    let args = ["sandbox", &paths[0], &paths[1]];
    // The runtimes' CLIs run with this test's whole environment (PATH, HOME, CARGO_*); the
    // module must see only what it is given.
    let inv = Invocation::new(&args).env("GREETING", "hi");
    let wasm = &built.output;
    let everywhere = expected(&paths, false);
    let runs: [(&str, Outcome, String); 5] = [
        (
            "wasmtime",
            run_wasmtime(wasm, &inv).unwrap(),
            everywhere.clone(),
        ),
        (
            "wasmtime CLI",
            run_wasmtime_cli(wasm, &inv).unwrap(),
            everywhere.clone(),
        ),
        ("node", run_node(wasm, &inv).unwrap(), everywhere.clone()),
        ("wazero", run_wazero(wasm, &inv).unwrap(), everywhere),
        (
            "wasmer",
            run_wasmer(wasm, &Invocation::new(&args)).unwrap(),
            expected(&paths, true),
        ),
    ];
    for (runtime, got, expected) in runs {
        assert_eq!(
            (got.code, got.stdout.as_str()),
            (0, expected.as_str()),
            "{runtime}: {}",
            got.stderr
        );
    }
    // Nothing was written on the host.
    let left: Vec<_> = fs_err::read_dir(host.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["host.txt"]);
    assert_eq!(fs_err::read_to_string(&file).unwrap(), "host\n");
    assert!(!repo.join("new").exists());
}
