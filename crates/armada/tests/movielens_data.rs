//! The real MovieLens 100K as fetched by `scripts/fetch-movielens-100k.sh` (RecBole's atomic
//! copy in `data/ml-100k`): it loads, and its size, content fingerprint and most-rated movies
//! are exactly what they were when this test was written.
//!
//! The data is not committed (MovieLens may not be redistributed), so a missing directory is a
//! failure with instructions, never a silent skip.

use armada::data::{MovieLens, MovieLensFormat};
use std::path::PathBuf;

fn load() -> MovieLens {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/ml-100k"));
    if !dir.is_dir() {
        panic!(
            "MovieLens 100K is missing at {}: run `scripts/fetch-movielens-100k.sh` from the repository root \
             (it downloads the recbole wheel from PyPI and extracts the data; \
             `scripts/install-test-deps.sh` runs it too)",
            dir.display()
        );
    }
    MovieLens::load(&dir)
        .unwrap_or_else(|e| panic!("{e}\n(re-run `scripts/fetch-movielens-100k.sh` to repair the data)"))
}

#[test]
fn movielens_100k_is_the_expected_dataset() {
    let ml = load();
    assert_eq!(ml.format, MovieLensFormat::Atomic);
    assert_eq!(ml.users.len(), 943);
    assert_eq!(ml.movies.len(), 1682);
    assert_eq!(ml.ratings.len(), 100_000);
    assert!(ml.ratings.iter().all(|r| (1.0..=5.0).contains(&r.rating) && r.rating.fract() == 0.0));
    // Measured on the files pinned by scripts/fetch-movielens-100k.sh (recbole 1.2.1); guards
    // against silent data drift (a changed file, a parser that drops or reorders lines).
    assert_eq!(ml.fingerprint(), 0xf590_23fe_43fc_5b6f);
}

#[test]
fn movielens_100k_most_rated_movies() {
    let ml = load();
    let counts = ml.rating_counts();
    assert!(counts.iter().all(|&c| c > 0), "every ml-100k movie has at least one rating");
    let top = ml.most_rated(10).unwrap();
    let ids: Vec<&str> = top.iter().map(|&i| ml.movies[i].id.as_str()).collect();
    // Measured; Star Wars (1977) leads with 583 ratings, as in the ml-100k literature.
    assert_eq!(ids, ["50", "258", "100", "181", "294", "286", "288", "1", "300", "121"]);
    let top_counts: Vec<u32> = top.iter().map(|&i| counts[i]).collect();
    assert_eq!(top_counts, [583, 509, 508, 507, 485, 481, 478, 452, 431, 429]);
    let star_wars = &ml.movies[top[0]];
    assert_eq!((star_wars.title.as_str(), star_wars.year), ("Star Wars", Some(1977)));
}

#[test]
fn movielens_100k_metadata_quirks() {
    let ml = load();
    assert_eq!(ml.users[0].occupation.as_deref(), Some("technician"));
    assert_eq!(ml.movies[542].title, "Misérables, Les", "UTF-8 titles");
    // RecBole's file has `unkonwn` (sic) as movie 267's release_year and `V` as movie 1412's:
    // the first has no year, the second's comes from its title.
    assert_eq!(ml.movies[266].year, None);
    assert_eq!(ml.movies[1411].year, Some(1995));
    assert_eq!(ml.movies.iter().filter(|m| m.year.is_none()).count(), 1);
}
