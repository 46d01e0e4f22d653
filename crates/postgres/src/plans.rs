//! The generic plan of a statement, for the index checks in the tests and for diagnosing a slow
//! database (a plan can change with the PostgreSQL version or after ANALYZE).

use domain::StoreError;
use sqlx::{PgConnection, Row};

use crate::error::ResultExt;

/// The highest `$n` in `sql`.
fn parameters(sql: &str) -> usize {
    let mut max = 0;
    let mut rest = sql;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        max = max.max(digits.parse().unwrap_or(0));
    }
    max
}

/// `EXPLAIN` of the generic plan of `sql` (the plan a prepared statement settles on, valid
/// for any parameter values), one line per step. DML is planned, not run.
pub async fn explain(conn: &mut PgConnection, sql: &str) -> Result<String, StoreError> {
    sqlx::query("SET plan_cache_mode = force_generic_plan")
        .execute(&mut *conn)
        .await
        .store()?;
    sqlx::query(&format!("PREPARE socialscale_explain AS {sql}"))
        .execute(&mut *conn)
        .await
        .store()?;
    // `EXECUTE name()` is a syntax error: a statement without parameters takes no list.
    let args = match parameters(sql) {
        0 => String::new(),
        n => format!("({})", vec!["NULL"; n].join(", ")),
    };
    let lines = sqlx::query(&format!("EXPLAIN EXECUTE socialscale_explain{args}"))
        .fetch_all(&mut *conn)
        .await;
    // Deallocated whatever EXPLAIN did, so the connection can explain the next statement.
    sqlx::query("DEALLOCATE socialscale_explain")
        .execute(&mut *conn)
        .await
        .store()?;
    sqlx::query("RESET plan_cache_mode")
        .execute(&mut *conn)
        .await
        .store()?;
    lines
        .store()?
        .iter()
        .map(|r| r.try_get::<String, _>(0).store())
        .collect::<Result<Vec<_>, _>>()
        .map(|l| l.join("\n"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_parameters() {
        assert_eq!(super::parameters("SELECT 1"), 0);
        assert_eq!(super::parameters("WHERE a = $1 AND b < $12 LIMIT $3"), 12);
    }
}
