fn main() {
    std::process::exit(revspike::main_with_args(std::env::args_os()));
}
