//! Datasets read from disk: logged interactions that environments can be built from (for
//! example, the most-rated MovieLens movies as the arms of a bandit).
//!
//! This module parses files that the user already has; it never downloads anything (the scripts
//! in `scripts/` do that, where the licence allows it) and never writes. Every malformed file or
//! line becomes a [`DataError`] naming the file, the line and, where there is one, the fix.

pub mod movielens;

pub use movielens::{Movie, MovieLens, MovieLensFormat, Rating, User};

use std::fmt;
use std::path::PathBuf;

/// Why a dataset could not be loaded: the file, the 1-based line (when one line is to blame)
/// and what was wrong, including how to fix it where that is known.
#[derive(Debug, Clone, PartialEq)]
pub struct DataError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl DataError {
    /// An error about a whole file (or directory).
    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> DataError {
        DataError { path: path.into(), line: None, message: message.into() }
    }

    /// An error about one line of a file (`line` is 1-based).
    pub fn line(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> DataError {
        DataError { path: path.into(), line: Some(line), message: message.into() }
    }
}

impl fmt::Display for DataError {
    /// `path:line: message`, or `path: message` when no single line is to blame.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path.display(), line, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for DataError {}
