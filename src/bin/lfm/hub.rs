//! Models from the Hugging Face Hub: `lfm download REPO [--file NAME] [--revision REV]`, and
//! `--model ORG/NAME[:FILE_OR_QUANT]` on every command.
//!
//! Downloads go through hf-hub's blocking client (ureq) into the standard cache, the one
//! Python's `huggingface_hub` uses: `$HF_HOME/hub` (default `~/.cache/huggingface/hub`):
//!
//! ```text
//! models--{org}--{name}/blobs/{etag}                        the file's bytes
//! models--{org}--{name}/snapshots/{commit}/{file}           -> ../../blobs/{etag}
//! models--{org}--{name}/refs/{revision}                     the commit the revision names
//! ```
//!
//! `HF_ENDPOINT` picks another server (a mirror; the tests' local one); `HF_TOKEN`, else
//! `$HF_HOME/token`, authenticates (private and gated repos). A transfer that breaks leaves
//! `blobs/{etag}.part`: hf-hub retries up to [`RETRIES`] times from where it stopped
//! (`Range: bytes=N-`), and the next `lfm download` continues the same file. Every finished
//! file's size is checked against the Hub's listing.
//!
//! Which file: `--file NAME` (or `ORG/NAME:NAME`) names it exactly, or by a quantization tag
//! in its name (`Q8_0`); without one, the repo's [`DEFAULT_QUANT`] `.gguf`, or its only `.gguf`.
//! A `--model ORG/NAME` that is in the cache needs no network.

use std::path::{Path, PathBuf};

use hf_hub::api::sync::{Api, ApiBuilder, ApiError};
use hf_hub::api::Progress;
use hf_hub::{Cache, Repo, RepoType};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;

use crate::info::human_bytes;
use crate::Result;

mod pick;

use pick::{base_name, pick_gguf};

/// The quantization picked when a repo has several `.gguf` files and none is named.
pub const DEFAULT_QUANT: &str = "Q4_K_M";

/// Retries of a broken transfer within one run (each resumes where the last stopped).
const RETRIES: usize = 3;

#[derive(clap::Args)]
pub struct DownloadArgs {
    /// Hub repo, ORG/NAME (e.g. LiquidAI/LFM2.5-8B-A1B-GGUF); ORG/NAME:FILE also works.
    repo: String,
    /// The file: its name in the repo, or a quantization tag such as Q8_0
    /// [default: the repo's Q4_K_M .gguf, or its only .gguf]
    #[arg(long)]
    file: Option<String>,
    /// Branch, tag or commit.
    #[arg(long, default_value = "main")]
    revision: String,
}

/// `lfm download`: prints the cached file's path on stdout (progress goes to stderr).
pub fn download_command(a: &DownloadArgs) -> Result<()> {
    let (repo, select) = split_selector(&a.repo);
    if !is_repo_id(repo) {
        return Err(format!("`{}` is not a Hub repo id (ORG/NAME)", a.repo).into());
    }
    let select = a.file.as_deref().or(select);
    let path = Hub::new()?.download(repo, &a.revision, select)?;
    println!("{}", path.display());
    Ok(())
}

/// What a `--model` argument names.
#[derive(Debug, PartialEq)]
pub enum ModelRef {
    File(PathBuf),
    Hub { repo: String, select: Option<String> },
}

impl ModelRef {
    /// An existing path is a file; otherwise `ORG/NAME` or `ORG/NAME:FILE_OR_QUANT` is a Hub
    /// repo; anything else is a file (that will not be found).
    pub fn parse(arg: &str) -> ModelRef {
        if Path::new(arg).exists() {
            return ModelRef::File(arg.into());
        }
        let (repo, select) = split_selector(arg);
        if is_repo_id(repo) && !repo.to_ascii_lowercase().ends_with(".gguf") {
            ModelRef::Hub { repo: repo.to_string(), select: select.map(str::to_string) }
        } else {
            ModelRef::File(arg.into())
        }
    }
}

/// The local file a `--model` argument names: the path itself, or the Hub file from the
/// cache (downloaded first when it is not there).
pub fn resolve(arg: &str) -> Result<PathBuf> {
    let (repo, select) = match ModelRef::parse(arg) {
        ModelRef::File(path) => return Ok(path),
        ModelRef::Hub { repo, select } => (repo, select),
    };
    let hub = Hub::new()?;
    let wanted = select.as_deref().unwrap_or(DEFAULT_QUANT);
    if let Some(path) = hub.cached(&repo, "main", wanted) {
        return Ok(path);
    }
    eprintln!("{repo}: not in the cache ({}), downloading", hub.cache.path().display());
    hub.download(&repo, "main", select.as_deref()).map_err(|e| {
        let cached = hub.cached_ggufs(&repo, "main");
        if cached.is_empty() {
            let e = e.to_string();
            let hint =
                if e.contains("not found") { format!(" ({arg} is not a local file either)") } else { String::new() };
            format!("{e}{hint}").into()
        } else {
            format!("{e}\ncached files of {repo}: {} (pick one with --model {repo}:FILE)", cached.join(", ")).into()
        }
    })
}

fn split_selector(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once(':') {
        Some((repo, select)) if !select.is_empty() => (repo, Some(select)),
        Some((repo, _)) => (repo, None),
        None => (arg, None),
    }
}

/// `org/name`, each part of letters, digits, `-`, `_`, `.`, not starting with `.` or `-`.
fn is_repo_id(s: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && !p.starts_with(['.', '-'])
            && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    matches!(s.split_once('/'), Some((org, name)) if part(org) && part(name))
}

/// The Hub's listing of a repo (`GET {endpoint}/api/models/{repo}/revision/{rev}?blobs=true`).
#[derive(Deserialize)]
struct Listing {
    sha: Option<String>,
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(Deserialize)]
struct Sibling {
    rfilename: String,
    size: Option<u64>,
    lfs: Option<Lfs>,
}

#[derive(Deserialize)]
struct Lfs {
    size: Option<u64>,
}

pub struct Hub {
    api: Api,
    cache: Cache,
    endpoint: String,
}

impl Hub {
    /// The client and cache that `HF_ENDPOINT`, `HF_HOME` and `HF_TOKEN` describe.
    pub fn new() -> Result<Hub> {
        let cache = Cache::from_env();
        let endpoint = std::env::var("HF_ENDPOINT")
            .ok()
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| "https://huggingface.co".into())
            .trim_end_matches('/')
            .to_string();
        let token = std::env::var("HF_TOKEN").ok().filter(|t| !t.trim().is_empty()).or_else(|| cache.token());
        let api = ApiBuilder::from_cache(cache.clone())
            .with_endpoint(endpoint.clone())
            .with_token(token)
            .with_progress(false)
            .with_retries(RETRIES)
            .build()?;
        Ok(Hub { api, cache, endpoint })
    }

    fn repo_dir(&self, repo: &str) -> PathBuf {
        self.cache.path().join(format!("models--{}", repo.replace('/', "--")))
    }

    /// The snapshot folder `revision` (a branch with a ref, or a commit) names in the cache.
    fn snapshot_dir(&self, repo: &str, revision: &str) -> Option<PathBuf> {
        let dir = self.repo_dir(repo);
        let commit = match std::fs::read_to_string(dir.join("refs").join(revision)) {
            Ok(commit) => commit.trim().to_string(),
            Err(_) => revision.to_string(),
        };
        let snapshot = dir.join("snapshots").join(commit);
        snapshot.is_dir().then_some(snapshot)
    }

    /// Every `.gguf` the cache holds for `repo` at `revision` (paths in the repo).
    fn cached_ggufs(&self, repo: &str, revision: &str) -> Vec<String> {
        let Some(dir) = self.snapshot_dir(repo, revision) else { return Vec::new() };
        let mut files = Vec::new();
        walk(&dir, "", &mut files);
        files.retain(|f| f.to_ascii_lowercase().ends_with(".gguf"));
        files.sort();
        files
    }

    /// The cached file of `repo` that `select` names (a file name or a quantization tag).
    fn cached(&self, repo: &str, revision: &str, select: &str) -> Option<PathBuf> {
        let files = self.cached_ggufs(repo, revision);
        let name = pick_gguf(&files, Some(select), repo).ok()?;
        Some(self.snapshot_dir(repo, revision)?.join(name))
    }

    /// Downloads (or finds in the cache) the file of `repo` that `select` names; returns its
    /// path in the cache.
    pub fn download(&self, repo: &str, revision: &str, select: Option<&str>) -> Result<PathBuf> {
        let api_repo = self.api.repo(Repo::with_revision(repo.to_string(), RepoType::Model, revision.to_string()));
        let listing: Listing = api_repo
            .info_request()
            .query("blobs", "true")
            .call()
            .map_err(|e| self.explain(e, &format!("repository {repo} (revision {revision})")))?
            .into_json()
            .map_err(|e| format!("{}: the Hub's listing of {repo} is not valid JSON: {e}", self.endpoint))?;
        let files: Vec<String> = listing.siblings.iter().map(|s| s.rfilename.clone()).collect();
        let name = pick_gguf(&files, select, repo)?;
        let expected = listing
            .siblings
            .iter()
            .find(|s| s.rfilename == name)
            .and_then(|s| s.lfs.as_ref().and_then(|l| l.size).or(s.size));

        if let Some(sha) = &listing.sha {
            let path = self.repo_dir(repo).join("snapshots").join(sha).join(&name);
            if path.is_file() {
                eprintln!("{repo}/{name} is in the cache already");
                return Ok(path);
            }
        }
        let size = expected.map(|b| format!(" ({})", human_bytes(b))).unwrap_or_default();
        eprintln!("downloading {name}{size} from {}/{repo}", self.endpoint);
        let bar = download_bar();
        let path = api_repo.download_with_progress(&name, DownloadBar(bar.clone()));
        bar.finish_and_clear();
        let path = path.map_err(|e| match e {
            ApiError::RequestError(e) => self.explain(*e, &format!("{repo}/{name}")),
            ApiError::TooManyRetries(e) => {
                format!("downloading {repo}/{name} kept failing ({e}); run the command again to resume it")
            }
            e => format!("downloading {repo}/{name}: {e}"),
        })?;
        let got = std::fs::metadata(&path)?.len();
        if let Some(want) = expected.filter(|&w| w != got) {
            if let Ok(blob) = std::fs::canonicalize(&path) {
                std::fs::remove_file(blob).ok();
            }
            std::fs::remove_file(&path).ok();
            return Err(format!(
                "downloaded {repo}/{name} has {got} bytes, the Hub lists {want}: removed it, try again"
            )
            .into());
        }
        eprintln!("downloaded {repo}/{name} ({})", human_bytes(got));
        Ok(path)
    }

    /// A failed Hub request as a sentence about `what`.
    fn explain(&self, e: ureq::Error, what: &str) -> String {
        let endpoint = &self.endpoint;
        match e {
            ureq::Error::Status(code, response) => {
                let reason = response.header("x-error-code").unwrap_or("").to_string();
                match (code, reason.as_str()) {
                    (_, "GatedRepo") => {
                        format!("{what} is gated on {endpoint}: accept its terms on the Hub and set HF_TOKEN")
                    }
                    (404, _) | (401, "RepoNotFound") => {
                        format!("{what} not found on {endpoint} (HTTP {code}; a private repo needs HF_TOKEN)")
                    }
                    (401 | 403, _) => format!("{what}: access denied by {endpoint} (HTTP {code}): set HF_TOKEN"),
                    _ => format!("{what}: {endpoint} answered HTTP {code} {}", response.status_text()),
                }
            }
            ureq::Error::Transport(t) => format!("cannot reach {endpoint} for {what}: {t}"),
        }
    }
}

/// Files under `dir` (following the cache's symlinks), as `/`-separated paths after `prefix`.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        let path = entry.path();
        if path.is_dir() {
            walk(&path, &format!("{name}/"), out);
        } else if path.is_file() {
            out.push(name);
        }
    }
}

fn download_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} ({eta})")
        .expect("valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// hf-hub's progress calls onto an indicatif bar (`init` again on every resumed attempt).
struct DownloadBar(ProgressBar);

impl Progress for DownloadBar {
    fn init(&mut self, size: usize, filename: &str) {
        self.0.set_length(size as u64);
        self.0.set_position(0);
        self.0.set_message(base_name(filename).to_string());
    }
    fn update(&mut self, size: usize) {
        self.0.inc(size as u64);
    }
    fn finish(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_arguments() {
        assert_eq!(
            ModelRef::parse("LiquidAI/LFM2.5-8B-A1B-GGUF"),
            ModelRef::Hub { repo: "LiquidAI/LFM2.5-8B-A1B-GGUF".into(), select: None }
        );
        assert_eq!(
            ModelRef::parse("org/name:Q8_0"),
            ModelRef::Hub { repo: "org/name".into(), select: Some("Q8_0".into()) }
        );
        for file in ["models/missing.gguf", "/abs/path/x.gguf", "./org/name", "a/b/c", "C:\\models\\x.gguf", "plain"] {
            assert_eq!(ModelRef::parse(file), ModelRef::File(file.into()), "{file}");
        }
    }
}
