//! The seed's guest in Rust: `exit_early` calls the host's
//! `interrupt_execution`, which is expected never to return.

#![no_std]

extern "C" {
    fn interrupt_execution();
}

#[no_mangle]
pub extern "C" fn exit_early() -> i32 {
    unsafe {
        interrupt_execution();
    }
    // Only reached when the host lets the guest carry on.
    42
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
