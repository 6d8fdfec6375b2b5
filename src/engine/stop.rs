//! Stop strings over streamed text: text is released only once it cannot be the start of a
//! stop string, so a stop string is never half-shown.

pub struct StopMatcher {
    stops: Vec<String>,
    pending: String,
}

pub enum StopResult {
    /// Text safe to show; no stop string yet.
    Continue(String),
    /// A stop string was found: the text before it, and generation ends.
    Stop(String),
}

impl StopMatcher {
    pub fn new(stops: &[String]) -> StopMatcher {
        StopMatcher { stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(), pending: String::new() }
    }

    pub fn push(&mut self, text: &str) -> StopResult {
        self.pending.push_str(text);
        if let Some(at) = self.stops.iter().filter_map(|s| self.pending.find(s.as_str())).min() {
            let before = self.pending[..at].to_string();
            self.pending.clear();
            return StopResult::Stop(before);
        }
        // Hold back the longest suffix that is a proper prefix of some stop string.
        let hold = self
            .stops
            .iter()
            .flat_map(|s| (1..s.len()).filter(|&n| s.is_char_boundary(n)).map(move |n| &s[..n]))
            .filter(|prefix| self.pending.ends_with(prefix))
            .map(str::len)
            .max()
            .unwrap_or(0);
        let release = self.pending.len() - hold;
        let out = self.pending[..release].to_string();
        self.pending.drain(..release);
        StopResult::Continue(out)
    }

    /// The held-back text, at the end of generation.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], chunks: &[&str]) -> (String, bool) {
        let mut m = StopMatcher::new(&stops.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let mut shown = String::new();
        for c in chunks {
            match m.push(c) {
                StopResult::Continue(t) => shown += &t,
                StopResult::Stop(t) => return (shown + &t, true),
            }
        }
        (shown + &m.finish(), false)
    }

    #[test]
    fn stops_across_chunks_without_showing_the_stop_string() {
        assert_eq!(run(&["END"], &["hello E", "N", "D more"]), ("hello ".into(), true));
        assert_eq!(run(&["\n\n"], &["a\n", "\nb"]), ("a".into(), true));
        assert_eq!(run(&["xyz", "yy"], &["ayyb"]), ("a".into(), true));
    }

    #[test]
    fn releases_held_text_when_it_is_not_a_stop() {
        assert_eq!(run(&["END"], &["hello E", "N", "x"]), ("hello ENx".into(), false));
        assert_eq!(run(&["END"], &["tail E"]), ("tail E".into(), false));
        assert_eq!(run(&[], &["a", "b"]), ("ab".into(), false));
        assert_eq!(run(&["é!"], &["café", " ok"]), ("café ok".into(), false));
    }
}
