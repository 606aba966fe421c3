//! The PE array on its own, in rust-hdl's simulator: one-cycle input register,
//! gated accumulation per lane, the activation sum, clear and the in-place drain.
//! (The same array runs inside the core in Verilator in tests/verilator_core.rs.)

use rust_hdl::prelude::*;

use revspike_hdl::pe_array::PeArray;

const P: usize = 4;

/// (x, weight row) events; a row bit j set means lane j adds x.
fn events() -> Vec<(u8, u8)> {
    (0..40u32)
        .map(|i| (((i * 37 + 11) % 255 + 1) as u8, ((i * 7 + 3) % 16) as u8))
        .collect()
}

#[test]
fn pe_array_adds_one_cycle_after_the_event_and_drains_every_lane() {
    let evs = events();
    let mut want = [0u64; P];
    for &(x, row) in &evs {
        for (j, w) in want.iter_mut().enumerate() {
            if row >> j & 1 == 1 {
                *w += x as u64;
            }
        }
    }
    let want_sum: u64 = evs.iter().map(|&(x, _)| x as u64).sum();

    let mut uut = PeArray::<P, P>::default();
    uut.connect_all();
    let mut sim = Simulation::new();
    sim.add_clock(5, |x: &mut Box<PeArray<P, P>>| {
        x.clock.next = !x.clock.val()
    });
    sim.add_testbench(move |mut sim: Sim<PeArray<P, P>>| {
        let mut x = sim.init()?;
        wait_clock_true!(sim, clock, x);
        x.clear.next = true;
        wait_clock_cycle!(sim, clock, x);
        x.clear.next = false;

        // One event: registered on this edge, added on the next.
        x.valid.next = true;
        x.x.next = 5.into();
        x.row.next = 0b1111.into();
        wait_clock_cycle!(sim, clock, x);
        x.valid.next = false;
        sim_assert!(sim, x.lanes[0].acc.val() == 0, x);
        wait_clock_cycle!(sim, clock, x);
        sim_assert!(sim, x.lanes[0].acc.val() == 5, x);
        sim_assert!(sim, x.lanes[P - 1].acc.val() == 5, x);
        sim_assert!(sim, x.sum_x.val() == 5, x);

        // Clear, then a stream of back-to-back events.
        x.clear.next = true;
        wait_clock_cycle!(sim, clock, x);
        x.clear.next = false;
        for &(v, row) in &evs {
            x.valid.next = true;
            x.x.next = (v as u64).into();
            x.row.next = (row as u64).into();
            wait_clock_cycle!(sim, clock, x);
        }
        x.valid.next = false;
        // The last event is added on this edge; the drain may start after it.
        wait_clock_cycle!(sim, clock, x);
        sim_assert!(sim, x.sum_x.val() == want_sum, x);
        for w in want {
            sim_assert!(sim, x.head.val() == w, x);
            x.shift.next = true;
            wait_clock_cycle!(sim, clock, x);
        }
        x.shift.next = false;
        sim_assert!(sim, x.head.val() == 0, x);

        // A drain stopped after two lanes, then a clear: the next drain starts at
        // lane 0 again, and every lane starts from zero.
        x.clear.next = true;
        wait_clock_cycle!(sim, clock, x);
        x.clear.next = false;
        x.valid.next = true;
        x.x.next = 9.into();
        x.row.next = 0b0101.into();
        wait_clock_cycle!(sim, clock, x);
        x.valid.next = false;
        wait_clock_cycle!(sim, clock, x);
        for _ in 0..2 {
            x.shift.next = true;
            wait_clock_cycle!(sim, clock, x);
        }
        x.shift.next = false;
        sim_assert!(sim, x.head.val() == 9, x);
        x.clear.next = true;
        wait_clock_cycle!(sim, clock, x);
        x.clear.next = false;
        x.valid.next = true;
        x.x.next = 4.into();
        x.row.next = 0b0011.into();
        wait_clock_cycle!(sim, clock, x);
        x.valid.next = false;
        wait_clock_cycle!(sim, clock, x);
        for w in [4u64, 4, 0, 0] {
            sim_assert!(sim, x.head.val() == w, x);
            x.shift.next = true;
            wait_clock_cycle!(sim, clock, x);
        }
        x.shift.next = false;
        sim.done(x)
    });
    sim.run(Box::new(uut), 100_000).unwrap();
}

#[test]
fn a_tile_takes_its_own_slice_of_the_weight_row() {
    // 4 lanes, 8-bit rows: tile 1's lanes take bits 4..7.
    let mut uut = PeArray::<P, 8>::default();
    uut.connect_all();
    let mut sim = Simulation::new();
    sim.add_clock(5, |x: &mut Box<PeArray<P, 8>>| {
        x.clock.next = !x.clock.val()
    });
    sim.add_testbench(move |mut sim: Sim<PeArray<P, 8>>| {
        let mut x = sim.init()?;
        wait_clock_true!(sim, clock, x);
        for (tile, want) in [(1u64, [3u64, 0, 10, 10]), (0, [10, 10, 0, 3])] {
            x.tile.next = tile.into();
            x.clear.next = true;
            wait_clock_cycle!(sim, clock, x);
            x.clear.next = false;
            // Row bits 0..3 = 0b1011 and 4..7 = 0b1101 for x = 3 and 7.
            for (v, row) in [(3u64, 0b1101_1011u64), (7, 0b1100_0011)] {
                x.valid.next = true;
                x.x.next = v.into();
                x.row.next = row.into();
                wait_clock_cycle!(sim, clock, x);
            }
            x.valid.next = false;
            wait_clock_cycle!(sim, clock, x);
            for (j, &w) in want.iter().enumerate() {
                sim_assert!(sim, x.lanes[j].acc.val() == w, x);
            }
        }
        sim.done(x)
    });
    sim.run(Box::new(uut), 10_000).unwrap();
}
