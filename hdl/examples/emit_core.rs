//! Writes the emitted Verilog of a named build's core: `cargo run --example emit_core -- cu out.v`.
fn main() {
    let top = std::env::args().any(|a| a == "--top");
    let mut args = std::env::args().skip(1).filter(|a| a != "--top");
    let name = args.next().unwrap_or_else(|| "cu".into());
    let out = args.next().unwrap_or_else(|| format!("core-{name}.v"));
    let build = match revspike_proto::build::named(&name) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let text = if top {
        revspike_hdl::top::top_verilog(build)
    } else {
        revspike_hdl::builds::core_verilog(build)
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = std::fs::write(&out, text) {
        eprintln!("error: cannot write {out}: {e}");
        std::process::exit(1);
    }
}
