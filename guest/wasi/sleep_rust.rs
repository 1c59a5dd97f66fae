//! Sleeps for the number of milliseconds in its first argument (default
//! 3000), then prints "woke": sleep.c in Rust.
use std::env;
use std::thread::sleep;
use std::time::Duration;

fn main() {
    let ms: u64 = env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(3000);
    println!("sleeping");
    sleep(Duration::from_millis(ms));
    println!("woke");
}
