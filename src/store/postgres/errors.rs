//! How the PostgreSQL client's and the pool's failures become memoryd's errors: a server
//! that is down or restarting is `Unavailable` (the call may succeed if retried), anything
//! else the database said is a `Database` error in its words.

use deadpool_postgres::PoolError;

use crate::error::Error;

impl From<tokio_postgres::Error> for Error {
    fn from(err: tokio_postgres::Error) -> Self {
        if let Some(db) = err.as_db_error() {
            let code = db.code().code();
            // Connection exceptions, and the server shutting down or starting up.
            if code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03") {
                return Error::Unavailable(db.message().to_string());
            }
            return Error::Database(db.message().to_string());
        }
        if err.is_closed()
            || std::error::Error::source(&err).is_some_and(|s| s.is::<std::io::Error>())
        {
            return Error::Unavailable(err.to_string());
        }
        Error::Database(err.to_string())
    }
}

impl From<PoolError> for Error {
    fn from(err: PoolError) -> Self {
        match err {
            PoolError::Backend(e) => e.into(),
            PoolError::Timeout(_) => {
                Error::Unavailable("no database connection could be had in time".into())
            }
            other => Error::Unavailable(other.to_string()),
        }
    }
}
