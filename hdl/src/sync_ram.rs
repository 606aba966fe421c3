//! Single-clock RAM with a registered read, sized at elaboration time.
//!
//! rust-hdl's own `RAM<D, N>` fixes the depth in the type; revspike's named builds size
//! every memory from one `Build` value at run time, so this block takes its depth as a
//! field. The Verilog is the plain pattern yosys maps onto iCE40 EBRs.

use rust_hdl::prelude::*;
use std::collections::BTreeMap;

/// Address width of every revspike memory port; the depth (a power of two) bounds it.
pub const RAM_ADDR_BITS: usize = 12;

#[derive(LogicBlock)]
pub struct SyncRam<D: Synth> {
    pub clock: Signal<In, Clock>,
    pub read_address: Signal<In, Bits<RAM_ADDR_BITS>>,
    pub read_data: Signal<Out, D>,
    pub write_address: Signal<In, Bits<RAM_ADDR_BITS>>,
    pub write_data: Signal<In, D>,
    pub write_enable: Signal<In, bool>,
    _depth: usize,
    _mem: BTreeMap<usize, D>,
}

impl<D: Synth> SyncRam<D> {
    pub fn new(depth: usize) -> Self {
        assert!(depth.is_power_of_two() && depth <= 1 << RAM_ADDR_BITS);
        Self {
            clock: Default::default(),
            read_address: Default::default(),
            read_data: Default::default(),
            write_address: Default::default(),
            write_data: Default::default(),
            write_enable: Default::default(),
            _depth: depth,
            _mem: BTreeMap::new(),
        }
    }

    pub fn depth(&self) -> usize {
        self._depth
    }
}

impl<D: Synth> Logic for SyncRam<D> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let mask = self._depth - 1;
            let ra = self.read_address.val().index() & mask;
            self.read_data.next = self._mem.get(&ra).copied().unwrap_or_default();
            if self.write_enable.val() {
                let wa = self.write_address.val().index() & mask;
                self._mem.insert(wa, self.write_data.val());
            }
        }
    }

    fn connect(&mut self) {
        self.read_data.connect();
    }

    fn hdl(&self) -> Verilog {
        let ab = self._depth.trailing_zeros().max(1) as usize - 1;
        Verilog::Custom(memory_verilog(
            &ONE_ARRAY,
            D::BITS,
            self._depth,
            ab,
            &format!("      mem[write_address[{ab}:0]] <= write_data;\n"),
        ))
    }

    fn timing(&self) -> Vec<TimingInfo> {
        vec![TimingInfo {
            name: "sync_ram".into(),
            clock: "clock".into(),
            inputs: vec![
                "read_address".into(),
                "write_address".into(),
                "write_data".into(),
                "write_enable".into(),
            ],
            outputs: vec!["read_data".into()],
        }]
    }
}

/// The names one memory array's Verilog uses: the array, its registered read port and
/// its write enable (a memory built of several arrays names each one's own).
pub(crate) struct ArrayNames<'a> {
    pub array: &'a str,
    pub read_data: &'a str,
    pub write_enable: &'a str,
}

/// A memory that is one array, named as its ports are.
pub(crate) const ONE_ARRAY: ArrayNames<'static> = ArrayNames {
    array: "mem",
    read_data: "read_data",
    write_enable: "write_enable",
};

/// The array and registered read port of every revspike memory; `writes` is the body of
/// the write-enable block, `ab` the top address bit.
///
/// `(* no_rw_check *)` tells yosys that a read and a write of one address in the same
/// cycle never matter, so it maps straight onto EBRs instead of wrapping them in address
/// comparators and bypass multiplexers (the Verilog would otherwise ask for the old
/// word, which iCE40 EBRs do not promise). Under Verilator such a read returns the
/// stored word inverted, so every co-simulation test fails if the design ever uses one.
pub(crate) fn memory_verilog(
    names: &ArrayNames,
    width: usize,
    depth: usize,
    ab: usize,
    writes: &str,
) -> String {
    format!(
        "\
(* no_rw_check *)
reg [{dw}:0] {mem} [0:{last}];
always @(posedge clock) begin
`ifdef VERILATOR
   if ({we} && read_address[{ab}:0] == write_address[{ab}:0])
      {rd} <= ~{mem}[read_address[{ab}:0]];
   else
`endif
   {rd} <= {mem}[read_address[{ab}:0]];
   if ({we}) begin
{writes}   end
end
",
        dw = width - 1,
        last = depth - 1,
        mem = names.array,
        rd = names.read_data,
        we = names.write_enable,
    )
}
