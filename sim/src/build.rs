//! Building a Verilog text into a loadable Verilator model, with an on-disk cache.
//!
//! Verilator 5 splits a model into many `.cpp` files; rather than track that list
//! (what the `verilator` crate gets wrong, see docs/sim.md), the build hands
//! Verilator its own makefile: `verilator --cc --exe rs_shim.cpp ... -LDFLAGS -shared`
//! links the generated model, the Verilator runtime and a generated `extern "C"`
//! shim into one shared object, which [`Design`] opens with `libloading`.
//!
//! Builds land in `<cache root>/<hash>/`, the hash covering the Verilog text, the
//! shim generator's version, the Verilator version and the options, so an unchanged
//! design is never rebuilt. A `flock` on `<hash>.lock` serializes threads and
//! processes building the same model; a `ready` file marks a complete build.

use crate::ports::{parse_top_ports, Port};
use crate::tool::{spawn_error, verilator_command, verilator_version};
use crate::{io_err, Error, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ffi::{c_char, c_void};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

/// Version of the generated shim's C interface; part of the cache key.
const SHIM_ABI: u32 = 3;

/// Verilator arguments of every build (part of the cache key).
const VERILATOR_ARGS: &[&str] = &[
    "--top-module",
    "top",
    "--prefix",
    "Vtop",
    "--Mdir",
    "obj",
    // rust-hdl emits Verilog-2005, which yosys reads as such: names like `byte`
    // are identifiers there, not SystemVerilog keywords.
    "--default-language",
    "1364-2005",
    "-O3",
    // Zero for every unknown and every initial value: what rust-hdl's simulator
    // assumes and what the iCE40's flip-flops power up with.
    "--x-assign",
    "0",
    "--x-initial",
    "0",
    // Lint is a separate entry point; a build only fails on errors.
    "-Wno-fatal",
    "-Wno-lint",
    "-Wno-style",
    // One shared object: generated model, Verilator runtime and shim, exporting
    // only the shim's functions.
    "-CFLAGS",
    "-fPIC",
    "-CFLAGS",
    "-fvisibility=hidden",
    "-LDFLAGS",
    "-shared",
    "-LDFLAGS",
    "-Wl,-Bsymbolic",
    "-o",
    "librsmodel.so",
];

/// C++ optimization for the model (Verilator's default is -Os).
const MAKE_ARGS: &[&str] = &["OPT_FAST=-O2", "OPT_SLOW=-O1", "OPT_GLOBAL=-O2"];

/// How a model is built.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelOptions {
    /// Compile VCD tracing in (`verilator --trace`); needed for [`crate::Model::trace_vcd`].
    /// Tracing slows every cycle a little even while no trace file is open.
    pub trace: bool,
    /// Name of the clock input that [`crate::Model::tick`] toggles.
    pub clock: String,
    /// Parallel compile jobs for the C++ build.
    pub jobs: usize,
    /// Extra arguments for `verilator` (part of the cache key).
    pub verilator_args: Vec<String>,
    /// Cache directory for this build instead of [`cache_root`] (not part of the key).
    pub cache_dir: Option<PathBuf>,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            trace: false,
            clock: "clock".to_string(),
            jobs: 2,
            verilator_args: Vec::new(),
            cache_dir: None,
        }
    }
}

impl ModelOptions {
    /// Options with VCD tracing compiled in.
    pub fn traced() -> Self {
        ModelOptions {
            trace: true,
            ..Default::default()
        }
    }
}

/// Where built models are cached: `$REVSPIKE_SIM_CACHE` if set; else `verilator/`
/// in the cargo target directory holding the running executable (found by its
/// `CACHEDIR.TAG`); else in `$CARGO_TARGET_DIR` when absolute; else in the
/// system temporary directory.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("REVSPIKE_SIM_CACHE").filter(|s| !s.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1) {
            if dir.join("CACHEDIR.TAG").is_file() {
                return dir.join("verilator");
            }
        }
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        if dir.is_absolute() {
            return dir.join("verilator");
        }
    }
    std::env::temp_dir().join("revspike-verilator")
}

type NewFn = unsafe extern "C" fn() -> *mut c_void;
type DeleteFn = unsafe extern "C" fn(*mut c_void);
type SetFn = unsafe extern "C" fn(*mut c_void, u32, u64);
type GetFn = unsafe extern "C" fn(*mut c_void, u32) -> u64;
type EvalFn = unsafe extern "C" fn(*mut c_void);
type TicksFn = unsafe extern "C" fn(*mut c_void, u32, u64);
type TicksWhileFn = unsafe extern "C" fn(*mut c_void, u32, u32, u64, u64) -> u64;
type TicksWhileBothFn = unsafe extern "C" fn(*mut c_void, u32, u32, u64, u32, u64, u64, u64) -> u64;
type TraceOpenFn = unsafe extern "C" fn(*mut c_void, *const c_char) -> i32;
type TraceCloseFn = unsafe extern "C" fn(*mut c_void);
type CountFn = unsafe extern "C" fn() -> u32;

/// The shim's entry points, copied out of the loaded library (which the
/// [`Design`] keeps loaded for as long as any model uses them).
#[derive(Clone, Copy)]
pub(crate) struct ShimFns {
    pub new: NewFn,
    pub delete: DeleteFn,
    pub set: SetFn,
    pub get: GetFn,
    pub eval: EvalFn,
    pub ticks: TicksFn,
    pub ticks_while: TicksWhileFn,
    pub ticks_while_both: TicksWhileBothFn,
    pub trace_open: TraceOpenFn,
    pub trace_close: TraceCloseFn,
}

pub(crate) struct DesignInner {
    pub dir: PathBuf,
    pub ports: Vec<Port>,
    pub by_name: HashMap<String, u32>,
    pub options: ModelOptions,
    pub fns: ShimFns,
    pub build_seconds: Option<f64>,
    // Declared last: dropped after everything that points into it.
    _library: libloading::Library,
}

/// A Verilog design built into a loadable Verilator model. Cheap to clone; every
/// [`crate::Model`] instantiated from it is independent (its own Verilator context).
#[derive(Clone)]
pub struct Design {
    pub(crate) inner: Arc<DesignInner>,
}

impl std::fmt::Debug for Design {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Design")
            .field("dir", &self.inner.dir)
            .field("ports", &self.inner.ports)
            .finish()
    }
}

impl Design {
    /// Builds (or finds in the cache) the Verilator model of `verilog`, whose top
    /// module must be `top`.
    pub fn build(verilog: &str, options: &ModelOptions) -> Result<Design> {
        let ports = parse_top_ports(verilog)?;
        let version = verilator_version()?;
        let key = cache_key(verilog, &version, options);
        let root = options.cache_dir.clone().unwrap_or_else(cache_root);
        fs::create_dir_all(&root).map_err(io_err(format!(
            "cannot create the model cache {}",
            root.display()
        )))?;
        let lock_path = root.join(format!("{key}.lock"));
        let lock_file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(format!("cannot open {}", lock_path.display())))?;
        let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, errno)| Error::Io {
                what: format!("cannot lock {}", lock_path.display()),
                source: errno.into(),
            })?;
        let dir = root.join(&key);
        let so_path = dir.join("obj").join("librsmodel.so");
        let mut build_seconds = None;
        if !dir.join("ready").is_file() || !so_path.is_file() {
            let started = Instant::now();
            let runtime = root.join(format!("runtime-{}", runtime_key(&version, options)));
            build_into(&dir, &runtime, verilog, &ports, options)?;
            build_seconds = Some(started.elapsed().as_secs_f64());
        }
        let (library, fns) = load(&so_path, ports.len())?;
        let by_name = ports
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.clone(), i as u32))
            .collect();
        Ok(Design {
            inner: Arc::new(DesignInner {
                dir,
                ports,
                by_name,
                options: options.clone(),
                fns,
                build_seconds,
                _library: library,
            }),
        })
    }

    /// The top-level ports, in header order.
    pub fn ports(&self) -> &[Port] {
        &self.inner.ports
    }

    /// The cache directory of this build (Verilog, shim, logs, objects).
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The options it was built with.
    pub fn options(&self) -> &ModelOptions {
        &self.inner.options
    }

    /// Seconds spent building it in this call, or `None` when it came from the cache.
    pub fn build_seconds(&self) -> Option<f64> {
        self.inner.build_seconds
    }

    /// A fresh model of the design, all state zero, inputs zero, settled.
    pub fn instantiate(&self) -> Result<crate::Model> {
        crate::Model::from_design(self.clone())
    }
}

fn cache_key(verilog: &str, version: &str, options: &ModelOptions) -> String {
    let mut h = Sha256::new();
    h.update(format!("revspike-sim shim abi {SHIM_ABI}\n"));
    h.update(version.as_bytes());
    h.update(b"\n");
    h.update(format!(
        "fixed={VERILATOR_ARGS:?} make={MAKE_ARGS:?}\ntrace={} clock={} args={:?}\n",
        options.trace, options.clock, options.verilator_args
    ));
    h.update(verilog.as_bytes());
    let digest = h.finalize();
    let mut s = String::new();
    for b in &digest[..10] {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// First line of a log that looks like an error, else its last non-empty line.
fn summarize(log: &str) -> String {
    log.lines()
        .find(|l| l.contains("%Error") || l.contains("error:") || l.contains("Error "))
        .or_else(|| log.lines().rev().find(|l| !l.trim().is_empty()))
        .unwrap_or("no output")
        .trim()
        .chars()
        .take(300)
        .collect()
}

fn run_logged(mut cmd: Command, what: &'static str, log: &Path) -> Result<()> {
    let out = cmd.output().map_err(|e| spawn_error(e, what))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    fs::write(log, &text).map_err(io_err(format!("cannot write {}", log.display())))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Build {
            step: what,
            summary: summarize(&text),
            log: log.to_path_buf(),
        })
    }
}

fn build_into(
    dir: &Path,
    runtime: &Path,
    verilog: &str,
    ports: &[Port],
    options: &ModelOptions,
) -> Result<()> {
    if dir.exists() {
        // A build that did not finish (killed, failed): start over.
        fs::remove_dir_all(dir).map_err(io_err(format!("cannot clear {}", dir.display())))?;
    }
    fs::create_dir_all(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        fs::write(&p, text).map_err(io_err(format!("cannot write {}", p.display())))
    };
    write("top.v", verilog)?;
    let shim_path = dir.join("rs_shim.cpp");

    let mut cmd = verilator_command();
    cmd.current_dir(dir)
        .args(["--cc", "--exe"])
        .arg(&shim_path)
        .args(VERILATOR_ARGS);
    if options.trace {
        cmd.arg("--trace");
    }
    cmd.args(&options.verilator_args).arg("top.v");
    run_logged(cmd, "verilate", &dir.join("verilate.log"))?;

    let header_path = dir.join("obj").join("Vtop.h");
    let header = fs::read_to_string(&header_path)
        .map_err(io_err(format!("cannot read {}", header_path.display())))?;
    let members = header_members(&header);
    let mut cpp_names = Vec::with_capacity(ports.len());
    for p in ports {
        let (member, width) = members
            .iter()
            .find(|(m, _)| decode_verilator_name(m) == p.name)
            .map(|(m, w)| (m.clone(), *w))
            .ok_or_else(|| Error::Build {
                step: "shim",
                summary: format!("port `{}` has no member in the generated Vtop.h", p.name),
                log: header_path.clone(),
            })?;
        if width != p.width {
            return Err(Error::Build {
                step: "shim",
                summary: format!(
                    "port `{}` is {} bits in the Verilog text but {} bits in Vtop.h",
                    p.name, p.width, width
                ),
                log: header_path.clone(),
            });
        }
        cpp_names.push(member);
    }
    fs::write(&shim_path, generate_shim(ports, &cpp_names))
        .map_err(io_err(format!("cannot write {}", shim_path.display())))?;

    let obj = dir.join("obj");
    let reused_runtime = reuse_runtime(runtime, &obj);
    let mut make = Command::new("make");
    make.current_dir(dir.join("obj"))
        .args(["-f", "Vtop.mk"])
        .arg(format!("-j{}", options.jobs.max(1)))
        .args(MAKE_ARGS);
    run_logged(make, "compile", &dir.join("compile.log")).map_err(|e| match e {
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => Error::Build {
            step: "compile",
            summary: "`make` not found: run scripts/setup.sh".into(),
            log: dir.join("compile.log"),
        },
        other => other,
    })?;
    if !reused_runtime {
        keep_runtime(runtime, &obj);
    }
    let ready: String = ports
        .iter()
        .map(|p| format!("{} {} {}\n", p.direction, p.width, p.name))
        .collect();
    write("ready", &ready)
}

/// Key of the compiled Verilator runtime (`verilated*.o`), which depends on the
/// Verilator version and flags but not on the design.
fn runtime_key(version: &str, options: &ModelOptions) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "{version}\nfixed={VERILATOR_ARGS:?} make={MAKE_ARGS:?}\ntrace={} args={:?}\n",
        options.trace, options.verilator_args
    ));
    h.finalize()[..10]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn is_runtime_object(name: &str) -> bool {
    name.starts_with("verilated") && (name.ends_with(".o") || name.ends_with(".d"))
}

/// Copies a runtime compiled by an earlier build into `obj/`; make then finds it up
/// to date and skips several seconds of compiling per build. Returns whether it did.
fn reuse_runtime(runtime: &Path, obj: &Path) -> bool {
    if !runtime.join("ready").is_file() {
        return false;
    }
    let Ok(entries) = fs::read_dir(runtime) else {
        return false;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_runtime_object(&name) && fs::copy(entry.path(), obj.join(&name)).is_err() {
            // A partial copy would leave make to rebuild what is missing: harmless.
            return false;
        }
    }
    true
}

/// Saves this build's compiled runtime for later builds. Best effort: written to a
/// private directory, then renamed into place, so readers never see half of it.
fn keep_runtime(runtime: &Path, obj: &Path) {
    if runtime.exists() {
        return;
    }
    let tmp = runtime.with_extension(format!("tmp{}", std::process::id()));
    let saved = (|| -> std::io::Result<()> {
        fs::create_dir_all(&tmp)?;
        for entry in fs::read_dir(obj)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_runtime_object(&name) {
                fs::copy(entry.path(), tmp.join(&name))?;
            }
        }
        fs::write(tmp.join("ready"), "")?;
        fs::rename(&tmp, runtime)
    })();
    if saved.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
}

/// `(member, width)` for each port Verilator declared in `Vtop.h`, e.g.
/// `VL_IN8(&clock,0,0);` or `VL_OUT64(&bus__024data,63,0);`.
fn header_members(header: &str) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    for line in header.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("VL_") else {
            continue;
        };
        let Some(open) = rest.find("(&") else {
            continue;
        };
        let kind = &rest[..open];
        let base = kind.trim_end_matches(|c: char| c.is_ascii_digit() || c == 'W');
        if !matches!(base, "IN" | "OUT" | "INOUT") {
            continue;
        }
        let args: Vec<&str> = rest[open + 2..]
            .trim_end_matches(';')
            .trim_end_matches(')')
            .split(',')
            .map(str::trim)
            .collect();
        if args.len() < 3 {
            continue;
        }
        let (Ok(msb), Ok(lsb)) = (args[1].parse::<i64>(), args[2].parse::<i64>()) else {
            continue;
        };
        out.push((args[0].to_string(), (msb - lsb).unsigned_abs() as u32 + 1));
    }
    out
}

/// Undoes Verilator's name encoding: a character that is not valid in C++ becomes
/// `__0` and two hex digits (`$` is `__024`; a double underscore is `___05F`).
fn decode_verilator_name(member: &str) -> String {
    let b = member.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"__0") && i + 5 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&member[i + 3..i + 5], 16) {
                out.push(v);
                i += 5;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn c_type(width: u32) -> &'static str {
    match width {
        0..=8 => "CData",
        9..=16 => "SData",
        17..=32 => "IData",
        _ => "QData",
    }
}

/// The C++ shim: plain C entry points specialized to the port list, so Rust never
/// touches C++ objects. Ports are addressed by their index in the header order.
fn generate_shim(ports: &[Port], cpp_names: &[String]) -> String {
    let mut set_cases = String::new();
    let mut get_cases = String::new();
    for (i, (p, m)) in ports.iter().zip(cpp_names).enumerate() {
        if p.direction.is_input() {
            let _ = writeln!(
                set_cases,
                "    case {i}: t->{m} = static_cast<{}>(v & {:#x}ULL); break; // {}",
                c_type(p.width),
                p.mask(),
                p.name
            );
        }
        let _ = writeln!(
            get_cases,
            "    case {i}: return static_cast<uint64_t>(t->{m}); // {}",
            p.name
        );
    }
    let n = ports.len();
    format!(
        r#"// Generated by revspike-sim: C entry points for the Verilator model of module top.
#include "Vtop.h"
#include "verilated.h"
#if VM_TRACE
#include "verilated_vcd_c.h"
#endif
#include <cstdint>

#define RS_EXPORT extern "C" __attribute__((visibility("default")))

namespace {{
struct RsModel {{
    VerilatedContext* ctx = nullptr;
    Vtop* top = nullptr;
#if VM_TRACE
    VerilatedVcdC* vcd = nullptr;
#endif
    uint64_t cycles = 0;
    uint64_t next_dump = 0;  // VCD times must increase strictly
}};

inline void dump(RsModel* m, uint64_t t) {{
#if VM_TRACE
    if (m->vcd && t >= m->next_dump) {{
        m->vcd->dump(t);
        m->next_dump = t + 1;
    }}
#else
    (void)m;
    (void)t;
#endif
}}

inline void set_port(Vtop* t, uint32_t i, uint64_t v) {{
    switch (i) {{
{set_cases}    default: break;
    }}
}}

inline uint64_t get_port(Vtop* t, uint32_t i) {{
    switch (i) {{
{get_cases}    default: return 0;
    }}
}}

// One clock period is 10 VCD time units: inputs settle at 10k, the rising edge is
// at 10k+5, the falling edge shows with the next period's inputs.
inline void tick(RsModel* m, uint32_t clk) {{
#if VM_TRACE
    if (m->vcd) {{
        m->top->eval();
        dump(m, m->cycles * 10);
    }}
#endif
    set_port(m->top, clk, 1);
    m->top->eval();
    dump(m, m->cycles * 10 + 5);
    set_port(m->top, clk, 0);
    m->top->eval();
    m->cycles++;
}}
}}  // namespace

RS_EXPORT uint32_t rs_abi_version() {{ return {SHIM_ABI}; }}
RS_EXPORT uint32_t rs_port_count() {{ return {n}; }}

RS_EXPORT void* rs_new() {{
    RsModel* m = new RsModel;
    m->ctx = new VerilatedContext;
#if VM_TRACE
    m->ctx->traceEverOn(true);
#endif
    m->top = new Vtop{{m->ctx}};
    m->top->eval();
    return m;
}}

RS_EXPORT void rs_trace_close(void* p) {{
#if VM_TRACE
    RsModel* m = static_cast<RsModel*>(p);
    if (m->vcd) {{
        m->top->eval();
        dump(m, m->cycles * 10);
        m->vcd->close();
        delete m->vcd;
        m->vcd = nullptr;
    }}
#else
    (void)p;
#endif
}}

RS_EXPORT int32_t rs_trace_open(void* p, const char* path) {{
#if VM_TRACE
    RsModel* m = static_cast<RsModel*>(p);
    rs_trace_close(p);
    m->vcd = new VerilatedVcdC;
    m->top->trace(m->vcd, 99);
    m->vcd->open(path);
    if (!m->vcd->isOpen()) {{
        delete m->vcd;
        m->vcd = nullptr;
        return -2;
    }}
    m->next_dump = 0;
    m->top->eval();
    dump(m, m->cycles * 10);
    return 0;
#else
    (void)p;
    (void)path;
    return -1;
#endif
}}

RS_EXPORT void rs_delete(void* p) {{
    RsModel* m = static_cast<RsModel*>(p);
    rs_trace_close(p);
    m->top->final();
    delete m->top;
    delete m->ctx;
    delete m;
}}

RS_EXPORT void rs_set(void* p, uint32_t i, uint64_t v) {{ set_port(static_cast<RsModel*>(p)->top, i, v); }}
RS_EXPORT uint64_t rs_get(void* p, uint32_t i) {{ return get_port(static_cast<RsModel*>(p)->top, i); }}
RS_EXPORT void rs_eval(void* p) {{ static_cast<RsModel*>(p)->top->eval(); }}

RS_EXPORT void rs_ticks(void* p, uint32_t clk, uint64_t n) {{
    RsModel* m = static_cast<RsModel*>(p);
    for (uint64_t k = 0; k < n; k++) tick(m, clk);
}}

// Ticks until `port` no longer reads `value` (checked after each tick) or `max`
// ticks are done; returns the ticks done. Lets a caller skip idle stretches.
RS_EXPORT uint64_t rs_ticks_while(void* p, uint32_t clk, uint32_t port, uint64_t value, uint64_t max) {{
    RsModel* m = static_cast<RsModel*>(p);
    for (uint64_t k = 0; k < max; k++) {{
        tick(m, clk);
        if (get_port(m->top, port) != value) return k + 1;
    }}
    return max;
}}

// As rs_ticks_while, while `a` reads `va` and the bits `mb` of `b` read `vb`.
RS_EXPORT uint64_t rs_ticks_while_both(void* p, uint32_t clk, uint32_t a, uint64_t va,
                                       uint32_t b, uint64_t mb, uint64_t vb, uint64_t max) {{
    RsModel* m = static_cast<RsModel*>(p);
    for (uint64_t k = 0; k < max; k++) {{
        tick(m, clk);
        if (get_port(m->top, a) != va || (get_port(m->top, b) & mb) != vb) return k + 1;
    }}
    return max;
}}
"#
    )
}

fn load(so_path: &Path, port_count: usize) -> Result<(libloading::Library, ShimFns)> {
    let load_err = |reason: String| Error::Load {
        path: so_path.to_path_buf(),
        reason,
    };
    // SAFETY: the library is the shim built above for this port list; loading it
    // runs only the static initializers of the Verilator runtime.
    let library =
        unsafe { libloading::Library::new(so_path) }.map_err(|e| load_err(e.to_string()))?;
    // SAFETY: each symbol is looked up with the signature the shim defines it with.
    unsafe {
        let sym = |name: &[u8]| -> Result<*const c_void> {
            library
                .get::<*const c_void>(name)
                .map(|s| *s)
                .map_err(|e| load_err(e.to_string()))
        };
        let abi: CountFn = std::mem::transmute::<*const c_void, CountFn>(sym(b"rs_abi_version\0")?);
        let count: CountFn =
            std::mem::transmute::<*const c_void, CountFn>(sym(b"rs_port_count\0")?);
        if abi() != SHIM_ABI || count() as usize != port_count {
            return Err(load_err(format!(
                "shim ABI {} with {} ports, expected ABI {SHIM_ABI} with {port_count} ports",
                abi(),
                count()
            )));
        }
        let fns = ShimFns {
            new: std::mem::transmute::<*const c_void, NewFn>(sym(b"rs_new\0")?),
            delete: std::mem::transmute::<*const c_void, DeleteFn>(sym(b"rs_delete\0")?),
            set: std::mem::transmute::<*const c_void, SetFn>(sym(b"rs_set\0")?),
            get: std::mem::transmute::<*const c_void, GetFn>(sym(b"rs_get\0")?),
            eval: std::mem::transmute::<*const c_void, EvalFn>(sym(b"rs_eval\0")?),
            ticks: std::mem::transmute::<*const c_void, TicksFn>(sym(b"rs_ticks\0")?),
            ticks_while: std::mem::transmute::<*const c_void, TicksWhileFn>(sym(
                b"rs_ticks_while\0",
            )?),
            ticks_while_both: std::mem::transmute::<*const c_void, TicksWhileBothFn>(sym(
                b"rs_ticks_while_both\0",
            )?),
            trace_open: std::mem::transmute::<*const c_void, TraceOpenFn>(sym(b"rs_trace_open\0")?),
            trace_close: std::mem::transmute::<*const c_void, TraceCloseFn>(sym(
                b"rs_trace_close\0",
            )?),
        };
        Ok((library, fns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_decode_as_verilator_encodes_them() {
        assert_eq!(decode_verilator_name("bus__024data"), "bus$data");
        assert_eq!(decode_verilator_name("a___05Fb"), "a__b");
        assert_eq!(decode_verilator_name("usb_rx"), "usb_rx");
        assert_eq!(decode_verilator_name("x__0zz"), "x__0zz");
    }

    #[test]
    fn header_members_are_found() {
        let h = "  VL_IN8(&clock,0,0);\n    VL_OUT16(&rdata,15,0);\n VL_IN(&addr,19,0);\n VL_OUT64(&w__024x,63,0);\n VL_ATTR_ALIGNED(8) x;\n";
        assert_eq!(
            header_members(h),
            vec![
                ("clock".to_string(), 1),
                ("rdata".to_string(), 16),
                ("addr".to_string(), 20),
                ("w__024x".to_string(), 64)
            ]
        );
    }

    #[test]
    fn cache_key_tracks_text_and_options() {
        let o = ModelOptions::default();
        let a = cache_key("module top; endmodule", "V 5", &o);
        assert_eq!(a, cache_key("module top; endmodule", "V 5", &o));
        assert_ne!(a, cache_key("module top;  endmodule", "V 5", &o));
        assert_ne!(a, cache_key("module top; endmodule", "V 6", &o));
        assert_ne!(
            a,
            cache_key("module top; endmodule", "V 5", &ModelOptions::traced())
        );
    }
}
