use clap::Parser;

fn main() {
    let cli = match mmgame::cli::Cli::try_parse() {
        Ok(cli) => cli,
        // Usage errors are one line like every other error (clap adds a blank line and a
        // "try --help" hint); --help and --version print in full.
        Err(e) if e.use_stderr() => {
            let text = e.to_string();
            let parts: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .filter(|l| !l.is_empty())
                .collect();
            eprintln!("{}", parts.join(" "));
            std::process::exit(2);
        }
        Err(e) => e.exit(),
    };
    if let Err(e) = mmgame::app::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
