//! CRC-16/IBM-3740 (CCITT-FALSE: poly 0x1021, init 0xFFFF), one byte per clock.
//!
//! The byte step is the shift-and-xor form of `revspike_proto::protocol::crc16_step`
//! (two xor levels per bit instead of eight chained bit steps), which keeps it to a
//! few LUTs per bit.

use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct Crc16 {
    pub clock: Signal<In, Clock>,
    /// Restart at 0xFFFF (takes precedence over `strobe`).
    pub init: Signal<In, Bit>,
    /// Fold `data` into the CRC.
    pub strobe: Signal<In, Bit>,
    pub data: Signal<In, Bits<8>>,
    /// CRC of the bytes since the last `init`.
    pub crc: Signal<Out, Bits<16>>,
    // Stored inverted so that the power-up value (0) is the initial 0xFFFF.
    state_n: DFF<Bits<16>>,
    cur: Signal<Local, Bits<16>>,
    x1: Signal<Local, Bits<8>>,
    x2: Signal<Local, Bits<16>>,
    next: Signal<Local, Bits<16>>,
}

impl Logic for Crc16 {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, state_n);
        self.cur.next = !self.state_n.q.val();
        self.x1.next = self.cur.val().get_bits::<8>(8) ^ self.data.val();
        self.x2.next = bit_cast::<16, 8>(self.x1.val() ^ (self.x1.val() >> 4));
        self.next.next =
            (self.cur.val() << 8) ^ (self.x2.val() << 12) ^ (self.x2.val() << 5) ^ self.x2.val();
        if self.init.val() {
            self.state_n.d.next = 0.into();
        } else if self.strobe.val() {
            self.state_n.d.next = !self.next.val();
        }
        self.crc.next = self.cur.val();
    }
}
