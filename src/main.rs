use clap::Parser;

fn main() {
    let cli = mmgame::cli::Cli::parse();
    if let Err(e) = mmgame::app::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
