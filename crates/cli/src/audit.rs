//! `portcullis audit verify|tail|query|export`: the hash-chained audit log.

use portcullis::core::audit::{AuditQuery, Outcome, csv_header, csv_row, time_bound};
use portcullis::store::audit::{read_records, verify_files};

use super::*;

/// Which records `query` and `export` keep; every filter given must match.
#[derive(Args)]
pub(crate) struct Filter {
    /// The principal's id (a key id, `anonymous`, an OAuth subject…), exactly.
    #[arg(long)]
    principal: Option<String>,
    /// The published tool, prompt or resource URI, exactly.
    #[arg(long)]
    tool: Option<String>,
    /// The outcome: ok, tool_error, upstream_error, timeout, unavailable, cancelled,
    /// unknown_tool, refused, limited, blocked, withheld or unauthenticated.
    #[arg(long, value_parser = Outcome::parse)]
    outcome: Option<Outcome>,
    /// Records at or after: a time (`2026-12-01T09:00:00Z`) or a duration ago (`24h`).
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// Records before: a time or a duration ago.
    #[arg(long, value_name = "WHEN")]
    until: Option<String>,
}

impl Filter {
    fn query(&self) -> anyhow::Result<AuditQuery> {
        let now = now_secs() * 1000;
        let bound = |flag: &str, text: &Option<String>| {
            text.as_deref()
                .map(|t| time_bound(t, now))
                .transpose()
                .map_err(|e| anyhow::anyhow!("{flag}: {e}"))
        };
        Ok(AuditQuery {
            principal: self.principal.clone(),
            tool: self.tool.clone(),
            outcome: self.outcome,
            since: bound("--since", &self.since)?,
            until: bound("--until", &self.until)?,
        })
    }
}

/// The format of `audit export`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum ExportFormat {
    /// One record per line, as in the log (with `prev` and `hash`).
    Jsonl,
    /// RFC 4180 CSV with a header line; cells a spreadsheet would run as formulas are defused.
    Csv,
}

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Check the hash chain through the log and the files rotated out of it; reports the first
    /// broken record.
    Verify {
        /// The log; default: audit.jsonl in the data directory.
        file: Option<PathBuf>,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Print the last records, and with --follow keep printing new ones.
    Tail {
        /// The log; default: audit.jsonl in the data directory.
        file: Option<PathBuf>,
        /// How many records to print first.
        #[arg(long, short = 'n', default_value_t = 10)]
        lines: usize,
        /// Keep printing records as they are written.
        #[arg(long, short = 'f')]
        follow: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// The records that match, newest last, as a table (or JSON lines with --json).
    Query {
        #[command(flatten)]
        filter: Filter,
        /// Print at most this many (the newest).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print each record as it is in the log, one JSON object per line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Write the records that match, oldest first, as CSV or JSON Lines.
    Export {
        #[command(flatten)]
        filter: Filter,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        state: StateArgs,
    },
}

pub(crate) fn audit(command: AuditCommand, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (file, state) = match &command {
        AuditCommand::Verify { file, state } | AuditCommand::Tail { file, state, .. } => {
            (file.clone(), state)
        }
        AuditCommand::Query { state, .. } | AuditCommand::Export { state, .. } => (None, state),
    };
    let path = match file {
        Some(f) => f,
        None => open_data_dir(data_dir, state.config.as_deref())?.audit_log(),
    };
    match command {
        AuditCommand::Query {
            filter,
            limit,
            json,
            ..
        } => {
            let query = filter.query()?;
            let mut kept = std::collections::VecDeque::new();
            read_records(&path, |record| {
                if query.matches(&record) {
                    if kept.len() == limit.max(1) {
                        kept.pop_front();
                    }
                    kept.push_back(record);
                }
                true
            })?;
            let mut out = std::io::stdout().lock();
            for record in &kept {
                if json {
                    writeln!(out, "{record}")?;
                } else {
                    let field = |k: &str| record[k].as_str().unwrap_or("-").to_string();
                    writeln!(
                        out,
                        "{}  {:<20} {:<28} {:<28} {:<15} {}",
                        field("time"),
                        field("principal"),
                        field("method"),
                        field("tool"),
                        field("outcome"),
                        field("reason")
                    )?;
                }
            }
            if kept.is_empty() && !json {
                eprintln!("no record matches");
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export {
            filter,
            format,
            out,
            ..
        } => {
            let query = filter.query()?;
            let mut sink: Box<dyn Write> = match &out {
                Some(file) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(file)
                        .with_context(|| format!("--out: cannot create `{}`", file.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            if matches!(format, ExportFormat::Csv) {
                sink.write_all(csv_header().as_bytes())?;
            }
            let mut written = 0usize;
            let mut failed = None;
            read_records(&path, |record| {
                if !query.matches(&record) {
                    return true;
                }
                let line = match format {
                    ExportFormat::Csv => csv_row(&record),
                    ExportFormat::Jsonl => format!("{record}\n"),
                };
                match sink.write_all(line.as_bytes()) {
                    Ok(()) => {
                        written += 1;
                        true
                    }
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                }
            })?;
            if let Some(e) = failed {
                return Err(e.into());
            }
            sink.flush()?;
            if let Some(file) = out {
                eprintln!("wrote {written} records to `{}`", file.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify { .. } => match verify_files(&path)? {
            Ok(check) => {
                println!(
                    "{}: ok, {} records{}, chain intact",
                    path.display(),
                    check.records,
                    if check.files > 1 {
                        format!(" in {} files (the rotated ones first)", check.files)
                    } else {
                        String::new()
                    }
                );
                if check.unfinished > 0 {
                    println!(
                        "note: the last line is an unfinished record ({} bytes) left by a \
                         writer that stopped mid-write; it is not part of the chain, and the \
                         next writer cuts it off and records that it did",
                        check.unfinished
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(broken) => {
                println!(
                    "{}: BROKEN at record {} (line {} of `{}`): {}",
                    path.display(),
                    broken.line,
                    broken.line,
                    broken.file.display(),
                    broken.reason
                );
                Ok(ExitCode::FAILURE)
            }
        },
        AuditCommand::Tail { lines, follow, .. } => {
            let mut file = std::fs::File::open(&path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            let all: Vec<String> = std::io::BufReader::new(&file)
                .lines()
                .collect::<Result<_, _>>()?;
            let mut out = std::io::stdout().lock();
            for line in &all[all.len().saturating_sub(lines)..] {
                writeln!(out, "{line}")?;
            }
            out.flush()?;
            if follow {
                let mut pos = file.seek(std::io::SeekFrom::End(0))?;
                let mut pending = String::new();
                loop {
                    std::thread::sleep(Duration::from_millis(250));
                    let len = std::fs::metadata(&path)?.len();
                    if len < pos {
                        pos = 0; // the log was replaced
                    }
                    if len > pos {
                        file.seek(std::io::SeekFrom::Start(pos))?;
                        let mut chunk = String::new();
                        std::io::Read::read_to_string(&mut file, &mut chunk)?;
                        pos = len;
                        pending.push_str(&chunk);
                        while let Some(end) = pending.find('\n') {
                            writeln!(out, "{}", &pending[..end])?;
                            pending.drain(..=end);
                        }
                        out.flush()?;
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
