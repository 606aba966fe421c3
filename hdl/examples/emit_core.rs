//! Writes the emitted Verilog of a named build's core: `cargo run --example emit_core -- cu out.v`.
fn main() {
    let top = std::env::args().any(|a| a == "--top");
    let mut args = std::env::args().skip(1).filter(|a| a != "--top");
    let name = args.next().unwrap_or_else(|| "cu".into());
    let out = args.next().unwrap_or_else(|| format!("core-{name}.v"));
    let Some(build) = revspike_proto::build::by_name(&name) else {
        eprintln!("error: unknown build '{name}'");
        std::process::exit(2);
    };
    let text = if top {
        match revspike_hdl::top::top_verilog(build) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    } else {
        revspike_hdl::builds::core_verilog(build)
    };
    if let Err(e) = std::fs::write(&out, text) {
        eprintln!("error: cannot write {out}: {e}");
        std::process::exit(1);
    }
}
