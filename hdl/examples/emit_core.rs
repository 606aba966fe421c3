//! Writes the emitted Verilog of a named build's core: `cargo run --example emit_core -- cu out.v`.
fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "cu".into());
    let out = args.next().unwrap_or_else(|| format!("core-{name}.v"));
    let Some(build) = revspike_proto::build::by_name(&name) else {
        eprintln!("error: unknown build '{name}'");
        std::process::exit(2);
    };
    if let Err(e) = std::fs::write(&out, revspike_hdl::builds::core_verilog(build)) {
        eprintln!("error: cannot write {out}: {e}");
        std::process::exit(1);
    }
}
