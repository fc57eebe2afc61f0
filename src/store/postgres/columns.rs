//! Reading values out of PostgreSQL rows: by position, typed, and never panicking.
//!
//! tokio-postgres' plain getter panics on a NULL or a type it cannot convert, and no layer
//! above catches a panic: every read in this engine goes through [`get`], which uses
//! `try_get` and turns a mismatch into a [`ColumnError`] naming the column (an internal error
//! for the caller).

use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

use crate::error::Result;
use crate::store::row::{ColumnError, Columns};

/// The value at `index`, or an internal error naming the column when it is NULL (and `T` is
/// not an `Option`) or of another type.
pub(super) fn get<'a, T: FromSql<'a>>(row: &'a Row, index: usize) -> Result<T> {
    Ok(read(row, index)?)
}

fn read<'a, T: FromSql<'a>>(row: &'a Row, index: usize) -> Result<T, ColumnError> {
    row.try_get(index).map_err(|e| {
        let column = row.columns().get(index).map_or("?", |c| c.name());
        ColumnError::unreadable(column, e)
    })
}

impl Columns for Row {
    fn text(&self, index: usize) -> Result<String, ColumnError> {
        read(self, index)
    }

    fn optional_text(&self, index: usize) -> Result<Option<String>, ColumnError> {
        read(self, index)
    }

    fn int(&self, index: usize) -> Result<i32, ColumnError> {
        read(self, index)
    }
}
