//! envault: diff, sync, rotate and protect the `.env` files of a project's environments.
//!
//! The library is layered (see ARCHITECTURE.md at the repository root): the core modules take
//! and return values and never print, exit or read the process environment; `cli` is the only
//! edge that talks to the terminal.

pub mod check;
pub mod classify;
pub mod cli;
pub mod config;
pub mod confine;
pub mod crypt;
pub mod diff;
pub mod dotenv;
pub mod env_vars;
pub mod error;
pub mod fsutil;
pub mod git;
pub mod glob;
pub mod matrix;
pub mod merge;
pub mod output;
pub mod rotate;
pub mod rule;
pub mod scan;
pub mod source;
pub mod store;
pub mod sync;
pub mod workspace;
