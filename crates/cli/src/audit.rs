//! `portcullis audit verify|tail`: the hash-chained audit log.

use super::*;

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Check the hash chain; reports the first broken record.
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
}

pub(crate) fn audit(command: AuditCommand, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (file, state) = match &command {
        AuditCommand::Verify { file, state } | AuditCommand::Tail { file, state, .. } => {
            (file.clone(), state)
        }
    };
    let path = match file {
        Some(f) => f,
        None => open_data_dir(data_dir, state.config.as_deref())?.audit_log(),
    };
    match command {
        AuditCommand::Verify { .. } => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            match verify_log(&text) {
                Ok(check) => {
                    println!(
                        "{}: ok, {} records, chain intact",
                        path.display(),
                        check.records
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
                        "{}: BROKEN at record {} (line {}): {}",
                        path.display(),
                        broken.record,
                        broken.record,
                        broken.reason
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
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
