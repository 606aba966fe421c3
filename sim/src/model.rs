//! A running Verilator model, with ports addressed by name or by [`PortId`].

use crate::build::{Design, ModelOptions};
use crate::ports::Port;
use crate::{Error, Result};
use std::ffi::{c_void, CString};
use std::path::Path;
use std::ptr::NonNull;

/// A port resolved once by name, for hot loops: [`Model::set_id`] and
/// [`Model::get_id`] skip the name lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortId(pub(crate) u32);

impl PortId {
    /// Index of the port in [`Model::ports`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One instance of a [`Design`]: its own Verilator context and state.
///
/// Inputs written with `set` take effect at the next `eval`, `tick` or read of an
/// output (reads evaluate first when inputs changed, so combinational outputs are
/// never stale). `tick` is one clock period: rising then falling edge.
pub struct Model {
    design: Design,
    handle: NonNull<c_void>,
    clock: Option<PortId>,
    cycles: u64,
    dirty: bool,
    tracing: bool,
}

// SAFETY: a model owns its Verilator context and is only touched through `&mut self`,
// so it is used by one thread at a time; Verilator models (built without
// `--threads`) may move between threads.
unsafe impl Send for Model {}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("design", &self.design)
            .field("cycles", &self.cycles)
            .finish()
    }
}

impl Model {
    /// Builds (or takes from the cache) and instantiates a model of `verilog`.
    pub fn new(verilog: &str, options: &ModelOptions) -> Result<Model> {
        Design::build(verilog, options)?.instantiate()
    }

    pub(crate) fn from_design(design: Design) -> Result<Model> {
        // SAFETY: `new` allocates a fresh model; null only on allocation failure.
        let raw = unsafe { (design.inner.fns.new)() };
        let handle = NonNull::new(raw).ok_or_else(|| Error::Load {
            path: design.dir().to_path_buf(),
            reason: "the model could not be created".into(),
        })?;
        let clock = design
            .inner
            .by_name
            .get(&design.inner.options.clock)
            .copied()
            .filter(|&i| design.inner.ports[i as usize].direction.is_input())
            .map(PortId);
        Ok(Model {
            design,
            handle,
            clock,
            cycles: 0,
            dirty: false,
            tracing: false,
        })
    }

    /// The design this model instantiates.
    pub fn design(&self) -> &Design {
        &self.design
    }

    /// The top-level ports, in header order.
    pub fn ports(&self) -> &[Port] {
        self.design.ports()
    }

    /// The port named `name`.
    pub fn port(&self, name: &str) -> Result<PortId> {
        self.design
            .inner
            .by_name
            .get(name)
            .copied()
            .map(PortId)
            .ok_or_else(|| Error::UnknownPort {
                name: name.to_string(),
                available: self
                    .ports()
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The input (or inout) port named `name`.
    pub fn input(&self, name: &str) -> Result<PortId> {
        let id = self.port(name)?;
        let p = self.port_info(id);
        if !p.direction.is_input() {
            return Err(Error::WrongDirection {
                name: name.to_string(),
                direction: p.direction,
                action: "driven by the testbench",
            });
        }
        Ok(id)
    }

    /// The output (or inout) port named `name`.
    pub fn output(&self, name: &str) -> Result<PortId> {
        let id = self.port(name)?;
        let p = self.port_info(id);
        if !p.direction.is_output() {
            return Err(Error::WrongDirection {
                name: name.to_string(),
                direction: p.direction,
                action: "read as an output",
            });
        }
        Ok(id)
    }

    /// Name, direction and width of a port.
    pub fn port_info(&self, id: PortId) -> &Port {
        &self.design.inner.ports[id.index()]
    }

    /// Drives input `name` with `value`, which must fit the port's width.
    pub fn set(&mut self, name: &str, value: u64) -> Result<()> {
        let id = self.input(name)?;
        let p = self.port_info(id);
        if value & !p.mask() != 0 {
            return Err(Error::ValueTooWide {
                name: p.name.clone(),
                width: p.width,
                value,
            });
        }
        self.set_id(id, value);
        Ok(())
    }

    /// Reads port `name` (an output, or an input's current drive).
    pub fn get(&mut self, name: &str) -> Result<u64> {
        let id = self.port(name)?;
        Ok(self.get_id(id))
    }

    /// Drives an input; bits above its width are dropped, writes to outputs ignored.
    #[inline]
    pub fn set_id(&mut self, id: PortId, value: u64) {
        // SAFETY: the handle is live; the shim ignores indices it does not drive.
        unsafe { (self.design.inner.fns.set)(self.handle.as_ptr(), id.0, value) };
        self.dirty = true;
    }

    /// Reads a port, evaluating first if inputs changed since the last evaluation.
    #[inline]
    pub fn get_id(&mut self, id: PortId) -> u64 {
        if self.dirty {
            self.eval();
        }
        // SAFETY: the handle is live; unknown indices read 0.
        unsafe { (self.design.inner.fns.get)(self.handle.as_ptr(), id.0) }
    }

    /// Settles the combinational logic for the current inputs.
    #[inline]
    pub fn eval(&mut self) {
        // SAFETY: the handle is live.
        unsafe { (self.design.inner.fns.eval)(self.handle.as_ptr()) };
        self.dirty = false;
    }

    fn clock_id(&self) -> Result<PortId> {
        self.clock.ok_or_else(|| Error::UnknownPort {
            name: self.design.inner.options.clock.clone(),
            available: self
                .ports()
                .iter()
                .filter(|p| p.direction.is_input())
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// One clock period on the clock input (rising then falling edge).
    #[inline]
    pub fn tick(&mut self) -> Result<()> {
        self.ticks(1)
    }

    /// `n` clock periods, run inside the compiled model.
    pub fn ticks(&mut self, n: u64) -> Result<()> {
        let clk = self.clock_id()?;
        // SAFETY: the handle is live and `clk` is an input of this model.
        unsafe { (self.design.inner.fns.ticks)(self.handle.as_ptr(), clk.0, n) };
        self.cycles += n;
        self.dirty = false;
        Ok(())
    }

    /// Ticks while `port` reads `value` after each tick, at most `max` times;
    /// returns the ticks done. Skips idle stretches without a call per cycle.
    pub fn ticks_while(&mut self, port: PortId, value: u64, max: u64) -> Result<u64> {
        let clk = self.clock_id()?;
        // SAFETY: as in `ticks`; `port` came from this model's port table.
        let done = unsafe {
            (self.design.inner.fns.ticks_while)(self.handle.as_ptr(), clk.0, port.0, value, max)
        };
        self.cycles += done;
        self.dirty = false;
        Ok(done)
    }

    /// Ticks while `a` reads `va` and the bits `mask` of `b` read `vb` after each
    /// tick, at most `max` times; returns the ticks done.
    pub fn ticks_while_both(
        &mut self,
        (a, va): (PortId, u64),
        (b, mask, vb): (PortId, u64, u64),
        max: u64,
    ) -> Result<u64> {
        let clk = self.clock_id()?;
        // SAFETY: as in `ticks`; `a` and `b` came from this model's port table.
        let done = unsafe {
            (self.design.inner.fns.ticks_while_both)(
                self.handle.as_ptr(),
                clk.0,
                a.0,
                va,
                b.0,
                mask,
                vb,
                max,
            )
        };
        self.cycles += done;
        self.dirty = false;
        Ok(done)
    }

    /// Clock periods run so far.
    pub fn cycles(&self) -> u64 {
        self.cycles
    }

    /// Starts writing a VCD trace to `path` (one clock period is 10 time units).
    /// Needs a design built with [`ModelOptions::trace`].
    pub fn trace_vcd(&mut self, path: &Path) -> Result<()> {
        if !self.design.options().trace {
            return Err(Error::TraceNotBuilt);
        }
        let c_path = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Error::Io {
            what: format!("trace path {} contains a NUL byte", path.display()),
            source: std::io::ErrorKind::InvalidInput.into(),
        })?;
        // SAFETY: the handle is live and the path is a NUL-terminated string.
        let rc =
            unsafe { (self.design.inner.fns.trace_open)(self.handle.as_ptr(), c_path.as_ptr()) };
        match rc {
            0 => {
                self.tracing = true;
                self.dirty = false;
                Ok(())
            }
            -1 => Err(Error::TraceNotBuilt),
            _ => Err(Error::Io {
                what: format!("cannot open VCD file {}", path.display()),
                source: std::io::ErrorKind::Other.into(),
            }),
        }
    }

    /// Finishes and closes the VCD trace, if one is open.
    pub fn close_trace(&mut self) {
        if self.tracing {
            // SAFETY: the handle is live.
            unsafe { (self.design.inner.fns.trace_close)(self.handle.as_ptr()) };
            self.tracing = false;
        }
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: the handle is live and dropped exactly once; the design (and so the
        // library holding this code) outlives the call.
        unsafe { (self.design.inner.fns.delete)(self.handle.as_ptr()) };
    }
}
