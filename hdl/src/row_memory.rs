//! The unified row memory: weight rows, parameter rows and layer descriptors.
//!
//! One row is read per cycle (a whole weight row feeds every lane at once); the host
//! writes it 16 bits at a time, so the write port takes a row address and a word index.
//! No read-modify-write is needed: yosys gives each 16-bit word its own write enable.
//!
//! A depth that is not a power of two (the Cu's 1,280 rows) is built as one array per
//! power of two it is made of, largest first (1,024 + 256). As one 1,280-row array
//! yosys builds it of 256 x 16 EBRs, five deep, and picks the row out of the five
//! with about 240 LUTs on the read and write sides; split, the 1,024 rows are sixteen
//! 1,024 x 4 EBRs with nothing in front of them, and a row comes out through one LUT
//! per bit, picked by an address bit registered with the read. A write past the end is
//! dropped, as in simulation (the link refuses one anyway); rows past the end are never
//! read.

use rust_hdl::prelude::*;

use crate::sync_ram::{memory_verilog, ArrayNames, RAM_ADDR_BITS};

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
        assert!(rows.is_multiple_of(2), "a row memory's depth is even");
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
        let writes = |ab: usize, array: &str| {
            let mut w = String::new();
            for k in 0..W / 16 {
                w.push_str(&format!(
                    "      if (write_word == 4'd{k}) {array}[write_address[{ab}:0]][{hi}:{lo}] <= write_data;\n",
                    hi = 16 * k + 15,
                    lo = 16 * k
                ));
            }
            w
        };
        let chunks = power_of_two_parts(self._rows);
        let top = RAM_ADDR_BITS - 1;
        let mut v = String::new();
        for (i, &(base, size)) in chunks.iter().enumerate() {
            let cb = size.trailing_zeros() as usize;
            let (array, rd, we) = (format!("mem{i}"), format!("rd{i}"), format!("we{i}"));
            v.push_str(&format!(
                "\
reg [{dw}:0] {rd};
wire {we} = write_enable{here};
",
                dw = W - 1,
                here = if cb > top {
                    String::new()
                } else {
                    format!(" && write_address[{top}:{cb}] == {}", base >> cb)
                },
            ));
            let names = ArrayNames {
                array: &array,
                read_data: &rd,
                write_enable: &we,
            };
            v.push_str(&memory_verilog(
                &names,
                W,
                size,
                cb - 1,
                &writes(cb - 1, &array),
            ));
        }
        // Array i holds the rows whose address has the bits of arrays 0..i set and its
        // own clear, so the row is picked by the read address's bits at those weights,
        // registered with the read: no logic between the address and the EBRs.
        let bits: Vec<usize> = chunks[..chunks.len() - 1]
            .iter()
            .map(|&(_, size)| size.trailing_zeros() as usize)
            .collect();
        let mut pick = format!("rd{}", chunks.len() - 1);
        for i in (0..bits.len()).rev() {
            pick = format!("(read_address_r[{i}] ? {pick} : rd{i})");
        }
        if !bits.is_empty() {
            let taps: Vec<String> = bits
                .iter()
                .rev()
                .map(|b| format!("read_address[{b}]"))
                .collect();
            v.push_str(&format!(
                "\
reg [{n}:0] read_address_r;
always @(posedge clock) read_address_r <= {{{taps}}};
",
                n = bits.len() - 1,
                taps = taps.join(", "),
            ));
        }
        v.push_str(&format!("always @(*) read_data = {pick};\n"));
        Verilog::Custom(v)
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

/// `rows` as the powers of two it is made of, largest first: `(first row, rows)`.
fn power_of_two_parts(rows: usize) -> Vec<(usize, usize)> {
    let mut parts = Vec::new();
    let mut base = 0;
    for bit in (0..usize::BITS).rev() {
        let size = 1usize << bit;
        if rows & size != 0 {
            parts.push((base, size));
            base += size;
        }
    }
    parts
}
