//! Greets each argument, prints GREETING from the environment, and exits
//! with the code given as EXIT_CODE (0 by default): hello.c in Rust.
use std::env;
use std::process::exit;

fn main() {
    let greeting = env::var("GREETING").unwrap_or_else(|_| "hello".to_string());
    let names: Vec<String> = env::args().skip(1).collect();
    for name in &names {
        println!("{}, {}!", greeting, name);
    }
    eprintln!("{} arguments", names.len());
    let code = env::var("EXIT_CODE").ok().and_then(|c| c.parse().ok()).unwrap_or(0);
    exit(code);
}
