//! FTS5's own tokenizer, callable from Rust.
//!
//! The in-memory keyword index (`index::keyword`) must split and stem text exactly as the
//! FTS5 table does (`porter unicode61 remove_diacritics 2`), or a query would look for terms
//! the documents were never indexed under. Rather than reimplement Porter's stemmer and
//! Unicode 6.1 folding, this borrows the tokenizer from SQLite through the `fts5_api`
//! interface, so both sides use the very same code. The PostgreSQL engine's keyword index uses
//! it too (on a private in-memory SQLite), so both engines rank keywords identically.

use std::ffi::{c_char, c_int, c_void};
use std::ptr;

use rusqlite::{Connection, ffi};

use crate::error::{Error, Result};
use crate::index::Tokens;

/// One instance of the porter tokenizer, as the `memories_fts` table is configured.
///
/// Not `Sync`: the C tokenizer keeps scratch buffers in its instance, so one call at a time.
pub(crate) struct Tokenizer {
    instance: *mut ffi::Fts5Tokenizer,
    module: ffi::fts5_tokenizer,
    /// The connection whose FTS5 module owns the tokenizer's code and parent tokenizer; it
    /// must outlive `instance`.
    _conn: Connection,
}

// SAFETY: the instance is only used through `&mut self`, one thread at a time, and the C
// tokenizer holds no thread-local state.
unsafe impl Send for Tokenizer {}

impl Tokenizer {
    /// The tokenizer `memories_fts` uses: porter stemming over unicode61 with diacritics removed.
    pub(crate) fn porter() -> Result<Tokenizer> {
        let conn = Connection::open_in_memory()?;
        // SAFETY: `api` comes from SQLite for this open connection; the calls follow the
        // documented fts5_api protocol (find the module, then create an instance with args).
        unsafe {
            let api = fts5_api(&conn)?;
            let find = (*api)
                .xFindTokenizer
                .ok_or_else(|| internal("fts5_api has no xFindTokenizer"))?;
            let mut user_data: *mut c_void = ptr::null_mut();
            let mut module: ffi::fts5_tokenizer = std::mem::zeroed();
            let rc = find(api, c"porter".as_ptr(), &mut user_data, &mut module);
            if rc != ffi::SQLITE_OK {
                return Err(internal("FTS5 has no porter tokenizer"));
            }
            let create = module
                .xCreate
                .ok_or_else(|| internal("the porter tokenizer has no xCreate"))?;
            let mut args = [
                c"unicode61".as_ptr(),
                c"remove_diacritics".as_ptr(),
                c"2".as_ptr(),
            ];
            let mut instance: *mut ffi::Fts5Tokenizer = ptr::null_mut();
            let rc = create(
                user_data,
                args.as_mut_ptr(),
                args.len() as c_int,
                &mut instance,
            );
            if rc != ffi::SQLITE_OK || instance.is_null() {
                return Err(internal("cannot create the porter tokenizer"));
            }
            Ok(Tokenizer {
                instance,
                module,
                _conn: conn,
            })
        }
    }

    /// A boxed porter tokenizer, as the keyword index asks for one.
    pub(crate) fn boxed() -> Result<Box<dyn Tokens>> {
        Ok(Box::new(Tokenizer::porter()?))
    }

    fn run<F: FnMut(&str)>(&mut self, text: &str, flags: c_int, each: &mut F) {
        let Some(tokenize) = self.module.xTokenize else {
            return;
        };
        let Ok(len) = c_int::try_from(text.len()) else {
            return;
        };
        // SAFETY: `each` outlives the call; the callback casts the context back to `F`.
        unsafe {
            tokenize(
                self.instance,
                each as *mut F as *mut c_void,
                flags,
                text.as_ptr() as *const c_char,
                len,
                Some(on_token::<F>),
            );
        }
    }
}

impl Tokens for Tokenizer {
    /// Every token of `text`, in order, as FTS5 indexes a document.
    fn tokens(&mut self, text: &str, each: &mut dyn FnMut(&str)) {
        self.run(text, ffi::FTS5_TOKENIZE_DOCUMENT, &mut |t: &str| each(t));
    }

    /// Every token of query text, as FTS5 reads a query phrase.
    fn query_tokens(&mut self, text: &str, each: &mut dyn FnMut(&str)) {
        self.run(text, ffi::FTS5_TOKENIZE_QUERY, &mut |t: &str| each(t));
    }
}

impl Drop for Tokenizer {
    fn drop(&mut self) {
        if let Some(delete) = self.module.xDelete {
            // SAFETY: created by this module's xCreate and deleted once, before `_conn` closes.
            unsafe { delete(self.instance) };
        }
    }
}

unsafe extern "C" fn on_token<F: FnMut(&str)>(
    ctx: *mut c_void,
    _flags: c_int,
    token: *const c_char,
    len: c_int,
    _start: c_int,
    _end: c_int,
) -> c_int {
    // SAFETY: `ctx` is the `&mut F` passed to xTokenize; `token` points at `len` bytes.
    unsafe {
        let each = &mut *(ctx as *mut F);
        let bytes = std::slice::from_raw_parts(token as *const u8, len.max(0) as usize);
        if let Ok(token) = std::str::from_utf8(bytes) {
            each(token);
        }
    }
    ffi::SQLITE_OK
}

/// The connection's `fts5_api`, fetched the documented way: `SELECT fts5(?1)` with a pointer
/// bound as "fts5_api_ptr".
unsafe fn fts5_api(conn: &Connection) -> Result<*mut ffi::fts5_api> {
    let mut api: *mut ffi::fts5_api = ptr::null_mut();
    // SAFETY: the statement is prepared, stepped and finalised on this connection's handle;
    // the bound pointer stays valid until finalize.
    unsafe {
        let db = conn.handle();
        let mut stmt: *mut ffi::sqlite3_stmt = ptr::null_mut();
        let rc = ffi::sqlite3_prepare_v2(
            db,
            c"SELECT fts5(?1)".as_ptr(),
            -1,
            &mut stmt,
            ptr::null_mut(),
        );
        if rc != ffi::SQLITE_OK {
            return Err(internal("this SQLite has no FTS5"));
        }
        ffi::sqlite3_bind_pointer(
            stmt,
            1,
            &mut api as *mut *mut ffi::fts5_api as *mut c_void,
            c"fts5_api_ptr".as_ptr(),
            None,
        );
        ffi::sqlite3_step(stmt);
        ffi::sqlite3_finalize(stmt);
    }
    if api.is_null() {
        return Err(internal("cannot reach the FTS5 API"));
    }
    Ok(api)
}

fn internal(what: &str) -> Error {
    Error::Internal(what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<String> {
        let mut t = Tokenizer::porter().unwrap();
        let mut out = Vec::new();
        t.tokens(text, &mut |s| out.push(s.to_string()));
        out
    }

    #[test]
    fn splits_folds_and_stems_like_the_fts_table() {
        assert_eq!(
            tokens("Retrying the Café's DEPLOYMENTS, twice-daily: 5xx!"),
            vec![
                "retri", "the", "cafe", "s", "deploy", "twice", "daili", "5xx"
            ]
        );
        assert!(tokens("  -- ").is_empty());
    }

    #[test]
    fn agrees_with_the_fts5_index_itself() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE VIRTUAL TABLE t USING fts5(x, tokenize = 'porter unicode61 remove_diacritics 2');
             CREATE VIRTUAL TABLE v USING fts5vocab(t, row);",
        )
        .unwrap();
        let text = "Naïve résumé parsers were rewritten; ledger imports reconcile monthly. \
                    Ünïcödé, «quotes», emoji 🚀 and CamelCaseWords_with_underscores 42x";
        conn.execute("INSERT INTO t (x) VALUES (?1)", [text])
            .unwrap();
        let mut stmt = conn.prepare("SELECT term FROM v ORDER BY term").unwrap();
        let indexed: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let mut ours = tokens(text);
        ours.sort();
        ours.dedup();
        assert_eq!(ours, indexed);
    }
}
