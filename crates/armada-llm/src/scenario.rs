//! Scenarios: an environment put into words. A scenario says who the agent is, what one round
//! is, what an arm is called (the unit: a button, an advertisement…) and where the arm names
//! come from.
//!
//! Built-in scenarios draw names from pools of our own (at least 100 names each, none a
//! substring of another, ignoring case, so an answer that mentions one name never mentions
//! another by accident). A run's names are a seeded sample from a *copy* of the pool: the same
//! (environment, seed index) gives every agent the same names, and no shared state is mutated.
//! On MovieLens the arms are the movies themselves, named by title. Users can supply their own
//! scenario as a TOML file (`description`, `unit`, `names`).

use armada::env::EnvKind;
use armada::policy::AgentRun;
use armada::rng::{self, Stream};
use std::path::Path;

/// Putting an environment into words.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The scenario's name (`buttons`, or the file's path for a user scenario).
    pub name: String,
    /// Who the agent is and what a round is, as one paragraph.
    pub description: String,
    /// What one arm is called (singular), e.g. "button".
    pub unit: String,
    /// The verb for choosing an arm, past tense, e.g. "pressed".
    pub verb: String,
    /// What the reward means, in a sentence.
    pub reward_meaning: String,
    /// The pool of arm names (empty for MovieLens, whose arms are named by the data).
    pub pool: Vec<String>,
}

/// The names of the built-in scenarios.
pub const BUILT_IN: &[&str] = &["buttons", "ads", "videos", "clothes", "movies"];

fn pool(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

impl Scenario {
    /// A built-in scenario by name.
    pub fn built_in(name: &str) -> Option<Scenario> {
        let s = |description: &str, unit: &str, verb: &str, reward: &str, names: &str| Scenario {
            name: name.to_string(),
            description: description.to_string(),
            unit: unit.to_string(),
            verb: verb.to_string(),
            reward_meaning: reward.to_string(),
            pool: pool(names),
        };
        Some(match name {
            "buttons" => s(
                "You stand in front of a wall of buttons. Every button, when pressed, pays out a reward drawn \
                 at random from that button's own distribution, which never changes. Each round you press \
                 exactly one button.",
                "button",
                "pressed",
                "The reward is what the button paid out.",
                include_str!("pools/buttons.txt"),
            ),
            "ads" => s(
                "You run the advertising slot of a popular website. Each round a new visitor opens the page \
                 and you decide which one advertisement to show them.",
                "advertisement",
                "showed",
                "The reward measures how the visitor responded to the advertisement (for 0/1 rewards: 1 if \
                 they clicked it, 0 if not).",
                include_str!("pools/ads.txt"),
            ),
            "videos" => s(
                "You are the recommendation engine of a video-sharing site. Each round a new viewer arrives \
                 and you recommend one video to them.",
                "video",
                "recommended",
                "The reward measures how much the viewer enjoyed the video (for 0/1 rewards: 1 if they \
                 watched it to the end, 0 if they skipped it).",
                include_str!("pools/videos.txt"),
            ),
            "clothes" => s(
                "You are the shopping assistant of an online clothing store. Each round a new customer asks \
                 for a suggestion and you recommend one item to them.",
                "item",
                "recommended",
                "The reward measures how the customer responded (for 0/1 rewards: 1 if they bought the item, \
                 0 if not).",
                include_str!("pools/clothes.txt"),
            ),
            "movies" => s(
                "You are the recommendation engine of a movie website. Each round a user arrives, described \
                 below, and you recommend one movie to them.",
                "movie",
                "recommended",
                "The reward is how much the user likes the recommended movie, on the scale of a 1-5 star \
                 rating (0 means the user never rated it).",
                "",
            ),
            _ => return None,
        })
    }

    /// A user scenario from a TOML file with `description`, `unit` and `names` (and optionally
    /// `verb` and `reward_meaning`).
    pub fn from_file(path: &Path) -> Result<Scenario, String> {
        let shown = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the scenario file {shown}: {e}"))?;
        let doc: toml::Table = text.parse().map_err(|e| format!("{shown}: invalid TOML: {e}"))?;
        for key in doc.keys() {
            if !["description", "unit", "names", "verb", "reward_meaning"].contains(&key.as_str()) {
                return Err(format!(
                    "{shown}: unknown key `{key}`; a scenario has description, unit, names, verb, reward_meaning"
                ));
            }
        }
        let text_of = |key: &str, default: Option<&str>| -> Result<String, String> {
            match doc.get(key) {
                Some(toml::Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
                Some(_) => Err(format!("{shown}: `{key}` must be a non-empty string")),
                None => default.map(str::to_string).ok_or_else(|| format!("{shown}: `{key}` is required")),
            }
        };
        let names = match doc.get("names") {
            Some(toml::Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, v)| match v.as_str().map(str::trim) {
                    Some(s) if !s.is_empty() => Ok(s.to_string()),
                    _ => Err(format!("{shown}: names[{i}] must be a non-empty string")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(format!("{shown}: `names` must be an array of strings")),
            None => return Err(format!("{shown}: `names` is required (one name per arm, or more)")),
        };
        if names.len() < 2 {
            return Err(format!("{shown}: `names` lists {} name(s); a bandit needs at least 2", names.len()));
        }
        let scenario = Scenario {
            name: shown.to_string(),
            description: text_of("description", None)?,
            unit: text_of("unit", None)?,
            verb: text_of("verb", Some("chose"))?,
            reward_meaning: text_of("reward_meaning", Some("The reward is what the choice paid."))?,
            pool: names,
        };
        if let Some((a, b)) = nested_pair(&scenario.pool) {
            return Err(format!(
                "{shown}: the name \"{a}\" appears inside \"{b}\" (ignoring case); names must not contain one \
                 another, or answers become ambiguous"
            ));
        }
        Ok(scenario)
    }

    /// Whether the arms are named by the environment's data (MovieLens) rather than a pool.
    pub fn names_from_data(&self) -> bool {
        self.pool.is_empty()
    }

    /// Checks that the scenario can name `arms` arms of `env`.
    pub fn check(&self, kind: &EnvKind, arms: usize) -> Result<(), String> {
        match kind {
            EnvKind::MovieLens(_) => Ok(()),
            _ if self.names_from_data() => Err(format!(
                "scenario \"{}\" takes its names from MovieLens data; use it on kind = \"movielens\"",
                self.name
            )),
            _ if self.pool.len() < arms => Err(format!(
                "scenario \"{}\" has {} names but the environment has {arms} arms; use a scenario with more names",
                self.name,
                self.pool.len()
            )),
            _ => Ok(()),
        }
    }

    /// The arm names of one run: on MovieLens the movies' titles, otherwise `run.arms` names
    /// sampled without replacement from a copy of the pool with the stream every agent on this
    /// environment and seed index shares.
    pub fn names_for(&self, run: &AgentRun<'_>) -> Result<Vec<String>, String> {
        if let Some(armada::env::ContextualInstance::MovieLens { world, .. }) = run.world {
            let mut names: Vec<String> = world.movies.iter().map(|&m| movie_name(&world.data.movies[m])).collect();
            disambiguate(&mut names);
            return Ok(names);
        }
        self.check(&run.env.kind, run.arms)?;
        let mut stream = run.shared_stream(&format!("names:{}", self.name));
        Ok(sample_names(&self.pool, run.arms, &mut stream))
    }
}

/// `k` names drawn without replacement from `pool` (a partial Fisher–Yates on a copy).
pub fn sample_names(pool: &[String], k: usize, stream: &mut Stream) -> Vec<String> {
    let mut idx: Vec<usize> = (0..pool.len()).collect();
    for i in 0..k.min(pool.len()) {
        let j = i + rng::index(stream, pool.len() - i);
        idx.swap(i, j);
    }
    idx[..k.min(pool.len())].iter().map(|&i| pool[i].clone()).collect()
}

/// A movie's name for prompts: its title, with the year in parentheses when the title lacks it.
fn movie_name(m: &armada::data::movielens::Movie) -> String {
    let title = m.title.trim();
    let title = if title.is_empty() { format!("movie {}", m.id) } else { title.to_string() };
    match m.year {
        Some(y) if !title.ends_with(')') => format!("{title} ({y})"),
        _ => title,
    }
}

/// Makes names unique by appending " #2", " #3", … to repeats.
fn disambiguate(names: &mut [String]) {
    for i in 1..names.len() {
        let repeats = names[..i].iter().filter(|n| **n == names[i]).count();
        if repeats > 0 {
            names[i] = format!("{} #{}", names[i], repeats + 1);
        }
    }
}

/// A pair of names where the first occurs inside the second, ignoring case.
pub fn nested_pair(names: &[String]) -> Option<(String, String)> {
    let lower: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
    for (i, a) in lower.iter().enumerate() {
        for (j, b) in lower.iter().enumerate() {
            if i != j && b.contains(a.as_str()) {
                return Some((names[i].clone(), names[j].clone()));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use armada::rng::Role;

    #[test]
    fn built_in_pools_are_large_and_free_of_nested_names() {
        for name in BUILT_IN.iter().filter(|n| **n != "movies") {
            let s = Scenario::built_in(name).unwrap();
            assert!(s.pool.len() >= 100, "{name} has {} names", s.pool.len());
            assert_eq!(nested_pair(&s.pool), None, "{name}");
        }
        assert!(Scenario::built_in("movies").unwrap().names_from_data());
        assert_eq!(Scenario::built_in("nope"), None);
    }

    #[test]
    fn sampling_is_seed_stable_and_leaves_the_pool_alone() {
        let s = Scenario::built_in("buttons").unwrap();
        let before = s.pool.clone();
        let draw = |seed| sample_names(&s.pool, 5, &mut rng::stream(seed, Role::Scenario, &["e"], 0));
        let a = draw(1);
        assert_eq!(a, draw(1));
        assert_ne!(a, draw(2));
        assert_eq!(s.pool, before);
        let mut unique = a.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 5);
        assert_eq!(
            sample_names(&s.pool, s.pool.len(), &mut rng::stream(3, Role::Scenario, &[], 0)).len(),
            s.pool.len()
        );
    }

    #[test]
    fn repeated_titles_become_distinct() {
        let mut names = vec!["Hamlet (1996)".to_string(), "Hamlet (1996)".to_string(), "Emma".to_string()];
        disambiguate(&mut names);
        assert_eq!(names, ["Hamlet (1996)", "Hamlet (1996) #2", "Emma"]);
    }

    #[test]
    fn user_scenarios_are_checked() {
        let dir = std::env::temp_dir().join(format!("armada-scenario-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("s.toml");
        std::fs::write(&file, "description = \"You pick a door.\"\nunit = \"door\"\nnames = [\"red\", \"green\"]\n")
            .unwrap();
        let s = Scenario::from_file(&file).unwrap();
        assert_eq!((s.unit.as_str(), s.verb.as_str(), s.pool.len()), ("door", "chose", 2));
        std::fs::write(&file, "description = \"x\"\nunit = \"door\"\nnames = [\"red\", \"dark red\"]\n").unwrap();
        assert!(Scenario::from_file(&file).unwrap_err().contains("\"red\" appears inside \"dark red\""));
        std::fs::write(&file, "description = \"x\"\nunit = \"door\"\nnames = [\"a\", 3]\n").unwrap();
        assert!(Scenario::from_file(&file).unwrap_err().contains("names[1]"));
        std::fs::write(&file, "description = \"x\"\nnames = [\"a\"]\ncolour = 1\n").unwrap();
        assert!(Scenario::from_file(&file).unwrap_err().contains("unknown key `colour`"));
        assert!(Scenario::from_file(&dir.join("missing.toml")).unwrap_err().contains("cannot read"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
