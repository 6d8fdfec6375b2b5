//! `lfm download` and `--model ORG/NAME` against a Hugging Face Hub stand-in on 127.0.0.1:
//! the Hub's URL layout (`/api/models/{repo}/revision/{rev}`, `/{repo}/resolve/{rev}/{file}`
//! with ETag, X-Repo-Commit and byte ranges) serving fixture GGUFs. No internet.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use common::gguf_path;
use serde_json::{json, Value};

const REPO: &str = "test-org/tiny-GGUF";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
/// What the fake Hub serves as the repo's Q4_K_M and Q8_0 files (any two distinct GGUFs).
fn q4_k_m_bytes() -> Vec<u8> {
    std::fs::read(gguf_path("tiny-moe", "q8_0")).unwrap()
}
fn q8_0_bytes() -> Vec<u8> {
    std::fs::read(gguf_path("tiny-moe", "q4_0")).unwrap()
}

/// A file's ETag: 64 hex digits like the Hub's sha256 ones (an FNV-1a hash, repeated).
fn etag(bytes: &[u8]) -> String {
    let h = bytes.iter().fold(0xcbf29ce484222325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100000001b3));
    format!("{h:016x}").repeat(4)
}

/// One request the server saw.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    range: Option<String>,
}

/// The Hub stand-in: repos of (file name, bytes); runs until dropped.
struct Hub {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

/// A repo of the fake Hub: its id and its `.gguf` files (name, bytes).
struct FakeRepo {
    id: &'static str,
    files: Vec<(&'static str, Vec<u8>)>,
}

struct Files {
    repos: Vec<FakeRepo>,
    /// Files whose next whole-file GET breaks off half way (once each).
    cut: Mutex<HashSet<String>>,
}

impl Hub {
    fn start(repos: Vec<FakeRepo>, cut: &[&str]) -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let files = Arc::new(Files { repos, cut: Mutex::new(cut.iter().map(|s| s.to_string()).collect()) });
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (files, seen) = (files.clone(), seen2.clone());
                thread::spawn(move || serve(stream, &files, &seen));
            }
        });
        Hub { port, seen, stop }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        TcpStream::connect(("127.0.0.1", self.port)).ok(); // wakes the accept loop, which ends
    }
}

fn serve(stream: TcpStream, files: &Files, seen: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        head.push(line.trim_end().to_string());
    }
    let Some(first) = head.first() else { return };
    let mut parts = first.split_whitespace();
    let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let header = |name: &str| {
        head.iter().skip(1).find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let range = header("range");
    let path = target.split('?').next().unwrap_or("").to_string();
    seen.lock().unwrap().push(Seen { method: method.clone(), path: path.clone(), range: range.clone() });
    let mut out = stream;
    let head_only = method == "HEAD";

    let repo_of = |id: &str| files.repos.iter().find(|r| r.id == id).map(|r| &r.files);
    let not_found = |out: &mut TcpStream, code: &str| {
        let body = json!({"error": code}).to_string();
        write!(out, "HTTP/1.1 404 Not Found\r\nX-Error-Code: {code}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).ok();
    };

    // GET /api/models/{org}/{name}[/revision/{rev}]
    if let Some(rest) = path.strip_prefix("/api/models/") {
        let id = rest.split("/revision/").next().unwrap_or(rest);
        let Some(repo_files) = repo_of(id) else { return not_found(&mut out, "RepoNotFound") };
        let mut siblings = vec![json!({"rfilename": "README.md", "size": 11})];
        siblings.extend(
            repo_files
                .iter()
                .map(|(n, b)| json!({"rfilename": n, "size": b.len(), "lfs": {"sha256": etag(b), "size": b.len()}})),
        );
        let body = json!({"id": id, "modelId": id, "sha": COMMIT, "siblings": siblings}).to_string();
        write!(out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).ok();
        return;
    }
    // GET|HEAD /{org}/{name}/resolve/{rev}/{file}
    let Some((id, rest)) = path.trim_start_matches('/').split_once("/resolve/") else {
        return not_found(&mut out, "EntryNotFound");
    };
    let Some(repo_files) = repo_of(id) else { return not_found(&mut out, "RepoNotFound") };
    let file = rest.split_once('/').map(|(_, f)| f).unwrap_or("");
    let Some((name, bytes)) = repo_files.iter().find(|(n, _)| *n == file) else {
        return not_found(&mut out, "EntryNotFound");
    };
    let total = bytes.len();
    let (start, end) = match range.as_deref().and_then(|r| r.strip_prefix("bytes=")).and_then(|r| r.split_once('-')) {
        Some((a, b)) => {
            (a.parse().unwrap_or(0), if b.is_empty() { total - 1 } else { b.parse::<usize>().unwrap().min(total - 1) })
        }
        None => (0, total - 1),
    };
    let status = if range.is_some() { "206 Partial Content" } else { "200 OK" };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nETag: \"{}\"\r\nX-Repo-Commit: {COMMIT}\r\nAccept-Ranges: bytes\r\nContent-Length: {}\r\nConnection: close\r\n",
        etag(bytes),
        end + 1 - start
    );
    if range.is_some() {
        response += &format!("Content-Range: bytes {start}-{end}/{total}\r\n");
    }
    response += "\r\n";
    out.write_all(response.as_bytes()).ok();
    if head_only {
        return;
    }
    let body = &bytes[start..=end];
    let whole = start == 0 && end == total - 1;
    if whole && files.cut.lock().unwrap().remove(*name) {
        out.write_all(&body[..body.len() / 2]).ok(); // and the connection drops
        return;
    }
    out.write_all(body).ok();
}

/// A fresh HF_HOME.
fn temp_home(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lfm-download-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn lfm(endpoint: &str, home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lfm"))
        .args(args)
        .env("HF_ENDPOINT", endpoint)
        .env("HF_HOME", home)
        .env_remove("HF_TOKEN")
        .output()
        .expect("lfm runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn repo_dir(home: &Path) -> PathBuf {
    home.join("hub").join("models--test-org--tiny-GGUF")
}

/// The test repo with a Q4_K_M and a Q8_0 file, and a repo without any `.gguf`.
fn tiny_repo() -> Vec<FakeRepo> {
    vec![
        FakeRepo { id: REPO, files: vec![("tiny-Q4_K_M.gguf", q4_k_m_bytes()), ("tiny-Q8_0.gguf", q8_0_bytes())] },
        FakeRepo { id: "test-org/docs-only", files: vec![] },
    ]
}

/// The default pick is the Q4_K_M file; `--file` picks another; both land in the standard
/// cache layout byte for byte; once cached, `--model ORG/NAME` works without the server.
#[test]
fn download_caches_the_q4_k_m_file_and_models_resolve_offline() {
    let hub = Hub::start(tiny_repo(), &[]);
    let home = temp_home("cache");
    let out = lfm(&hub.endpoint(), &home, &["download", REPO]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let path = PathBuf::from(text(&out.stdout).trim());
    let want = repo_dir(&home).join("snapshots").join(COMMIT).join("tiny-Q4_K_M.gguf");
    assert_eq!(path, want);
    assert!(std::fs::read(&path).unwrap() == q4_k_m_bytes(), "cached file differs from the served one");
    let blob = repo_dir(&home).join("blobs").join(etag(&q4_k_m_bytes()));
    assert_eq!(
        std::fs::canonicalize(&path).unwrap(),
        std::fs::canonicalize(&blob).unwrap(),
        "snapshot entry points at the blob"
    );
    assert_eq!(std::fs::read_to_string(repo_dir(&home).join("refs").join("main")).unwrap().trim(), COMMIT);
    assert!(hub.seen().iter().any(|s| s.path == format!("/api/models/{REPO}/revision/main")), "{:?}", hub.seen());

    let out = lfm(&hub.endpoint(), &home, &["download", REPO, "--file", "Q8_0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(std::fs::read(text(&out.stdout).trim()).unwrap() == q8_0_bytes());

    // Already cached: nothing is fetched again.
    let before = hub.seen().iter().filter(|s| s.path.contains("/resolve/")).count();
    let out = lfm(&hub.endpoint(), &home, &["download", REPO]);
    assert!(out.status.success() && text(&out.stderr).contains("in the cache already"), "{}", text(&out.stderr));
    assert_eq!(hub.seen().iter().filter(|s| s.path.contains("/resolve/")).count(), before);

    drop(hub);
    let offline = "http://127.0.0.1:9"; // nothing listens there
    let out = lfm(offline, &home, &["info", "--model", REPO, "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["architecture"], "lfm2moe");
    assert!(info["file"].as_str().unwrap().ends_with("tiny-Q4_K_M.gguf"), "{info}");
    let out = lfm(offline, &home, &["info", "--model", &format!("{REPO}:Q8_0"), "--format", "json"]);
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(info["file"].as_str().unwrap().ends_with("tiny-Q8_0.gguf"), "{info}");

    let out = lfm(
        offline,
        &home,
        &["run", "--model", REPO, "--prompt", "Hi", "--backend", "reference", "--max-tokens", "3", "--format", "json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["usage"]["completion_tokens"], 3);
    std::fs::remove_dir_all(&home).ok();
}

/// A model that is not cached yet is downloaded by the command that names it.
#[test]
fn model_argument_downloads_when_missing() {
    let hub = Hub::start(tiny_repo(), &[]);
    let home = temp_home("resolve");
    let out = lfm(&hub.endpoint(), &home, &["info", "--model", REPO]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("downloading"), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("architecture"));
    let cached = repo_dir(&home).join("snapshots").join(COMMIT).join("tiny-Q4_K_M.gguf");
    assert!(std::fs::read(cached).unwrap() == q4_k_m_bytes());
    std::fs::remove_dir_all(&home).ok();
}

/// A partial `blobs/{etag}.part` (an earlier run that was interrupted) is continued with a
/// Range request, not started over.
#[test]
fn download_resumes_a_partial_file() {
    let hub = Hub::start(tiny_repo(), &[]);
    let home = temp_home("partial");
    let bytes = q4_k_m_bytes();
    let blobs = repo_dir(&home).join("blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    let done = 1 << 20;
    std::fs::write(blobs.join(format!("{}.part", etag(&bytes))), &bytes[..done]).unwrap();

    let out = lfm(&hub.endpoint(), &home, &["download", REPO]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(std::fs::read(text(&out.stdout).trim()).unwrap() == bytes, "resumed file differs");
    let ranges: Vec<String> = hub.seen().iter().filter_map(|s| s.range.clone()).collect();
    assert!(ranges.contains(&format!("bytes={done}-")), "no resuming Range request: {ranges:?}");
    assert!(!blobs.join(format!("{}.part", etag(&bytes))).exists());
    std::fs::remove_dir_all(&home).ok();
}

/// A transfer that breaks off half way is resumed from where it stopped.
#[test]
fn download_resumes_after_a_broken_transfer() {
    let hub = Hub::start(tiny_repo(), &["tiny-Q4_K_M.gguf"]);
    let home = temp_home("broken");
    let out = lfm(&hub.endpoint(), &home, &["download", REPO]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bytes = q4_k_m_bytes();
    assert!(std::fs::read(text(&out.stdout).trim()).unwrap() == bytes, "resumed file differs");
    let half = bytes.len() / 2;
    let gets: Vec<Seen> =
        hub.seen().into_iter().filter(|s| s.path.ends_with("tiny-Q4_K_M.gguf") && s.method == "GET").collect();
    assert!(
        gets.iter().any(|s| s.range.as_deref() == Some(&format!("bytes={half}-"))),
        "the second request should continue at byte {half}: {gets:?}"
    );
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn download_errors_are_clear() {
    let hub = Hub::start(tiny_repo(), &[]);
    let home = temp_home("errors");
    let fails = |args: &[&str], endpoint: &str, expect: &[&str]| {
        let out = lfm(endpoint, &home, args);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(err.contains("error:") && !err.contains("panicked"), "{args:?}: {err}");
        for e in expect {
            assert!(err.contains(e), "{args:?}: `{e}` not in: {err}");
        }
    };
    fails(&["download", "test-org/missing-GGUF"], &hub.endpoint(), &["test-org/missing-GGUF", "not found", "404"]);
    fails(&["download", "test-org/docs-only"], &hub.endpoint(), &["no .gguf"]);
    fails(&["download", REPO, "--file", "Q5_K_M"], &hub.endpoint(), &["no Q5_K_M", "tiny-Q8_0.gguf"]);
    fails(&["download", "not-a-repo"], &hub.endpoint(), &["not a Hub repo id"]);
    fails(&["info", "--model", "test-org/missing-GGUF"], &hub.endpoint(), &["not found"]);

    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(); // freed again
    fails(&["download", REPO], &format!("http://127.0.0.1:{closed}"), &["cannot reach"]);
    assert!(!repo_dir(&home).join("snapshots").exists(), "nothing cached by failures");
    std::fs::remove_dir_all(&home).ok();
}
