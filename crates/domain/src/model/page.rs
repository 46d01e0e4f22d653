use std::fmt;

use uuid::Uuid;

use super::validation::ValidationErrors;

/// How many items a page holds: 1 to 100, default 20.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit(usize);

impl Limit {
    pub const DEFAULT: Limit = Limit(20);
    pub const MAX: usize = 100;

    pub fn parse(raw: Option<&str>) -> Result<Self, ValidationErrors> {
        let Some(raw) = raw else {
            return Ok(Self::DEFAULT);
        };
        // Digits only: Rust's integer parse also takes a leading `+`, which the contract's
        // "integer 1..100" (and the OpenAPI pattern) does not.
        let digits = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit());
        match raw.parse::<usize>() {
            Ok(n) if digits && (1..=Self::MAX).contains(&n) => Ok(Limit(n)),
            _ => Err(ValidationErrors::new(
                "limit",
                format!("must be an integer from 1 to {}", Self::MAX),
            )),
        }
    }

    pub fn new(n: usize) -> Option<Self> {
        (1..=Self::MAX).contains(&n).then_some(Limit(n))
    }

    pub const fn get(&self) -> usize {
        self.0
    }
}

/// A position in a list: the key of the last item of the previous page.
///
/// Its text form is what the API hands out as `nextCursor`; only that form parses back, so a
/// made-up cursor is a 400 rather than a silent first page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cursor(Uuid);

impl Cursor {
    pub fn after(key: Uuid) -> Self {
        Cursor(key)
    }

    pub fn key(&self) -> Uuid {
        self.0
    }

    pub fn parse(raw: &str) -> Result<Self, ValidationErrors> {
        let bad = || ValidationErrors::new("cursor", "is not a cursor returned by this server");
        let ok_shape =
            raw.len() == 32 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !ok_shape {
            return Err(bad());
        }
        let id = Uuid::try_parse(raw).map_err(|_| bad())?;
        if id.get_version_num() == 7 {
            Ok(Cursor(id))
        } else {
            Err(bad())
        }
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.simple(), f)
    }
}

/// A request for one page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: Limit,
    pub after: Option<Cursor>,
}

impl PageRequest {
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<Self, ValidationErrors> {
        let limit = Limit::parse(limit);
        let after = cursor.map(Cursor::parse).transpose();
        match (limit, after) {
            (Ok(limit), Ok(after)) => Ok(PageRequest { limit, after }),
            (l, a) => Err(
                ValidationErrors::collect([l.err(), a.err()].into_iter().flatten())
                    .err()
                    .unwrap_or_else(|| ValidationErrors::new("query", "is invalid")),
            ),
        }
    }

    pub fn first(limit: Limit) -> Self {
        PageRequest { limit, after: None }
    }

    /// What to ask a store for: one more row than the page holds, to learn whether another
    /// page follows without a count query.
    pub fn keyset(&self) -> Keyset {
        Keyset {
            before: self.after.map(|c| c.key()),
            limit: self.limit.get() + 1,
        }
    }
}

/// A store query: the newest `limit` rows whose key is strictly below `before` (all rows when
/// `None`), newest first. Strictly below is what keeps page boundaries from skipping or
/// repeating an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keyset {
    pub before: Option<Uuid>,
    pub limit: usize,
}

/// One page of a list, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<Cursor>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched with [`PageRequest::keyset`].
    pub fn from_rows(mut rows: Vec<T>, limit: Limit, key: impl Fn(&T) -> Uuid) -> Self {
        let more = rows.len() > limit.get();
        rows.truncate(limit.get());
        let next_cursor = if more {
            rows.last().map(|last| Cursor::after(key(last)))
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_and_bounds() {
        assert_eq!(Limit::parse(None).unwrap().get(), 20);
        assert_eq!(Limit::parse(Some("1")).unwrap().get(), 1);
        assert_eq!(Limit::parse(Some("100")).unwrap().get(), 100);
        for bad in ["0", "101", "-1", "+5", " 5", "abc", "", "2.5", "1e2"] {
            assert!(Limit::parse(Some(bad)).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn cursor_round_trips_and_rejects_anything_else() {
        let c = Cursor::after(Uuid::now_v7());
        assert_eq!(Cursor::parse(&c.to_string()).unwrap(), c);
        assert!(Cursor::parse("abc").is_err());
        assert!(Cursor::parse(&Uuid::now_v7().hyphenated().to_string()).is_err());
        assert!(Cursor::parse(&Uuid::new_v4().simple().to_string()).is_err());
        assert!(Cursor::parse(&c.to_string().to_uppercase()).is_err());
    }

    #[test]
    fn page_request_reports_both_errors() {
        let e = PageRequest::parse(Some("0"), Some("zzz")).unwrap_err();
        assert_eq!(e.fields().len(), 2);
        let ok = PageRequest::parse(Some("5"), None).unwrap();
        assert_eq!(ok.keyset().limit, 6);
    }

    #[test]
    fn page_has_a_cursor_only_when_more_rows_exist() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let two = Limit::new(2).unwrap();
        let page = Page::from_rows(ids.clone(), two, |u| *u);
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.next_cursor.unwrap().key(), ids[1]);
        let last = Page::from_rows(ids[..2].to_vec(), two, |u| *u);
        assert_eq!(last.next_cursor, None);
    }
}
