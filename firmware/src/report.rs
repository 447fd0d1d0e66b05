//! Flash, static RAM and stack high-water mark, from cortex-m-rt's linker
//! symbols and its stack painting (feature `paint-stack`: every word between
//! `_stack_end` and `_stack_start` holds `0xCCCC_CCCC` before `main`).

unsafe extern "C" {
    static __vector_table: u32;
    static __sidata: u32;
    static __sdata: u32;
    static __edata: u32;
    static _ram_start: u32;
    static _stack_end: u32;
    static _stack_start: u32;
}

/// The value cortex-m-rt paints the stack with.
const PAINT: u32 = 0xCCCC_CCCC;

/// Logs `memory: flash .. B, static RAM .. B, stack high-water .. B of .. B`.
pub fn memory() {
    let address = |symbol: &u32| symbol as *const u32 as u32;
    // SAFETY: only the addresses of the linker symbols are taken.
    let (flash_start, data_load, data_start, data_end, ram_start, stack_end, stack_start) = unsafe {
        (
            address(&__vector_table),
            address(&__sidata),
            address(&__sdata),
            address(&__edata),
            address(&_ram_start),
            address(&_stack_end),
            address(&_stack_start),
        )
    };
    let flash = data_load - flash_start + (data_end - data_start);
    let static_ram = stack_end - ram_start;
    // The lowest word that no longer holds the paint is the deepest the
    // stack has been.
    let mut deepest = stack_start;
    let mut at = stack_end;
    while at < stack_start {
        // SAFETY: `at` is word-aligned and inside the stack region, which is
        // RAM owned by nobody but the stack.
        if unsafe { core::ptr::read_volatile(at as *const u32) } != PAINT {
            deepest = at;
            break;
        }
        at += 4;
    }
    defmt::info!(
        "memory: flash {=u32} B, static RAM {=u32} B, stack high-water {=u32} B of {=u32} B",
        flash,
        static_ram,
        stack_start - deepest,
        stack_start - stack_end
    );
}

/// `bench`: paints the unused stack again (from its limit up to a little
/// below the current stack pointer), so [`stack_peak`] measures what runs next.
#[cfg(feature = "bench")]
pub fn repaint_stack() {
    // SAFETY: only the address of the linker symbol is taken.
    let stack_end = unsafe { &_stack_end as *const u32 as u32 };
    // Stay clear of this function's own frame.
    let top = cortex_m::register::msp::read() - 64;
    let mut at = stack_end;
    while at < top {
        // SAFETY: word-aligned, between the stack's limit and below the live
        // part of the stack: memory nobody else uses.
        unsafe { core::ptr::write_volatile(at as *mut u32, PAINT) };
        at += 4;
    }
}

/// `bench`: bytes of stack used since boot's or [`repaint_stack`]'s painting.
#[cfg(feature = "bench")]
pub fn stack_peak() -> u32 {
    // SAFETY: only the addresses of the linker symbols are taken.
    let (stack_end, stack_start) = unsafe {
        (
            &_stack_end as *const u32 as u32,
            &_stack_start as *const u32 as u32,
        )
    };
    let mut at = stack_end;
    while at < stack_start {
        // SAFETY: as in `memory`.
        if unsafe { core::ptr::read_volatile(at as *const u32) } != PAINT {
            break;
        }
        at += 4;
    }
    stack_start - at
}
