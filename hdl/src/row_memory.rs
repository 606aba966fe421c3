//! The unified row memory: weight rows, parameter rows and layer descriptors.
//!
//! One row is read per cycle (a whole weight row feeds every lane at once); the host
//! writes it 16 bits at a time, so the write port takes a row address and a word index.
//! yosys maps the word write onto the EBR bit-mask inputs, so no read-modify-write is
//! needed.

use rust_hdl::prelude::*;

use crate::sync_ram::{memory_verilog, RAM_ADDR_BITS};

#[derive(LogicBlock)]
pub struct RowMemory<const W: usize> {
    pub clock: Signal<In, Clock>,
    pub read_address: Signal<In, Bits<RAM_ADDR_BITS>>,
    pub read_data: Signal<Out, Bits<W>>,
    pub write_address: Signal<In, Bits<RAM_ADDR_BITS>>,
    /// Which 16-bit word of the row `write_data` goes to.
    pub write_word: Signal<In, Bits<4>>,
    pub write_data: Signal<In, Bits<16>>,
    pub write_enable: Signal<In, bool>,
    _rows: usize,
    _mem: Vec<Bits<W>>,
}

impl<const W: usize> RowMemory<W> {
    pub fn new(rows: usize) -> Self {
        assert!(W.is_multiple_of(16) && W / 16 <= 16);
        assert!((2..=1 << RAM_ADDR_BITS).contains(&rows));
        Self {
            clock: Default::default(),
            read_address: Default::default(),
            read_data: Default::default(),
            write_address: Default::default(),
            write_word: Default::default(),
            write_data: Default::default(),
            write_enable: Default::default(),
            _rows: rows,
            _mem: vec![Bits::default(); rows],
        }
    }
}

impl<const W: usize> Logic for RowMemory<W> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            // Rows past the end read as zero; the host never addresses them.
            let ra = self.read_address.val().index();
            self.read_data.next = self._mem.get(ra).copied().unwrap_or_default();
            if self.write_enable.val() {
                let word = self.write_word.val().index();
                if word < W / 16 {
                    let row = self.write_address.val().index();
                    if let Some(r) = self._mem.get_mut(row) {
                        r.set_bits::<16>(word * 16, self.write_data.val());
                    }
                }
            }
        }
    }

    fn connect(&mut self) {
        self.read_data.connect();
    }

    fn hdl(&self) -> Verilog {
        let abits = self._rows.next_power_of_two().trailing_zeros().max(1) as usize;
        let words = W / 16;
        let mut writes = String::new();
        for k in 0..words {
            writes.push_str(&format!(
                "      if (write_word == 4'd{k}) mem[write_address[{ab}:0]][{hi}:{lo}] <= write_data;\n",
                ab = abits - 1,
                hi = 16 * k + 15,
                lo = 16 * k
            ));
        }
        Verilog::Custom(memory_verilog(W, self._rows, abits - 1, &writes))
    }

    fn timing(&self) -> Vec<TimingInfo> {
        vec![TimingInfo {
            name: "row_memory".into(),
            clock: "clock".into(),
            inputs: vec![
                "read_address".into(),
                "write_address".into(),
                "write_word".into(),
                "write_data".into(),
                "write_enable".into(),
            ],
            outputs: vec!["read_data".into()],
        }]
    }
}
