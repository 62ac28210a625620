use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use super::*;

/// A loopback HTTP server answering GET requests from `files` (path → body), 404 otherwise;
/// returns its base URL and the paths requested so far.
fn serve(files: HashMap<String, Vec<u8>>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requested = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&requested);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
            log.lock().unwrap().push(path.clone());
            let (status, body) = match files.get(&path) {
                Some(body) => ("200 OK", body.clone()),
                None => ("404 Not Found", b"not here".to_vec()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    (base, requested)
}

const BODY: &[u8] = b"the pinned upstream archive";

fn pin(sha256: &str) -> PoolFile<'_> {
    PoolFile {
        package: "libxml2",
        file: "libxml2_2.9.14+dfsg.orig.tar.xz",
        sha256,
    }
}

fn digest() -> String {
    crate::fsutil::sha256_hex(BODY)
}

const POOL_PATH: &str = "/main/libx/libxml2/libxml2_2.9.14%2Bdfsg.orig.tar.xz";

/// The first place 404s (as the security archive did for zlib), the second serves the file.
#[test]
fn the_next_place_serves_what_the_first_lacks() {
    let files = HashMap::from([(format!("/debian/pool{POOL_PATH}"), BODY.to_vec())]);
    let (base, requested) = serve(files);
    let roots = [
        format!("{base}/debian-security/pool/updates"),
        format!("{base}/debian/pool/"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let got = fetch_from(&Shell::quiet(), pin(&digest()), &roots, dir.path()).unwrap();
    assert_eq!(got, dir.path().join("libxml2_2.9.14+dfsg.orig.tar.xz"));
    assert_eq!(fs_err::read(&got).unwrap(), BODY);
    assert_eq!(
        *requested.lock().unwrap(),
        [
            format!("/debian-security/pool/updates{POOL_PATH}"),
            format!("/debian/pool{POOL_PATH}"),
        ]
    );
}

/// A place serving another file under the pinned name is passed over, and when no place has
/// it the error names every place tried, with what each answered, and nothing is left.
#[test]
fn a_failure_names_every_place_tried() {
    let files = HashMap::from([(format!("/a/pool{POOL_PATH}"), b"another build".to_vec())]);
    let (base, _) = serve(files);
    let roots = [format!("{base}/a/pool"), format!("{base}/b/pool")];
    let dir = tempfile::tempdir().unwrap();
    let err = fetch_from(&Shell::quiet(), pin(&digest()), &roots, dir.path()).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains(&format!("{base}/a/pool{POOL_PATH}: another file (sha256 "))
            && text.contains(&format!("{base}/b/pool{POOL_PATH}: http status: 404")),
        "{text}"
    );
    assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn pools_given_by_the_variable_are_tried_in_their_order() {
    assert_eq!(
        split_pools(" https://a.test/debian/pool\n  file:///srv/pool  "),
        ["https://a.test/debian/pool", "file:///srv/pool"]
    );
}

#[test]
fn pool_prefixes_follow_debian() {
    assert_eq!(pool_prefix("zlib"), "z");
    assert_eq!(pool_prefix("libxslt"), "libx");
    assert_eq!(pool_prefix("python3.11"), "p");
    assert_eq!(pool_prefix("lib"), "l");
}

/// The apt sources of a Debian 12 machine (deb822 and one-line forms): only the release's
/// archives, security first, each pool once.
#[test]
fn pools_come_from_the_hosts_apt_sources_security_first() {
    let deb822 = "Types: deb\n# a comment\nURIs: http://mirror.test/debian\n\
                  Suites: bookworm bookworm-updates\nComponents: main\n\n\
                  Types: deb\nURIs: http://mirror.test/debian-security/\n\
                  Suites: bookworm-security\nComponents: main\n\n\
                  Types: deb-src\nURIs: http://src.test/debian\nSuites: bookworm\n\n\
                  Types: deb\nEnabled: no\nURIs: http://off.test/debian\nSuites: bookworm\n";
    let list = "deb [signed-by=/k.gpg arch=amd64] https://other.test/apt cloud-sdk-bookworm main\n\
                # deb http://commented.test/debian bookworm main\n\
                deb http://mirror.test/debian bookworm main\n\
                deb https://nodes.test/node_20.x nodistro main\n";
    let mut entries = parse_deb822(deb822);
    entries.extend(parse_one_line(list));
    assert_eq!(
        pools_in_order(&entries, Some("bookworm")),
        [
            "http://mirror.test/debian-security/pool/updates",
            "http://mirror.test/debian/pool",
        ]
    );
    // Without a known release every archive is tried.
    assert_eq!(pools_in_order(&entries, None).len(), 4);
}
