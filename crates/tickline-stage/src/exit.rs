//! How a binary ends on an error: one line, the error and its causes,
//! without a backtrace unless `TICKLINE_BACKTRACE=1` asks for one (then the
//! error's debug form, which carries anyhow's backtrace when captured).

use std::fmt::{Debug, Display};
use std::process::ExitCode;

/// Exit status for `result`, printing an error on one line to stderr,
/// prefixed with `program`.
pub fn exit_code<E: Display + Debug>(program: &str, result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if std::env::var_os("TICKLINE_BACKTRACE").is_some_and(|v| v == "1") {
                eprintln!("{program}: {e:?}");
            } else {
                // `{:#}`: anyhow prints the cause chain, joined by ": ".
                eprintln!("{program}: error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}
