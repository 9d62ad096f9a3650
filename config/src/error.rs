//! Configuration errors that name the file, line, column and key.

use std::fmt;

/// A configuration that could not be read or is not valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the text came from (`<embedded default>` for the built-in one).
    pub file: String,
    /// 1-based line and column of the offending value, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The key, as a path: `container[1].erase_size`. Empty for whole-file errors.
    pub key: String,
    pub message: String,
}

impl ConfigError {
    /// An error at byte `offset` of `text`, with line and column computed from it.
    pub fn at(file: &str, text: &str, offset: Option<usize>, key: &str, message: &str) -> Self {
        let (line, column) = match offset {
            Some(o) => {
                let before = &text[..o.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        Self {
            file: file.to_string(),
            line,
            column,
            key: key.to_string(),
            message: message.to_string(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        if !self.key.is_empty() {
            write!(f, ": key `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}
