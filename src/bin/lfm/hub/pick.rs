//! Which `.gguf` of a repo's files a `--file` / `:FILE_OR_QUANT` selector names.

use super::DEFAULT_QUANT;

/// The `.gguf` of `files` that `select` names: exactly (path or base name) or by a tag in the
/// base name (`Q8_0`, case-insensitive, between non-alphanumerics). `None` selects
/// [`DEFAULT_QUANT`], else the only `.gguf`. Multimodal projectors (`mmproj*`) are skipped.
pub(super) fn pick_gguf(files: &[String], select: Option<&str>, repo: &str) -> std::result::Result<String, String> {
    let ggufs: Vec<&String> = files
        .iter()
        .filter(|f| {
            f.to_ascii_lowercase().ends_with(".gguf") && !base_name(f).to_ascii_lowercase().starts_with("mmproj")
        })
        .collect();
    if ggufs.is_empty() {
        return Err(format!("{repo} has no .gguf file (files: {})", list(files.iter())));
    }
    if let Some(name) = select {
        if let Some(f) = files.iter().find(|f| *f == name || base_name(f) == name) {
            return Ok(f.clone());
        }
    }
    let tag = select.unwrap_or(DEFAULT_QUANT);
    let tagged: Vec<&&String> = ggufs.iter().filter(|f| has_tag(base_name(f), tag)).collect();
    match (tagged.as_slice(), select) {
        ([one], _) => Ok(one.to_string()),
        ([], None) if ggufs.len() == 1 => Ok(ggufs[0].clone()),
        ([], _) => Err(format!("{repo} has no {tag} .gguf file; pick one with --file: {}", list(ggufs.iter()))),
        (many, _) => Err(format!("several files of {repo} match {tag}: {}; name one with --file", list(many.iter()))),
    }
}

pub(super) fn base_name(f: &str) -> &str {
    f.rsplit('/').next().unwrap_or(f)
}

fn has_tag(name: &str, tag: &str) -> bool {
    let (name, tag) = (name.to_ascii_uppercase(), tag.to_ascii_uppercase());
    let bytes = name.as_bytes();
    let apart = |i: Option<&u8>| i.is_none_or(|c| !c.is_ascii_alphanumeric());
    !tag.is_empty()
        && name
            .match_indices(&tag)
            .any(|(i, _)| apart(i.checked_sub(1).and_then(|j| bytes.get(j))) && apart(bytes.get(i + tag.len())))
}

fn list<'a>(names: impl Iterator<Item = impl AsRef<str> + 'a>) -> String {
    names.map(|n| n.as_ref().to_string()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picking_a_file() {
        let files: Vec<String> = ["README.md", "m-Q4_0.gguf", "m-Q4_K_M.gguf", "m-Q8_0.gguf", "mmproj-m-F16.gguf"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(pick_gguf(&files, None, "o/m").unwrap(), "m-Q4_K_M.gguf");
        assert_eq!(pick_gguf(&files, Some("q8_0"), "o/m").unwrap(), "m-Q8_0.gguf");
        assert_eq!(pick_gguf(&files, Some("m-Q4_0.gguf"), "o/m").unwrap(), "m-Q4_0.gguf");
        assert!(pick_gguf(&files, Some("Q5_K_M"), "o/m").unwrap_err().contains("no Q5_K_M"));
        let one = vec!["model-f16.gguf".to_string()];
        assert_eq!(pick_gguf(&one, None, "o/m").unwrap(), "model-f16.gguf");
        assert!(pick_gguf(&["a.txt".to_string()], None, "o/m").unwrap_err().contains("no .gguf"));
        let two = vec!["a-Q4_K_M.gguf".to_string(), "b-Q4_K_M.gguf".to_string()];
        assert!(pick_gguf(&two, None, "o/m").unwrap_err().contains("several"));
    }
}
