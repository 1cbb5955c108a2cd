//! MovieLens: users, movies and ratings read from a directory in any of the three layouts in
//! which the data circulates, detected from the files present:
//!
//! - GroupLens ml-100k: `u.data`, `u.item`, `u.user` (latin-1 text, `|`- and tab-separated);
//! - GroupLens ml-1m: `ratings.dat`, `movies.dat`, `users.dat` (latin-1 text, `::`-separated);
//! - RecBole's atomic files: `<name>.inter` with optional `<name>.item` and `<name>.user`
//!   (UTF-8, tab-separated, with a typed header such as `user_id:token`).
//!
//! Whatever the layout, users and movies keep file order and a rating refers to them by index,
//! so the same ratings read from two layouts have the same [`MovieLens::fingerprint`] (titles may
//! differ: RecBole removes the year from them).
//!
//! Not for downloading: MovieLens may not be redistributed. `scripts/fetch-movielens-100k.sh`
//! fetches ml-100k (RecBole's atomic copy) into `data/ml-100k`; ml-1m must be downloaded by the
//! user from grouplens.org. Turning ratings into arms and rewards is the environments' job.

use super::DataError;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::fs;
use std::io::ErrorKind;
use std::path::Path;

/// Which on-disk layout a MovieLens directory uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MovieLensFormat {
    /// GroupLens ml-100k: `u.data`, `u.item`, `u.user`.
    GroupLens100k,
    /// GroupLens ml-1m: `ratings.dat`, `movies.dat`, `users.dat`.
    GroupLens1m,
    /// RecBole atomic files: `<name>.inter`, and optionally `<name>.item` and `<name>.user`.
    Atomic,
}

impl fmt::Display for MovieLensFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MovieLensFormat::GroupLens100k => "grouplens-100k",
            MovieLensFormat::GroupLens1m => "grouplens-1m",
            MovieLensFormat::Atomic => "atomic",
        })
    }
}

/// A user. Fields the file does not give (or leaves empty) are `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    /// Age in years; in ml-1m, the code of the age group, which is its lower bound
    /// (1 = under 18, 18 = 18–24, 25, 35, 45, 50, 56 = 56 and over).
    pub age: Option<u32>,
    pub gender: Option<String>,
    /// Occupation name; ml-1m's numeric codes are mapped to their documented names.
    pub occupation: Option<String>,
    pub zip: Option<String>,
}

/// A movie.
#[derive(Debug, Clone, PartialEq)]
pub struct Movie {
    pub id: String,
    /// The title as written in the file: GroupLens titles end with the year, e.g.
    /// `Toy Story (1995)`; RecBole's have it removed (`Toy Story`). Empty if the file has none.
    pub title: String,
    /// Release year: RecBole's `release_year`, else the title's trailing `(YYYY)`, else (ml-100k)
    /// the release date's year.
    pub year: Option<u32>,
    pub genres: Vec<String>,
}

/// One rating. `user` and `movie` index [`MovieLens::users`] and [`MovieLens::movies`].
#[derive(Debug, Clone, PartialEq)]
pub struct Rating {
    pub user: u32,
    pub movie: u32,
    pub rating: f64,
    /// Seconds since the Unix epoch.
    pub timestamp: i64,
}

/// A MovieLens dataset: users and movies in file order, ratings in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct MovieLens {
    pub format: MovieLensFormat,
    pub users: Vec<User>,
    pub movies: Vec<Movie>,
    pub ratings: Vec<Rating>,
}

/// The ml-100k genre flags of `u.item`, in column order (from the ml-100k README and `u.genre`).
const GENRES_100K: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

/// The ml-1m occupation codes 0–20 of `users.dat`, as documented in the ml-1m README.
const OCCUPATIONS_1M: [&str; 21] = [
    "other",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
];

const HINT_DOWNLOAD: &str = "for MovieLens 100K run `scripts/fetch-movielens-100k.sh` (it writes data/ml-100k); \
     MovieLens 1M may not be redistributed, so download ml-1m.zip yourself from \
     https://grouplens.org/datasets/movielens/1m/ and unzip it (ratings.dat, movies.dat, users.dat)";
const HINT_100K: &str = "a GroupLens ml-100k directory holds u.data, u.item and u.user: unzip ml-100k.zip from \
     https://grouplens.org/datasets/movielens/100k/ again, or run `scripts/fetch-movielens-100k.sh` \
     for RecBole's copy in data/ml-100k";
const HINT_1M: &str = "a GroupLens ml-1m directory holds ratings.dat, movies.dat and users.dat: MovieLens 1M may not \
     be redistributed, so download ml-1m.zip yourself from https://grouplens.org/datasets/movielens/1m/ \
     and unzip it again";

impl MovieLens {
    /// Detects the format from the files present and loads it. Errors name the file, the line, and the fix
    /// (e.g. for a missing directory: where ml-100k and ml-1m come from).
    ///
    /// Detection: `u.data` means ml-100k, `ratings.dat` ml-1m, a single `<name>.inter` the atomic
    /// layout; a directory holding more than one of these is refused as ambiguous. Blank lines are
    /// skipped and `\r\n` line ends accepted. A rating must name a listed user and movie (in the
    /// atomic layout without `.user`/`.item`, users/movies are instead created from the ids in
    /// `.inter`, in order of first appearance, with empty metadata) and be a finite number.
    pub fn load(dir: &Path) -> Result<MovieLens, DataError> {
        match detect(dir)? {
            Layout::GroupLens100k => load_100k(dir),
            Layout::GroupLens1m => load_1m(dir),
            Layout::Atomic(name) => load_atomic(dir, &name),
        }
    }

    /// Ratings per movie index.
    pub fn rating_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.movies.len()];
        for r in &self.ratings {
            if let Some(c) = counts.get_mut(r.movie as usize) {
                *c = c.saturating_add(1);
            }
        }
        counts
    }

    /// The k most-rated movies (indices), most-rated first; ties broken by movie id (numeric order when both ids
    /// parse as integers, else string order). Error if k > number of movies with at least one rating.
    ///
    /// So that ties always resolve the same way, ids made only of ASCII digits (compared as
    /// numbers of any length) come before all other ids (compared as strings).
    pub fn most_rated(&self, k: usize) -> Result<Vec<usize>, String> {
        let counts = self.rating_counts();
        let mut rated: Vec<usize> = (0..counts.len()).filter(|&i| counts[i] > 0).collect();
        if k > rated.len() {
            return Err(format!(
                "asked for the {k} most-rated movies, but only {} of {} movies have at least one rating",
                rated.len(),
                counts.len()
            ));
        }
        rated.sort_by(|&a, &b| {
            counts[b].cmp(&counts[a]).then_with(|| id_order(&self.movies[a].id, &self.movies[b].id)).then(a.cmp(&b))
        });
        rated.truncate(k);
        Ok(rated)
    }

    /// A 64-bit fingerprint of the content: FNV-1a (64-bit) over a canonical rendering of the
    /// user ids, the movie ids and every (user id, movie id, rating, timestamp) in file order.
    ///
    /// It depends on nothing else — not the directory, the layout the data was read from, the
    /// titles or other metadata, the platform or the Rust version — so it names a dataset's
    /// content. The rendering (UTF-8, `\n` after each line) is
    ///
    /// ```text
    /// movielens-fingerprint-v1
    /// users <count>
    /// <user id>                       one line per user, file order
    /// movies <count>
    /// <movie id>                      one line per movie, file order
    /// ratings <count>
    /// <user id>\t<movie id>\t<rating>\t<timestamp>      one line per rating, file order
    /// ```
    ///
    /// where `<rating>` is the shortest decimal that reads back as the same `f64` (`4`, `3.5`).
    pub fn fingerprint(&self) -> u64 {
        let mut h = Fnv1a::new();
        let mut line = String::new();
        h.write(b"movielens-fingerprint-v1\n");
        let _ = writeln!(line, "users {}", self.users.len());
        h.write(line.as_bytes());
        for u in &self.users {
            h.write(u.id.as_bytes());
            h.write(b"\n");
        }
        line.clear();
        let _ = writeln!(line, "movies {}", self.movies.len());
        h.write(line.as_bytes());
        for m in &self.movies {
            h.write(m.id.as_bytes());
            h.write(b"\n");
        }
        line.clear();
        let _ = writeln!(line, "ratings {}", self.ratings.len());
        h.write(line.as_bytes());
        for r in &self.ratings {
            let user = self.users.get(r.user as usize).map_or("", |u| u.id.as_str());
            let movie = self.movies.get(r.movie as usize).map_or("", |m| m.id.as_str());
            line.clear();
            let _ = writeln!(line, "{user}\t{movie}\t{}\t{}", r.rating, r.timestamp);
            h.write(line.as_bytes());
        }
        h.finish()
    }
}

/// FNV-1a, 64-bit (Fowler, Noll, Vo; offset basis and prime from the FNV reference).
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The tie-break order of [`MovieLens::most_rated`]: all-digit ids by numeric value (any
/// length), then every other id by string order. A total order, so sorting is well defined.
fn id_order(a: &str, b: &str) -> Ordering {
    fn digits(id: &str) -> Option<&str> {
        (!id.is_empty() && id.bytes().all(|c| c.is_ascii_digit())).then(|| id.trim_start_matches('0'))
    }
    match (digits(a), digits(b)) {
        (Some(x), Some(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)).then_with(|| a.cmp(b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

// ---------------------------------------------------------------------------------------------
// Detection and reading

enum Layout {
    GroupLens100k,
    GroupLens1m,
    /// The atomic files' common name (`ml-100k` for `ml-100k.inter`).
    Atomic(String),
}

fn detect(dir: &Path) -> Result<Layout, DataError> {
    if !dir.is_dir() {
        let what = if dir.exists() { "not a directory" } else { "no such directory" };
        return Err(DataError::file(dir, format!("{what}; {HINT_DOWNLOAD}")));
    }
    let entries = fs::read_dir(dir).map_err(|e| DataError::file(dir, format!("cannot list the directory: {e}")))?;
    let mut atomic = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DataError::file(dir, format!("cannot list the directory: {e}")))?;
        let file_name = entry.file_name();
        if let Some(stem) = file_name.to_str().and_then(|n| n.strip_suffix(".inter"))
            && !stem.is_empty()
            && entry.path().is_file()
        {
            atomic.push(stem.to_string());
        }
    }
    atomic.sort();
    let has_100k = dir.join("u.data").is_file();
    let has_1m = dir.join("ratings.dat").is_file();
    match (has_100k, has_1m, atomic.len()) {
        (true, false, 0) => Ok(Layout::GroupLens100k),
        (false, true, 0) => Ok(Layout::GroupLens1m),
        (false, false, 1) => Ok(Layout::Atomic(atomic.remove(0))),
        (false, false, 0) => Err(DataError::file(
            dir,
            format!(
                "no MovieLens files: expected u.data (GroupLens ml-100k), ratings.dat (GroupLens ml-1m) \
                 or <name>.inter (RecBole atomic); {HINT_DOWNLOAD}"
            ),
        )),
        _ => {
            let mut found = Vec::new();
            if has_100k {
                found.push("u.data".to_string());
            }
            if has_1m {
                found.push("ratings.dat".to_string());
            }
            found.extend(atomic.iter().map(|n| format!("{n}.inter")));
            Err(DataError::file(
                dir,
                format!("holds more than one dataset ({}); keep one dataset per directory", found.join(", ")),
            ))
        }
    }
}

/// Reads a file that must exist; `hint` says how to get it.
fn read_required(path: &Path, hint: &str) -> Result<Vec<u8>, DataError> {
    match fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(DataError::file(path, format!("missing; {hint}"))),
        Err(e) => Err(DataError::file(path, format!("cannot read: {e}"))),
    }
}

/// Reads a file that may be absent (`Ok(None)`).
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, DataError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DataError::file(path, format!("cannot read: {e}"))),
    }
}

/// The non-blank lines of a file with their 1-based numbers, without `\n` or `\r\n`.
fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.strip_suffix(b"\r").unwrap_or(line)))
        .filter(|(_, line)| !line.is_empty())
}

/// Latin-1 (ISO 8859-1) maps each byte to the code point of the same value.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn utf8<'a>(path: &Path, line: usize, bytes: &'a [u8]) -> Result<&'a str, DataError> {
    std::str::from_utf8(bytes).map_err(|e| {
        DataError::line(
            path,
            line,
            format!("not valid UTF-8 at byte {} of the line (atomic files are UTF-8)", e.valid_up_to() + 1),
        )
    })
}

/// One line split into fields, with its place for error messages.
struct Fields<'a> {
    path: &'a Path,
    line: usize,
    fields: Vec<&'a str>,
}

impl<'a> Fields<'a> {
    /// Splits `text` on `sep`, requiring exactly `layout.len()` fields (named in the error).
    fn split(path: &'a Path, line: usize, text: &'a str, sep: &str, layout: &[&str]) -> Result<Self, DataError> {
        let fields: Vec<&str> = text.split(sep).collect();
        if fields.len() != layout.len() {
            let sep_name = if sep == "\t" { "tab" } else { sep };
            return Err(DataError::line(
                path,
                line,
                format!(
                    "expected {} {sep_name}-separated fields ({}), found {}",
                    layout.len(),
                    layout.join(", "),
                    fields.len()
                ),
            ));
        }
        Ok(Fields { path, line, fields })
    }

    fn err(&self, message: impl Into<String>) -> DataError {
        DataError::line(self.path, self.line, message)
    }

    fn get(&self, i: usize) -> &'a str {
        self.fields.get(i).copied().unwrap_or("")
    }

    /// A non-empty id (surrounding whitespace removed).
    fn id(&self, i: usize, what: &str) -> Result<&'a str, DataError> {
        let id = self.get(i).trim();
        if id.is_empty() {
            return Err(self.err(format!("empty {what}")));
        }
        Ok(id)
    }

    /// An id that must be a whole number, as GroupLens ids are.
    fn numeric_id(&self, i: usize, what: &str) -> Result<&'a str, DataError> {
        let id = self.id(i, what)?;
        if !id.bytes().all(|c| c.is_ascii_digit()) {
            return Err(self.err(format!("{what} `{id}` is not a whole number")));
        }
        Ok(id)
    }

    fn u32(&self, i: usize, what: &str) -> Result<u32, DataError> {
        let s = self.get(i).trim();
        s.parse().map_err(|_| self.err(format!("{what} `{s}` is not a whole number")))
    }

    /// `None` for an empty field, else the whole number.
    fn optional_u32(&self, i: usize, what: &str) -> Result<Option<u32>, DataError> {
        if self.get(i).trim().is_empty() { Ok(None) } else { self.u32(i, what).map(Some) }
    }

    fn rating(&self, i: usize) -> Result<f64, DataError> {
        let s = self.get(i).trim();
        match s.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(x),
            _ => Err(self.err(format!("rating `{s}` is not a finite number"))),
        }
    }

    /// Integer seconds; with `allow_float`, also a float with no fractional part (`881250949.0`),
    /// since RecBole types timestamps as `float`.
    fn timestamp(&self, i: usize, allow_float: bool) -> Result<i64, DataError> {
        let s = self.get(i).trim();
        if let Ok(t) = s.parse::<i64>() {
            return Ok(t);
        }
        if allow_float
            && let Ok(x) = s.parse::<f64>()
            && x.is_finite()
            && x.fract() == 0.0
            && x.abs() < 9.0e15
        {
            return Ok(x as i64);
        }
        Err(self.err(format!("timestamp `{s}` is not a whole number of seconds")))
    }

    /// `None` for an empty field, else the trimmed text.
    fn text(&self, i: usize) -> Option<String> {
        let s = self.get(i).trim();
        (!s.is_empty()).then(|| s.to_string())
    }
}

/// Ids in file order and their indices.
#[derive(Default)]
struct Index(HashMap<String, u32>);

impl Index {
    /// Adds the next id; a repeated id is an error on that line.
    fn add(&mut self, id: &str, what: &str, f: &Fields<'_>) -> Result<u32, DataError> {
        let next = u32::try_from(self.0.len()).map_err(|_| f.err(format!("more than {} {what}s", u32::MAX)))?;
        if self.0.insert(id.to_string(), next).is_some() {
            return Err(f.err(format!("{what} `{id}` appears twice")));
        }
        Ok(next)
    }

    fn get(&self, id: &str) -> Option<u32> {
        self.0.get(id).copied()
    }
}

/// Looks an id up in a listed set of users or movies; an unknown id is an error on that line.
fn lookup(index: &Index, id: &str, what: &str, listed_in: &Path, f: &Fields<'_>) -> Result<u32, DataError> {
    index.get(id).ok_or_else(|| {
        let file =
            listed_in.file_name().map_or_else(|| listed_in.display().to_string(), |n| n.to_string_lossy().into());
        f.err(format!("unknown {what} `{id}`: not listed in {file}"))
    })
}

/// Year from a title's trailing `(YYYY)`.
fn title_year(title: &str) -> Option<u32> {
    let (_, year) = title.trim_end().strip_suffix(')')?.rsplit_once('(')?;
    if year.len() == 4 && year.bytes().all(|c| c.is_ascii_digit()) { year.parse().ok() } else { None }
}

// ---------------------------------------------------------------------------------------------
// GroupLens ml-100k

fn load_100k(dir: &Path) -> Result<MovieLens, DataError> {
    let (user_path, item_path, data_path) = (dir.join("u.user"), dir.join("u.item"), dir.join("u.data"));

    let mut users = Vec::new();
    let mut user_index = Index::default();
    let bytes = read_required(&user_path, HINT_100K)?;
    for (n, raw) in lines(&bytes) {
        let text = latin1(raw);
        let f = Fields::split(&user_path, n, &text, "|", &["user id", "age", "gender", "occupation", "zip code"])?;
        let id = f.numeric_id(0, "user id")?;
        user_index.add(id, "user", &f)?;
        users.push(User {
            id: id.to_string(),
            age: f.optional_u32(1, "age")?,
            gender: f.text(2),
            occupation: f.text(3),
            zip: f.text(4),
        });
    }

    let mut movies = Vec::new();
    let mut movie_index = Index::default();
    let mut layout = vec!["movie id", "title", "release date", "video release date", "IMDb URL"];
    layout.extend(GENRES_100K);
    let bytes = read_required(&item_path, HINT_100K)?;
    for (n, raw) in lines(&bytes) {
        let text = latin1(raw);
        let f = Fields::split(&item_path, n, &text, "|", &layout)?;
        let id = f.numeric_id(0, "movie id")?;
        movie_index.add(id, "movie", &f)?;
        let title = f.get(1);
        let date_year = release_date_year(&f, 2)?;
        let mut genres = Vec::new();
        for (k, name) in GENRES_100K.iter().enumerate() {
            match f.get(5 + k).trim() {
                "1" => genres.push(name.to_string()),
                "0" => {}
                flag => return Err(f.err(format!("genre flag `{name}` is `{flag}`, expected 0 or 1"))),
            }
        }
        movies.push(Movie {
            id: id.to_string(),
            title: title.to_string(),
            year: title_year(title).or(date_year),
            genres,
        });
    }

    let mut ratings = Vec::new();
    let bytes = read_required(&data_path, HINT_100K)?;
    for (n, raw) in lines(&bytes) {
        let text = latin1(raw);
        let f = Fields::split(&data_path, n, &text, "\t", &["user id", "movie id", "rating", "timestamp"])?;
        let user = lookup(&user_index, f.numeric_id(0, "user id")?, "user", &user_path, &f)?;
        let movie = lookup(&movie_index, f.numeric_id(1, "movie id")?, "movie", &item_path, &f)?;
        ratings.push(Rating { user, movie, rating: f.rating(2)?, timestamp: f.timestamp(3, false)? });
    }

    Ok(MovieLens { format: MovieLensFormat::GroupLens100k, users, movies, ratings })
}

/// The year of an ml-100k release date (`01-Jan-1995`); `None` when the field is empty.
fn release_date_year(f: &Fields<'_>, i: usize) -> Result<Option<u32>, DataError> {
    let date = f.get(i).trim();
    if date.is_empty() {
        return Ok(None);
    }
    match date.rsplit_once('-') {
        Some((_, year)) if year.len() == 4 && year.bytes().all(|c| c.is_ascii_digit()) => Ok(year.parse().ok()),
        _ => Err(f.err(format!("release date `{date}` is not of the form DD-Mon-YYYY"))),
    }
}

// ---------------------------------------------------------------------------------------------
// GroupLens ml-1m

fn load_1m(dir: &Path) -> Result<MovieLens, DataError> {
    let (user_path, movie_path, rating_path) = (dir.join("users.dat"), dir.join("movies.dat"), dir.join("ratings.dat"));

    let mut users = Vec::new();
    let mut user_index = Index::default();
    let bytes = read_required(&user_path, HINT_1M)?;
    for (n, raw) in lines(&bytes) {
        let text = latin1(raw);
        let f = Fields::split(&user_path, n, &text, "::", &["UserID", "Gender", "Age", "Occupation", "Zip-code"])?;
        let id = f.numeric_id(0, "user id")?;
        user_index.add(id, "user", &f)?;
        let code = f.u32(3, "occupation code")?;
        let occupation = OCCUPATIONS_1M
            .get(code as usize)
            .ok_or_else(|| f.err(format!("occupation code `{code}` is not one of the documented codes 0–20")))?;
        users.push(User {
            id: id.to_string(),
            gender: f.text(1),
            age: Some(f.u32(2, "age")?),
            occupation: Some(occupation.to_string()),
            zip: f.text(4),
        });
    }

    let mut movies = Vec::new();
    let mut movie_index = Index::default();
    let bytes = read_required(&movie_path, HINT_1M)?;
    for (n, raw) in lines(&bytes) {
        let text = latin1(raw);
        // The title sits between the first and the last `::`, so a `::` inside it does no harm.
        let f = match text.split_once("::").and_then(|(id, rest)| rest.rsplit_once("::").map(|(t, g)| (id, t, g))) {
            Some((id, title, genres)) => Fields { path: &movie_path, line: n, fields: vec![id, title, genres] },
            None => {
                return Err(DataError::line(&movie_path, n, "expected 3 ::-separated fields (MovieID, Title, Genres)"));
            }
        };
        let id = f.numeric_id(0, "movie id")?;
        movie_index.add(id, "movie", &f)?;
        let title = f.get(1);
        let genres = match f.get(2).trim() {
            "(no genres listed)" => Vec::new(),
            list => list.split('|').map(str::trim).filter(|g| !g.is_empty()).map(String::from).collect(),
        };
        movies.push(Movie { id: id.to_string(), title: title.to_string(), year: title_year(title), genres });
    }

    let mut ratings = Vec::new();
    let bytes = read_required(&rating_path, HINT_1M)?;
    for (n, raw) in lines(&bytes) {
        let text = latin1(raw);
        let f = Fields::split(&rating_path, n, &text, "::", &["UserID", "MovieID", "Rating", "Timestamp"])?;
        let user = lookup(&user_index, f.numeric_id(0, "user id")?, "user", &user_path, &f)?;
        let movie = lookup(&movie_index, f.numeric_id(1, "movie id")?, "movie", &movie_path, &f)?;
        ratings.push(Rating { user, movie, rating: f.rating(2)?, timestamp: f.timestamp(3, false)? });
    }

    Ok(MovieLens { format: MovieLensFormat::GroupLens1m, users, movies, ratings })
}

// ---------------------------------------------------------------------------------------------
// RecBole atomic files

/// The column names of an atomic file's header (`name:type`, tab-separated).
struct Header {
    names: Vec<String>,
}

/// The field types RecBole's atomic files declare.
const ATOMIC_TYPES: [&str; 4] = ["token", "token_seq", "float", "float_seq"];

impl Header {
    fn parse(path: &Path, line: usize, text: &str) -> Result<Header, DataError> {
        let mut names: Vec<String> = Vec::new();
        for column in text.split('\t') {
            let Some((name, kind)) = column.trim().split_once(':') else {
                return Err(DataError::line(
                    path,
                    line,
                    format!("header column `{column}` is not `name:type` (e.g. `user_id:token`)"),
                ));
            };
            if !ATOMIC_TYPES.contains(&kind) {
                return Err(DataError::line(
                    path,
                    line,
                    format!("header column `{column}` has type `{kind}`; expected one of {}", ATOMIC_TYPES.join(", ")),
                ));
            }
            if names.iter().any(|n| n == name) {
                return Err(DataError::line(path, line, format!("header names column `{name}` twice")));
            }
            names.push(name.to_string());
        }
        Ok(Header { names })
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    fn require(&self, path: &Path, line: usize, name: &str) -> Result<usize, DataError> {
        self.find(name).ok_or_else(|| {
            DataError::line(path, line, format!("header has no `{name}` column (it has: {})", self.names.join(", ")))
        })
    }
}

/// An atomic file's header and data lines (text, UTF-8 checked).
struct AtomicFile<'a> {
    header: Header,
    header_line: usize,
    rows: Vec<(usize, &'a str)>,
}

fn parse_atomic<'a>(path: &Path, bytes: &'a [u8]) -> Result<AtomicFile<'a>, DataError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut it = lines(bytes);
    let Some((header_line, raw)) = it.next() else {
        return Err(DataError::file(
            path,
            "empty; expected a header line such as `user_id:token\titem_id:token\trating:float\ttimestamp:float`",
        ));
    };
    let header = Header::parse(path, header_line, utf8(path, header_line, raw)?)?;
    let rows = it.map(|(n, raw)| utf8(path, n, raw).map(|text| (n, text))).collect::<Result<_, _>>()?;
    Ok(AtomicFile { header, header_line, rows })
}

impl AtomicFile<'_> {
    /// The column names, for [`Fields::split`].
    fn layout(&self) -> Vec<&str> {
        self.header.names.iter().map(String::as_str).collect()
    }
}

fn load_atomic(dir: &Path, name: &str) -> Result<MovieLens, DataError> {
    let inter_path = dir.join(format!("{name}.inter"));
    let item_path = dir.join(format!("{name}.item"));
    let user_path = dir.join(format!("{name}.user"));

    let mut users = Vec::new();
    let mut user_index = Index::default();
    let user_bytes = read_optional(&user_path)?;
    if let Some(bytes) = &user_bytes {
        let file = parse_atomic(&user_path, bytes)?;
        let h = &file.header;
        let id_col = h.require(&user_path, file.header_line, "user_id")?;
        let (age, gender, occupation, zip) =
            (h.find("age"), h.find("gender"), h.find("occupation"), h.find("zip_code"));
        let layout = file.layout();
        for &(n, text) in &file.rows {
            let f = Fields::split(&user_path, n, text, "\t", &layout)?;
            let id = f.id(id_col, "user_id")?;
            user_index.add(id, "user", &f)?;
            users.push(User {
                id: id.to_string(),
                age: match age {
                    Some(i) => f.optional_u32(i, "age")?,
                    None => None,
                },
                gender: gender.and_then(|i| f.text(i)),
                occupation: occupation.and_then(|i| f.text(i)),
                zip: zip.and_then(|i| f.text(i)),
            });
        }
    }

    let mut movies = Vec::new();
    let mut movie_index = Index::default();
    let item_bytes = read_optional(&item_path)?;
    if let Some(bytes) = &item_bytes {
        let file = parse_atomic(&item_path, bytes)?;
        let h = &file.header;
        let id_col = h.require(&item_path, file.header_line, "item_id")?;
        let title_col = h.find("movie_title");
        let year_col = h.find("release_year");
        // ml-100k calls the genre column `class`, ml-1m and later `genre`.
        let genre_col = h.find("class").or_else(|| h.find("genre"));
        let layout = file.layout();
        for &(n, text) in &file.rows {
            let f = Fields::split(&item_path, n, text, "\t", &layout)?;
            let id = f.id(id_col, "item_id")?;
            movie_index.add(id, "movie", &f)?;
            let title = title_col.map_or("", |i| f.get(i));
            // A release_year that is not a number (ml-100k has `unkonwn` and `V`) means unknown.
            let year = year_col.and_then(|i| f.get(i).trim().parse::<u32>().ok()).or_else(|| title_year(title));
            let genres = genre_col.map_or_else(Vec::new, |i| f.get(i).split_whitespace().map(String::from).collect());
            movies.push(Movie { id: id.to_string(), title: title.to_string(), year, genres });
        }
    }

    let mut ratings = Vec::new();
    let bytes =
        read_required(&inter_path, "the atomic layout needs <name>.inter (with optional <name>.item and <name>.user)")?;
    let file = parse_atomic(&inter_path, &bytes)?;
    let h = &file.header;
    let user_col = h.require(&inter_path, file.header_line, "user_id")?;
    let item_col = h.require(&inter_path, file.header_line, "item_id")?;
    let rating_col = h.require(&inter_path, file.header_line, "rating")?;
    let time_col = h.require(&inter_path, file.header_line, "timestamp")?;
    let layout = file.layout();
    for &(n, text) in &file.rows {
        let f = Fields::split(&inter_path, n, text, "\t", &layout)?;
        let user_id = f.id(user_col, "user_id")?;
        let user = match user_index.get(user_id) {
            Some(i) => i,
            None if user_bytes.is_some() => lookup(&user_index, user_id, "user", &user_path, &f)?,
            None => {
                users.push(User { id: user_id.to_string(), age: None, gender: None, occupation: None, zip: None });
                user_index.add(user_id, "user", &f)?
            }
        };
        let item_id = f.id(item_col, "item_id")?;
        let movie = match movie_index.get(item_id) {
            Some(i) => i,
            None if item_bytes.is_some() => lookup(&movie_index, item_id, "movie", &item_path, &f)?,
            None => {
                movies.push(Movie { id: item_id.to_string(), title: String::new(), year: None, genres: Vec::new() });
                movie_index.add(item_id, "movie", &f)?
            }
        };
        ratings.push(Rating { user, movie, rating: f.rating(rating_col)?, timestamp: f.timestamp(time_col, true)? });
    }

    Ok(MovieLens { format: MovieLensFormat::Atomic, users, movies, ratings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, AtomicOrdering::Relaxed);
            let dir = std::env::temp_dir().join(format!("armada-movielens-{}-{tag}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn write(&self, name: &str, bytes: &[u8]) -> &TempDir {
            fs::write(self.0.join(name), bytes).unwrap();
            self
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// 19 genre flags with the given (0-based) genres set.
    fn flags(set: &[usize]) -> String {
        (0..19).map(|k| if set.contains(&k) { "1" } else { "0" }).collect::<Vec<_>>().join("|")
    }

    /// A small ml-100k directory: 3 users, 4 movies (one never rated), 6 ratings.
    fn write_100k(dir: &TempDir) {
        dir.write("u.user", b"1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|32067\n");
        let mut item = Vec::new();
        item.extend_from_slice(format!("1|Toy Story (1995)|01-Jan-1995||http://x|{}\n", flags(&[3, 4, 5])).as_bytes());
        // Latin-1 0xE9 is é; no year in the title, so it comes from the release date.
        item.extend_from_slice(b"2|Mis\xe9rables, Les (V)|01-Jan-1996||http://x|");
        item.extend_from_slice(format!("{}\n", flags(&[8, 12])).as_bytes());
        item.extend_from_slice(format!("3|unknown||||{}\n", flags(&[0])).as_bytes());
        item.extend_from_slice(format!("4|Never Rated (1990)|01-Jan-1990||http://x|{}\n", flags(&[])).as_bytes());
        dir.write("u.item", &item);
        dir.write(
            "u.data",
            b"1\t1\t5\t881250949\n2\t1\t4\t881250950\n1\t2\t3\t881250951\n\
              3\t3\t1\t881250952\n3\t2\t2\t881250953\n2\t3\t4\t881250954\n",
        );
    }

    /// The same content as `write_100k`, as RecBole atomic files.
    fn write_atomic(dir: &TempDir) {
        dir.write(
            "small.user",
            b"user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n\
              1\t24\tM\ttechnician\t85711\n2\t53\tF\tother\t94043\n3\t23\tM\twriter\t32067\n",
        );
        dir.write(
            "small.item",
            "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n\
             1\tToy Story\t1995\tAnimation Children's Comedy\n\
             2\tMisérables, Les (V)\tV\tDrama Musical\n\
             3\tunkonwn\tunkonwn\tunknown\n\
             4\tNever Rated (1990)\t\t\n"
                .as_bytes(),
        );
        // Columns in a different order than usual: they are found by name.
        dir.write(
            "small.inter",
            b"timestamp:float\trating:float\titem_id:token\tuser_id:token\n\
              881250949\t5\t1\t1\n881250950.0\t4\t1\t2\n881250951\t3\t2\t1\n\
              881250952\t1\t3\t3\n881250953\t2\t2\t3\n881250954\t4\t3\t2\n",
        );
    }

    fn load_err(dir: &TempDir) -> DataError {
        MovieLens::load(dir.path()).expect_err("load should fail")
    }

    #[test]
    fn grouplens_100k_loads_users_movies_and_ratings() {
        let dir = TempDir::new("100k");
        write_100k(&dir);
        let ml = MovieLens::load(dir.path()).unwrap();
        assert_eq!(ml.format, MovieLensFormat::GroupLens100k);
        assert_eq!(ml.users.len(), 3);
        assert_eq!(
            ml.users[1],
            User {
                id: "2".into(),
                age: Some(53),
                gender: Some("F".into()),
                occupation: Some("other".into()),
                zip: Some("94043".into())
            }
        );
        let ids: Vec<&str> = ml.movies.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "3", "4"], "file order, never-rated movie kept");
        assert_eq!(ml.movies[0].title, "Toy Story (1995)");
        assert_eq!(ml.movies[0].year, Some(1995));
        assert_eq!(ml.movies[0].genres, ["Animation", "Children's", "Comedy"]);
        assert_eq!(ml.movies[1].title, "Misérables, Les (V)", "latin-1 decoded");
        assert_eq!(ml.movies[1].year, Some(1996), "year from the release date");
        assert_eq!(ml.movies[1].genres, ["Drama", "Musical"]);
        assert_eq!(ml.movies[2].year, None);
        assert_eq!(ml.movies[2].genres, ["unknown"]);
        assert!(ml.movies[3].genres.is_empty());
        assert_eq!(ml.ratings.len(), 6);
        assert_eq!(ml.ratings[2], Rating { user: 0, movie: 1, rating: 3.0, timestamp: 881_250_951 });
        assert_eq!(ml.rating_counts(), [2, 2, 2, 0]);
    }

    #[test]
    fn grouplens_1m_maps_occupation_codes_and_reads_latin1() {
        let dir = TempDir::new("1m");
        dir.write("users.dat", b"1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::20::55117\n4::M::45::0::02460\n");
        dir.write(
            "movies.dat",
            b"1::Toy Story (1995)::Animation|Children's|Comedy\n\
              2::Cit\xe9 des enfants perdus, La (1995)::Adventure|Sci-Fi\n",
        );
        dir.write("ratings.dat", b"1::1::5::978300760\r\n2::2::3::978302109\r\n4::1::4::978301968\r\n");
        let ml = MovieLens::load(dir.path()).unwrap();
        assert_eq!(ml.format, MovieLensFormat::GroupLens1m);
        let occupations: Vec<&str> = ml.users.iter().map(|u| u.occupation.as_deref().unwrap()).collect();
        assert_eq!(occupations, ["K-12 student", "self-employed", "writer", "other"]);
        assert_eq!(ml.users[1].age, Some(56));
        assert_eq!(ml.users[0].gender.as_deref(), Some("F"));
        assert_eq!(ml.users[3].zip.as_deref(), Some("02460"));
        assert_eq!(ml.movies[1].title, "Cité des enfants perdus, La (1995)");
        assert_eq!(ml.movies[1].year, Some(1995));
        assert_eq!(ml.movies[1].genres, ["Adventure", "Sci-Fi"]);
        assert_eq!(ml.ratings[2], Rating { user: 3, movie: 0, rating: 4.0, timestamp: 978_301_968 });
    }

    #[test]
    fn grouplens_1m_rejects_an_undocumented_occupation_code() {
        let dir = TempDir::new("1m-occ");
        dir.write("users.dat", b"1::F::1::10::48067\n2::M::56::21::70072\n");
        dir.write("movies.dat", b"1::Toy Story (1995)::Animation\n");
        dir.write("ratings.dat", b"1::1::5::978300760\n");
        let err = load_err(&dir);
        assert_eq!(err.path, dir.path().join("users.dat"));
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("occupation code `21`"), "{err}");
    }

    #[test]
    fn atomic_finds_columns_by_name_and_keeps_titles() {
        let dir = TempDir::new("atomic");
        write_atomic(&dir);
        let ml = MovieLens::load(dir.path()).unwrap();
        assert_eq!(ml.format, MovieLensFormat::Atomic);
        assert_eq!(ml.users[2].occupation.as_deref(), Some("writer"));
        assert_eq!(ml.users[0].age, Some(24));
        assert_eq!(ml.movies[0].title, "Toy Story");
        assert_eq!(ml.movies[0].year, Some(1995));
        assert_eq!(ml.movies[0].genres, ["Animation", "Children's", "Comedy"]);
        assert_eq!(ml.movies[1].title, "Misérables, Les (V)");
        assert_eq!(ml.movies[1].year, None, "`V` is not a year and the title has none");
        assert_eq!(ml.movies[2].year, None, "`unkonwn` is not a year");
        assert_eq!(ml.movies[3].year, Some(1990), "empty release_year: from the title");
        assert!(ml.movies[3].genres.is_empty());
        assert_eq!(ml.ratings[1], Rating { user: 1, movie: 0, rating: 4.0, timestamp: 881_250_950 });
        assert_eq!(ml.rating_counts(), [2, 2, 2, 0]);
    }

    #[test]
    fn atomic_without_item_and_user_files_creates_them_from_the_ratings() {
        let dir = TempDir::new("atomic-bare");
        dir.write(
            "x.inter",
            b"user_id:token\titem_id:token\trating:float\ttimestamp:float\n\
              u7\tm2\t4.5\t10\nu3\tm2\t1\t11\nu7\tm9\t2\t12\n",
        );
        let ml = MovieLens::load(dir.path()).unwrap();
        let users: Vec<&str> = ml.users.iter().map(|u| u.id.as_str()).collect();
        let movies: Vec<&str> = ml.movies.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(users, ["u7", "u3"], "order of first appearance");
        assert_eq!(movies, ["m2", "m9"]);
        assert_eq!(ml.users[0], User { id: "u7".into(), age: None, gender: None, occupation: None, zip: None });
        assert_eq!(ml.movies[1], Movie { id: "m9".into(), title: String::new(), year: None, genres: vec![] });
        assert_eq!(ml.ratings[0].rating, 4.5);
        assert_eq!(ml.ratings[2], Rating { user: 0, movie: 1, rating: 2.0, timestamp: 12 });
    }

    #[test]
    fn atomic_header_without_a_required_column_is_an_error_on_line_1() {
        let dir = TempDir::new("atomic-header");
        dir.write("x.inter", b"user_id:token\titem_id:token\ttimestamp:float\n1\t2\t3\n");
        let err = load_err(&dir);
        assert_eq!((err.path.clone(), err.line), (dir.path().join("x.inter"), Some(1)));
        assert!(err.message.contains("no `rating` column"), "{err}");

        dir.write("x.inter", b"user_id\titem_id:token\trating:float\ttimestamp:float\n");
        assert!(load_err(&dir).message.contains("not `name:type`"));
    }

    #[test]
    fn a_missing_directory_says_how_to_get_the_data() {
        let dir = TempDir::new("missing");
        let err = MovieLens::load(&dir.path().join("ml-1m")).unwrap_err();
        assert_eq!(err.line, None);
        assert!(err.message.contains("scripts/fetch-movielens-100k.sh"), "{err}");
        assert!(err.message.contains("grouplens.org") && err.message.contains("redistributed"), "{err}");
    }

    #[test]
    fn an_empty_or_ambiguous_directory_is_refused() {
        let dir = TempDir::new("empty");
        assert!(load_err(&dir).message.contains("no MovieLens files"));
        dir.write("u.data", b"").write("a.inter", b"");
        let err = load_err(&dir);
        assert!(err.message.contains("more than one dataset (u.data, a.inter)"), "{err}");
    }

    #[test]
    fn a_missing_file_is_named_with_the_fix() {
        let dir = TempDir::new("100k-missing");
        write_100k(&dir);
        fs::remove_file(dir.path().join("u.item")).unwrap();
        let err = load_err(&dir);
        assert_eq!(err.path, dir.path().join("u.item"));
        assert!(err.message.starts_with("missing;") && err.message.contains("grouplens.org"), "{err}");

        let dir = TempDir::new("1m-missing");
        dir.write("ratings.dat", b"1::1::5::978300760\n").write("movies.dat", b"1::Toy Story (1995)::Animation\n");
        let err = load_err(&dir);
        assert_eq!(err.path, dir.path().join("users.dat"));
        assert!(err.message.contains("may not be redistributed"), "{err}");
    }

    #[test]
    fn a_malformed_line_names_the_file_and_line() {
        let dir = TempDir::new("malformed");
        write_100k(&dir);
        dir.write("u.data", b"1\t1\t5\t881250949\n\n2\t1\t4\n");
        let err = load_err(&dir);
        let path = dir.path().join("u.data");
        assert_eq!((err.path.clone(), err.line), (path.clone(), Some(3)), "blank lines still count");
        assert_eq!(
            err.to_string(),
            format!(
                "{}:3: expected 4 tab-separated fields (user id, movie id, rating, timestamp), found 3",
                path.display()
            )
        );

        dir.write("u.data", b"1\t1\tfive\t881250949\n");
        assert!(load_err(&dir).message.contains("rating `five` is not a finite number"));
        dir.write("u.data", b"1\t1\tNaN\t881250949\n");
        assert!(load_err(&dir).message.contains("rating `NaN` is not a finite number"));
        dir.write("u.data", b"1\t1\tinf\t881250949\n");
        assert_eq!(load_err(&dir).line, Some(1));
        dir.write("u.data", b"1\t1\t4\t8812509.5\n");
        assert!(load_err(&dir).message.contains("timestamp"));

        let dir = TempDir::new("malformed-item");
        write_100k(&dir);
        dir.write(
            "u.item",
            format!("1|Toy Story (1995)|01-Jan-1995||x|{}\n", flags(&[]).replace("0|0|0", "0|2|0")).as_bytes(),
        );
        let err = load_err(&dir);
        assert_eq!((err.path.clone(), err.line), (dir.path().join("u.item"), Some(1)));
        assert!(err.message.contains("expected 0 or 1"), "{err}");

        let dir = TempDir::new("malformed-atomic");
        write_atomic(&dir);
        dir.write("small.user", b"user_id:token\tage:token\n1\t24\n2\n");
        let err = load_err(&dir);
        assert_eq!((err.path.clone(), err.line), (dir.path().join("small.user"), Some(3)));
        assert!(err.message.contains("expected 2 tab-separated fields (user_id, age), found 1"), "{err}");
    }

    #[test]
    fn a_rating_for_an_unknown_user_or_movie_names_the_line() {
        let dir = TempDir::new("unknown-user");
        write_100k(&dir);
        dir.write("u.data", b"1\t1\t5\t881250949\n9\t1\t4\t881250950\n");
        let err = load_err(&dir);
        assert_eq!((err.path.clone(), err.line), (dir.path().join("u.data"), Some(2)));
        assert_eq!(err.message, "unknown user `9`: not listed in u.user");

        let dir = TempDir::new("unknown-movie");
        write_atomic(&dir);
        dir.write("small.inter", b"user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t77\t3\t5\n");
        let err = load_err(&dir);
        assert_eq!(err.line, Some(2));
        assert_eq!(err.message, "unknown movie `77`: not listed in small.item");
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let dir = TempDir::new("dup");
        write_100k(&dir);
        dir.write("u.user", b"1|24|M|technician|85711\n1|53|F|other|94043\n");
        let err = load_err(&dir);
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("user `1` appears twice"), "{err}");
    }

    /// A dataset with the given movie ids and ratings per movie (one user).
    fn with_counts(movies: &[(&str, usize)]) -> MovieLens {
        let user = User { id: "1".into(), age: None, gender: None, occupation: None, zip: None };
        let mut ml = MovieLens { format: MovieLensFormat::Atomic, users: vec![user], movies: vec![], ratings: vec![] };
        for (m, &(id, count)) in movies.iter().enumerate() {
            ml.movies.push(Movie { id: id.into(), title: String::new(), year: None, genres: vec![] });
            for t in 0..count {
                ml.ratings.push(Rating { user: 0, movie: m as u32, rating: 3.0, timestamp: t as i64 });
            }
        }
        ml
    }

    #[test]
    fn most_rated_breaks_ties_by_id_numerically_then_as_strings() {
        let ml = with_counts(&[("10", 2), ("9", 2), ("b", 2), ("100", 3), ("a", 2), ("0009x", 2), ("2", 1), ("3", 0)]);
        assert_eq!(ml.rating_counts(), [2, 2, 2, 3, 2, 2, 1, 0]);
        // 100 has most; then the count-2 ties: 9 < 10 as numbers, then the other ids as strings.
        assert_eq!(ml.most_rated(7).unwrap(), [3, 1, 0, 5, 4, 2, 6]);
        assert_eq!(ml.most_rated(2).unwrap(), [3, 1]);
        assert_eq!(ml.most_rated(0).unwrap(), Vec::<usize>::new());
        let err = ml.most_rated(8).unwrap_err();
        assert!(err.contains("only 7 of 8 movies have at least one rating"), "{err}");
    }

    #[test]
    fn id_order_is_total_on_mixed_ids() {
        let mut ids = vec!["9", "10", "1a", "010", "0", "", "b", "18446744073709551616", "2"];
        ids.sort_by(|a, b| id_order(a, b));
        assert_eq!(ids, ["0", "2", "9", "010", "10", "18446744073709551616", "", "1a", "b"]);
    }

    #[test]
    fn fingerprint_is_content_not_layout_or_path() {
        let a = TempDir::new("fp-100k");
        write_100k(&a);
        let b = TempDir::new("fp-atomic");
        write_atomic(&b);
        let from_100k = MovieLens::load(a.path()).unwrap();
        let from_atomic = MovieLens::load(b.path()).unwrap();
        assert_eq!(from_100k.fingerprint(), from_atomic.fingerprint());

        let mut changed = from_100k.clone();
        changed.ratings[5].rating = 4.5;
        assert_ne!(changed.fingerprint(), from_100k.fingerprint());
        let mut swapped = from_100k.clone();
        swapped.ratings.swap(0, 1);
        assert_ne!(swapped.fingerprint(), from_100k.fingerprint(), "file order is part of the content");
    }

    #[test]
    fn fnv1a_matches_the_reference_values() {
        // Test vectors from the FNV reference code (fnv1a64 of "" and "a").
        assert_eq!(Fnv1a::new().finish(), 0xcbf2_9ce4_8422_2325);
        let mut h = Fnv1a::new();
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn data_error_display() {
        assert_eq!(DataError::line("a/u.data", 7, "bad").to_string(), "a/u.data:7: bad");
        assert_eq!(DataError::file("a/u.data", "missing").to_string(), "a/u.data: missing");
    }
}
