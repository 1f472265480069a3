//! Splitting zone-file text into entries (RFC 1035 §5.1): one per line, or per group of lines
//! joined by parentheses; comments dropped; quoted strings kept whole. Escapes are left in the
//! tokens for the reader of each field to decode.

use super::Fault;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token's bytes; for a quoted string, what is between the quotes. Escapes as written.
    pub text: Vec<u8>,
    pub quoted: bool,
}

impl Token {
    /// The token is exactly `word` as written, unquoted, letter case ignored.
    pub fn is(&self, word: &str) -> bool {
        !self.quoted && self.text.eq_ignore_ascii_case(word.as_bytes())
    }

    pub fn show(&self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Line the entry starts on, counted from 1.
    pub line: usize,
    /// The line starts with a blank: the owner is the previous record's.
    pub blank_owner: bool,
    pub tokens: Vec<Token>,
}

/// Every entry of `text`, one at a time (a file of millions of records is never held as
/// tokens whole), up to the first lexical error with its line.
pub fn entries(text: &[u8]) -> impl Iterator<Item = Result<Entry, (usize, Fault)>> + '_ {
    let mut lexer = Lexer {
        text,
        at: 0,
        line: 1,
    };
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        let next = lexer.entry().transpose();
        failed = matches!(next, Some(Err(_)));
        next
    })
}

struct Lexer<'a> {
    text: &'a [u8],
    at: usize,
    line: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    /// The next entry with at least one token, or None at the end.
    fn entry(&mut self) -> Result<Option<Entry>, (usize, Fault)> {
        loop {
            if self.at >= self.text.len() {
                return Ok(None);
            }
            let blank_owner = matches!(self.peek(), Some(b' ' | b'\t'));
            let mut tokens = Vec::new();
            let mut depth = 0usize;
            // Where the entry's first token is (an error before any names the line begun).
            let mut first_line = self.line;
            loop {
                match self.peek() {
                    None => {
                        if depth > 0 {
                            return Err((first_line, Fault::new("'(' is never closed")));
                        }
                        break;
                    }
                    Some(b'\n') => {
                        self.at += 1;
                        self.line += 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Some(b' ' | b'\t') => self.at += 1,
                    Some(b';') => {
                        while self.peek().is_some_and(|b| b != b'\n') {
                            self.at += 1;
                        }
                    }
                    Some(b'\r') => {
                        return Err((self.line, Fault::new("carriage return (CRLF line ends)")));
                    }
                    Some(b'(') => {
                        if depth > 0 {
                            return Err((self.line, Fault::new("'(' inside parentheses")));
                        }
                        depth += 1;
                        self.at += 1;
                    }
                    Some(b')') => {
                        if depth == 0 {
                            return Err((self.line, Fault::new("')' without '('")));
                        }
                        depth -= 1;
                        self.at += 1;
                    }
                    Some(b'"') => {
                        if tokens.is_empty() {
                            first_line = self.line;
                        }
                        tokens.push(self.quoted()?);
                    }
                    Some(_) => {
                        if tokens.is_empty() {
                            first_line = self.line;
                        }
                        tokens.push(self.word());
                    }
                }
            }
            if !tokens.is_empty() {
                return Ok(Some(Entry {
                    line: first_line,
                    blank_owner,
                    tokens,
                }));
            }
        }
    }

    /// A token up to a blank, a line break, a comment, a parenthesis or a quote.
    fn word(&mut self) -> Token {
        let start = self.at;
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                b'\\' => {
                    self.at += 1;
                    // An escaped line break is part of the token, as in knotd.
                    if self.peek() == Some(b'\n') {
                        self.line += 1;
                    }
                    if self.peek().is_some() {
                        self.at += 1;
                    }
                }
                _ => self.at += 1,
            }
        }
        Token {
            text: self.text[start..self.at].to_vec(),
            quoted: false,
        }
    }

    /// A quoted string; the quotes are not part of the token.
    fn quoted(&mut self) -> Result<Token, (usize, Fault)> {
        let line = self.line;
        self.at += 1;
        let start = self.at;
        loop {
            match self.peek() {
                None => return Err((line, Fault::new("quoted string is never closed"))),
                Some(b'"') => break,
                Some(b'\\') => {
                    self.at += 1;
                    match self.peek() {
                        None => {
                            return Err((line, Fault::new("quoted string is never closed")));
                        }
                        Some(b'\n') => self.line += 1,
                        Some(_) => {}
                    }
                    self.at += 1;
                }
                Some(b'\n') => {
                    self.line += 1;
                    self.at += 1;
                }
                Some(_) => self.at += 1,
            }
        }
        let text = self.text[start..self.at].to_vec();
        self.at += 1;
        Ok(Token { text, quoted: true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(entry: &Entry) -> Vec<String> {
        entry.tokens.iter().map(Token::show).collect()
    }

    #[test]
    fn entries_lines_parentheses_comments_and_quotes() {
        let text = b"$TTL 1h ; default\n@ IN SOA ns hm ( 1 ; serial\n  2 3\n 4 5 )\n\n\tTXT \"a ; (b\" c\\ d\nwww A 192.0.2.1";
        let entries: Vec<Entry> = entries(text).collect::<Result<_, _>>().unwrap();
        assert_eq!(entries.len(), 4);
        assert_eq!(words(&entries[0]), ["$TTL", "1h"]);
        assert_eq!(entries[1].line, 2);
        assert_eq!(
            words(&entries[1]),
            ["@", "IN", "SOA", "ns", "hm", "1", "2", "3", "4", "5"]
        );
        assert_eq!(entries[2].line, 6);
        assert!(entries[2].blank_owner);
        assert_eq!(words(&entries[2]), ["TXT", "a ; (b", "c\\ d"]);
        assert!(entries[2].tokens[1].quoted);
        assert_eq!(entries[3].line, 7);
    }

    #[test]
    fn unbalanced_parentheses_and_quotes_name_their_line() {
        let error_line = |text: &[u8]| entries(text).find_map(Result::err).map(|(line, _)| line);
        assert_eq!(error_line(b"a A 1\nb TXT ( x\n"), Some(2));
        assert_eq!(error_line(b"a A 1\n\nb TXT x )\n"), Some(3));
        assert_eq!(error_line(b"a A 1\nb TXT \"x\n"), Some(2));
    }
}
