fn main() {
    std::process::exit(mmgame::cli::main());
}
